// A session's messages: POST …/sessions/{name}/messages sends one and, by
// default, waits for its answer; GET lists them (from Postgres) or reads one;
// POST …/interrupt stops the turn in flight.
//
// Idempotency-Key: not the generic store (http/idempotency.ts), which would
// keep the first answer (a 202 when the wait ran out) and refuse a retry while
// the first call still waits. The key names the message instead: its id is
// derived from the session's uid and the key, and Postgres stores a message
// once. A retry gets the same message, added to the inbox only the first time,
// and waits for its answer like the first call, or gets it at once when it
// exists. The same key with another text, or from another caller, is 422.
import { Router, type Request } from 'express';
import { closedSessionPhases, maxMessageLength, type ClaudeSession } from '../../../crds/src/claude-session.ts';
import { messageIdPattern, sessionControlChannel } from '../../../packages/contracts/src/session-stream.ts';
import { parseStreamEntry, workloadStreamKeys } from '../../../packages/contracts/src/event-stream.ts';
import { readMessage, readMessages, readSessionRecord } from '../../../packages/database/src/session-records.ts';
import { statusCode } from '../../../packages/platform/src/kube-errors.ts';
import { callerOf, contextOf } from '../http/context.ts';
import { parseIdempotencyKey } from '../http/idempotency.ts';
import { Problem, parseOr400 } from '../http/problem.ts';
import { decodeCursor, encodeCursor, filtersFingerprint } from '../kube/list-cursor.ts';
import { abortOnClose, jsonBody, requireSubmitter, visibleObject } from '../tasks/routes.ts';
import { acceptSessionMessage } from './accept.ts';
import { waitForAnswer, type SessionKey } from './message-wait.ts';
import type { SessionRouteDeps } from './routes.ts';
import { MessagesQuerySchema, SendMessageBodySchema, SendMessageQuerySchema } from './schemas.ts';
import { answerView, closedSessionDetail, messagePath, messageView } from './session-view.ts';

export function messageRoutes(deps: SessionRouteDeps): Router {
  const router = Router({ mergeParams: true });
  const visibleSession = (req: Request, res: Parameters<typeof visibleObject>[1], action?: string) => visibleObject(req, res, 'session', action);

  router.post('/namespaces/:namespace/sessions/:name/messages', async (req, res) => {
    const { namespace, name } = visibleSession(req, res, 'session.message');
    const caller = callerOf(res);
    requireSubmitter(caller, 'sessions');
    const query = parseOr400(SendMessageQuerySchema, req.query, 'the query', ['query']);
    const idempotencyKey = keyOf(req);
    const session = await deps.sessions.get(namespace, name);
    await deps.sessions.authorizeChange(namespace, name, caller);
    const phase = session.status?.phase ?? 'Pending';
    if (closedSessionPhases.has(phase)) throw new Problem('conflict', closedSessionDetail(session));
    const { text } = parseOr400(SendMessageBodySchema, jsonBody(req), 'the message', ['body']);
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes > maxMessageLength) throw new Problem('payload-too-large', `the text is ${bytes} bytes of UTF-8; a message may have at most ${maxMessageLength}`);

    const { message, created } = await acceptSessionMessage(deps, session, { text, requestedBy: caller.subject, ...(idempotencyKey ? { idempotencyKey } : {}) });
    if (!created) {
      if (message.text !== text || message.requestedBy !== caller.subject) {
        throw new Problem('idempotency-key-reused', 'this Idempotency-Key was used for another message of this session; use a new key');
      }
      res.setHeader('Idempotent-Replayed', 'true');
      contextOf(res).action = 'session.message.replayed';
    }
    deps.log.info({ session: `${namespace}/${name}`, messageId: message.messageId, bytes, created }, 'message accepted');
    res.location(messagePath(namespace, name, message.messageId));
    if (query.async) {
      res.status(202).json(messageView(message));
      return;
    }
    const key = { namespace, name, uid: session.metadata.uid ?? '' };
    // A client that goes away ends only the wait: the message is stored and will be answered.
    const answered = message.state !== 'accepted' ? message
      : await waitForAnswer({ ...deps, recheckMs: deps.waitRecheckMs }, key, message, deps.messageWaitSeconds * 1000, abortOnClose(req, res));
    if (answered.state === 'accepted') res.status(202).json(messageView(answered));
    else res.status(200).json(answerView(answered));
  });

  router.get('/namespaces/:namespace/sessions/:name/messages', async (req, res) => {
    const { namespace, name } = visibleSession(req, res);
    const { limit, cursor } = parseOr400(MessagesQuerySchema, req.query, 'the query', ['query']);
    const fingerprint = filtersFingerprint({ limit });
    const after = cursor ? Number(decodeCursor(cursor, fingerprint).continueToken) : 0;
    const key = await sessionKey(deps, namespace, name);
    const messages = await readMessages(deps.pool, key.uid, { after, limit: limit + 1 });
    const items = messages.slice(0, limit);
    const next = messages.length > limit ? encodeCursor({ continueToken: String(items.at(-1)!.position), skip: 0, filters: fingerprint }) : undefined;
    res.json({ items: items.map(messageView), ...(next ? { next } : {}) });
  });

  router.get('/namespaces/:namespace/sessions/:name/messages/:messageId', async (req, res) => {
    const { namespace, name } = visibleSession(req, res);
    const messageId = String(req.params.messageId ?? '');
    if (!messageIdPattern.test(messageId)) throw new Problem('not-found', 'no such message');
    const key = await sessionKey(deps, namespace, name);
    const message = await readMessage(deps.pool, key.uid, messageId);
    if (!message) throw new Problem('not-found', 'no such message');
    res.json(messageView(message));
  });

  router.post('/namespaces/:namespace/sessions/:name/interrupt', async (req, res) => {
    const { namespace, name } = visibleSession(req, res, 'session.interrupt');
    requireSubmitter(callerOf(res), 'sessions');
    const session = await deps.sessions.get(namespace, name);
    await deps.sessions.authorizeChange(namespace, name, callerOf(res));
    const receivers = await deps.redis.publish(sessionControlChannel(namespace, name), JSON.stringify({ type: 'interrupt' }));
    res.status(202).json({ namespace, name, activeTurn: await activeTurn(deps, session), delivered: receivers > 0 });
  });

  return router;
}

function keyOf(req: Request): string | undefined {
  const header = req.get('idempotency-key');
  if (header === undefined) return undefined;
  const key = parseIdempotencyKey(header);
  if (key !== undefined) return key;
  throw new Problem('validation-error', 'the Idempotency-Key header is not valid', {
    issues: [{ path: 'headers.idempotency-key', message: 'must be a quoted string ("…") or a token, 1 to 255 printable ASCII characters' }],
  });
}

/** The session's key from Kubernetes, or from Postgres when the session was deleted but its history stays. */
async function sessionKey(deps: SessionRouteDeps, namespace: string, name: string): Promise<SessionKey> {
  try {
    const session = await deps.sessions.get(namespace, name);
    return { namespace, name, uid: session.metadata.uid ?? '' };
  } catch (error) {
    if (statusCode(error) !== 404) throw error;
    const stored = await readSessionRecord(deps.pool, { namespace, name });
    if (!stored) throw new Problem('not-found', 'no such session');
    return { namespace, name, uid: stored.uid };
  }
}

/** The turn in flight: the newest event's message unless that event ended its turn; else what the status says. */
async function activeTurn(deps: SessionRouteDeps, session: ClaudeSession): Promise<string | null> {
  const { namespace = '', name = '' } = session.metadata;
  const [entry] = await deps.redis.xrevrange(workloadStreamKeys('session', namespace, name).events, '+', '-', 'COUNT', 1).catch(() => []);
  let newest: ReturnType<typeof parseStreamEntry> | undefined;
  try { newest = entry ? parseStreamEntry(entry[0], entry[1]) : undefined; } catch { newest = undefined; }
  if (newest?.messageId) return newest.type === 'runner.turn_completed' ? null : newest.messageId;
  return session.status?.activeTurn ?? null;
}
