// The session routes under /api/v1/namespaces/:namespace/sessions, with the
// tasks' conventions (tasks/routes.ts): a namespace outside the caller's tenant,
// and every session in it, does not exist for the caller (404); a role too low
// for what is asked in its own namespace is 403. Messages: message-routes.ts.
import { Router } from 'express';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { StreamTickets } from '../auth/caller.ts';
import type { Clock } from '../../../packages/platform/src/clock.ts';
import type { Logger } from '../../../packages/platform/src/logger.ts';
import { callerOf, contextOf } from '../http/context.ts';
import type { IdempotencyStore } from '../http/idempotency.ts';
import { Problem, parseOr400 } from '../http/problem.ts';
import { submitterAnnotation, tenantAnnotation } from '../kube/custom-objects.ts';
import { listObjects } from '../kube/object-list.ts';
import type { ChannelSubscriber } from '../stream/channel-subscriber.ts';
import { jsonBody, replayed, requireSubmitter, visibleNamespace, visibleObject } from '../tasks/routes.ts';
import type { SessionStoreApi } from './kube-sessions.ts';
import { messageRoutes } from './message-routes.ts';
import { CreateSessionBodySchema, SessionListQuerySchema } from './schemas.ts';
import { sessionPath, sessionView } from './session-view.ts';

export interface SessionRouteDeps {
  sessions: SessionStoreApi;
  /** Messages and their answers (session-records.ts). */
  pool: pg.Pool;
  /** The inbox, the control channel, the wake-ups. */
  redis: Redis;
  /** The session's event wake channel, for the wait of a message. */
  wakeups?: ChannelSubscriber;
  tickets?: StreamTickets;
  /** Idempotency-Key on create; without it a create with the header is 501. */
  idempotency?: IdempotencyStore;
  clock: Clock;
  log: Logger;
  /** The longest a message waits for its answer before the answer is 202. */
  messageWaitSeconds: number;
  /** The safety read of a waited-for message, besides the wake-ups. */
  waitRecheckMs: number;
}

export function sessionRoutes(deps: SessionRouteDeps): Router {
  const router = Router({ mergeParams: true });

  router.post('/namespaces/:namespace/sessions', async (req, res) => {
    const namespace = visibleNamespace(req, res, 'session.create');
    requireSubmitter(callerOf(res), 'sessions');
    if (await replayed(deps, req, res)) return;
    const body = parseOr400(CreateSessionBodySchema, jsonBody(req), 'the session', ['body']);
    const caller = callerOf(res);
    const created = await deps.sessions.create(namespace, {
      ...body, annotations: { [tenantAnnotation]: caller.tenant, [submitterAnnotation]: caller.subject.slice(0, 1024) },
    }, caller);
    const name = created.metadata.name ?? '';
    contextOf(res).target = { namespace, name };
    res.location(sessionPath(namespace, name));
    res.status(202).json(sessionView(created));
  });

  router.get('/namespaces/:namespace/sessions', async (req, res) => {
    const namespace = visibleNamespace(req, res);
    const query = parseOr400(SessionListQuerySchema, req.query, 'the query', ['query']);
    const page = await listObjects(deps.sessions, namespace, query);
    res.json({ ...page, items: page.items.map(sessionView) });
  });

  router.get('/namespaces/:namespace/sessions/:name', async (req, res) => {
    const { namespace, name } = visibleObject(req, res, 'session');
    res.json(sessionView(await deps.sessions.get(namespace, name)));
  });

  router.delete('/namespaces/:namespace/sessions/:name', async (req, res) => {
    const { namespace, name } = visibleObject(req, res, 'session', 'session.delete');
    requireSubmitter(callerOf(res), 'sessions');
    await deps.sessions.delete(namespace, name, callerOf(res));
    res.status(202).json({ namespace, name, deleting: true });
  });

  router.post('/namespaces/:namespace/sessions/:name/stream-ticket', async (req, res) => {
    const { namespace, name } = visibleObject(req, res, 'session', 'stream-ticket.issue');
    await deps.sessions.get(namespace, name);
    if (!deps.tickets) throw new Problem('not-implemented', 'stream tickets are not available on this server');
    res.status(201).json(await deps.tickets.issue(callerOf(res), { namespace, name, collection: 'sessions' }));
  });

  router.use(messageRoutes(deps));
  return router;
}
