// The API server as an express app, from injected dependencies (so tests run it
// in-process against the test bed, or against stand-ins).
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Authenticator, StreamTickets } from './auth/caller.ts';
import type { AuditLog } from './audit.ts';
import { systemClock, type Clock } from '../../packages/platform/src/clock.ts';
import { contextOf } from './http/context.ts';
import { cors, type CorsOptions } from './http/cors.ts';
import type { IdempotencyStore } from './http/idempotency.ts';
import { accessLog, audit, authenticate, rateLimit, requestId } from './http/middleware.ts';
import { Problem, problemOf } from './http/problem.ts';
import type { RateLimiter } from './http/rate-limit.ts';
import { errorText, type Logger } from '../../packages/platform/src/logger.ts';
import type { ApiMetrics } from './metrics.ts';
import { openApiDocument } from './openapi.ts';
import type { ChannelSubscriber } from './stream/channel-subscriber.ts';
import type { TaskHistory } from './tasks/history.ts';
import type { TaskStoreApi } from './tasks/kube-tasks.ts';
import { taskRoutes } from './tasks/routes.ts';
import type { TemplateStoreApi } from './templates/kube-templates.ts';
import { templateRoutes } from './templates/routes.ts';
import type { ReportDeps } from './reports/send.ts';
import type { SessionStoreApi } from './sessions/kube-sessions.ts';
import { sessionRoutes } from './sessions/routes.ts';
import { usageRoutes, type UsageRouteDeps } from './usage/routes.ts';
import type { Redis } from 'ioredis';
import type pg from 'pg';

export interface AppDeps {
  tasks: TaskStoreApi;
  history: TaskHistory;
  authenticator: Authenticator;
  rateLimiter: RateLimiter;
  audit: AuditLog;
  tickets?: StreamTickets;
  /** Named checks for /readyz (Kubernetes, Postgres, Redis); each throws when not ready. */
  readiness: Record<string, () => Promise<void>>;
  log: Logger;
  metrics: ApiMetrics;
  clock?: Clock;
  bodyLimitBytes: number;
  maxWaitSeconds: number;
  trustProxy?: boolean;
  /** The runner's wake-ups, for ?wait; without them ?wait has only its safety reads. */
  wakeups?: ChannelSubscriber;
  /** The safety read of a waited-for task's phase. Default 10 s. */
  waitRecheckMs?: number;
  /** Off when absent or without origins. */
  cors?: CorsOptions;
  /** Idempotency-Key on POST; without it such calls are 501. */
  idempotency?: IdempotencyStore;
  /** ClaudeTaskTemplates; without them the template routes are absent (404). */
  templates?: TemplateStoreApi;
  /** Run reports (…/tasks/{name}/report); 501 without. */
  reports?: ReportDeps;
  /** ClaudeSessions and their messages (Postgres, the inbox in Redis); without them the session routes are absent (404). */
  sessions?: { store: SessionStoreApi; pool: pg.Pool; redis: Redis; messageWaitSeconds: number };
  /** The usage ledger in Postgres (GET /api/v1/usage); without it the route is absent (404). */
  usage?: UsageRouteDeps;
}

const readinessTimeoutMs = 3000;

export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', deps.trustProxy ?? false);
  app.set('etag', false);

  app.use(requestId());
  app.use(accessLog(deps.log, deps.metrics));
  if (deps.cors) app.use(cors(deps.cors));

  app.get('/healthz', (_req, res) => { res.type('text/plain').send('ok'); });
  app.get('/readyz', async (_req, res) => {
    const results = await Promise.all(Object.entries(deps.readiness).map(async ([name, check]) => {
      try {
        await withTimeout(check(), readinessTimeoutMs);
        return [name, 'ok'] as const;
      } catch (error) {
        deps.log.warn({ check: name, err: String(error) }, 'not ready');
        return [name, 'failed'] as const;
      }
    }));
    const ready = results.every(([, state]) => state === 'ok');
    res.status(ready ? 200 : 503).json({ ready, checks: Object.fromEntries(results) });
  });
  app.get('/metrics', async (_req, res) => {
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });

  const document = openApiDocument({
    maxWaitSeconds: deps.maxWaitSeconds, ...(deps.sessions ? { messageWaitSeconds: deps.sessions.messageWaitSeconds } : {}),
  });
  app.get('/api/v1/openapi.json', (_req, res) => { res.json(document); });

  const api = express.Router();
  api.use(audit(deps.audit, deps.metrics, deps.log));
  api.use(authenticate(deps.authenticator));
  api.use(rateLimit(deps.rateLimiter, deps.metrics, deps.log));
  api.use(express.json({ limit: deps.bodyLimitBytes, strict: true, type: ['application/json', 'application/*+json'] }));
  api.use(taskRoutes({
    tasks: deps.tasks, history: deps.history, clock: deps.clock ?? systemClock, log: deps.log, maxWaitSeconds: deps.maxWaitSeconds,
    waitRecheckMs: deps.waitRecheckMs ?? 10_000, ...(deps.tickets ? { tickets: deps.tickets } : {}), ...(deps.wakeups ? { wakeups: deps.wakeups } : {}),
    ...(deps.idempotency ? { idempotency: deps.idempotency } : {}), ...(deps.reports ? { reports: deps.reports } : {}),
  }));
  if (deps.templates) {
    api.use(templateRoutes({ templates: deps.templates, tasks: deps.tasks, log: deps.log, ...(deps.idempotency ? { idempotency: deps.idempotency } : {}) }));
  }
  if (deps.sessions) {
    const { store, ...sessions } = deps.sessions;
    api.use(sessionRoutes({
      ...sessions, sessions: store, clock: deps.clock ?? systemClock, log: deps.log, waitRecheckMs: deps.waitRecheckMs ?? 10_000,
      ...(deps.tickets ? { tickets: deps.tickets } : {}), ...(deps.wakeups ? { wakeups: deps.wakeups } : {}),
      ...(deps.idempotency ? { idempotency: deps.idempotency } : {}),
    }));
  }
  if (deps.usage) api.use(usageRoutes(deps.usage));
  app.use('/api/v1', api);

  app.use((_req, _res, next) => { next(new Problem('not-found', 'no such route')); });
  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    const problem = problemOf(error);
    const context = contextOf(res);
    if (problem.status >= 500) deps.log.error({ err: errorText(problem.cause ?? error), requestId: context.requestId }, 'request failed');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    for (const [name, value] of Object.entries(problem.headers)) res.setHeader(name, value);
    res.status(problem.status).type('application/problem+json').send(JSON.stringify(problem.body(req.originalUrl.split('?')[0]?.slice(0, 512), context.requestId)));
  });
  return app;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}
