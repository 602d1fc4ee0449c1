// The middleware every request passes: request id, access log and metrics,
// bearer authentication, the per-caller rate limit, and the audit of mutating calls.
import crypto from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Authenticator } from '../auth/caller.ts';
import type { AuditLog } from '../audit.ts';
import type { Logger } from '../../../packages/platform/src/logger.ts';
import type { ApiMetrics } from '../metrics.ts';
import { contextOf } from './context.ts';
import { Problem } from './problem.ts';
import { rateLimitHeaders, rateLimitKey, rateLimitedProblem, type RateLimiter } from './rate-limit.ts';

type Middleware = (req: Request, res: Response, next: NextFunction) => void;

const requestIdPattern = /^[A-Za-z0-9._:-]{1,128}$/;

/** X-Request-Id in (when it is a sane token) and out; a new UUID otherwise. */
export function requestId(): Middleware {
  return (req, res, next) => {
    const given = req.get('x-request-id');
    const id = given && requestIdPattern.test(given) ? given : crypto.randomUUID();
    const context = contextOf(res);
    context.requestId = id;
    context.startedAt = performance.now();
    res.setHeader('X-Request-Id', id);
    next();
  };
}

/** One JSON log line and the metrics per request, when the response is done. */
export function accessLog(log: Logger, metrics: ApiMetrics): Middleware {
  return (req, res, next) => {
    res.once('close', () => {
      const context = contextOf(res);
      const seconds = (performance.now() - context.startedAt) / 1000;
      const route = routeOf(req);
      const status = res.writableFinished ? res.statusCode : 499;
      metrics.requests.inc({ method: req.method, route, status: String(status) });
      metrics.requestSeconds.observe({ method: req.method, route }, seconds);
      const fields = {
        requestId: context.requestId, method: req.method, route, status, ms: Math.round(seconds * 1000),
        tenant: context.caller?.tenant, subject: context.caller?.subject,
      };
      if (status >= 500) log.error(fields, 'request');
      else log.info(fields, 'request');
    });
    next();
  };
}

/** The route pattern (bounded label values), never the raw path. */
export function routeOf(req: Request): string {
  const pattern = (req.route as { path?: unknown } | undefined)?.path;
  return typeof pattern === 'string' ? `${req.baseUrl}${pattern}` : 'unmatched';
}

export function authenticate(authenticator: Authenticator): Middleware {
  return (req, res, next) => {
    const header = req.get('authorization') ?? '';
    const match = /^Bearer ([A-Za-z0-9._~+/=-]+)$/i.exec(header.trim());
    if (!match) {
      next(new Problem('unauthorized', header ? 'the Authorization header is not a bearer token' : 'a bearer token is required',
        { headers: { 'WWW-Authenticate': 'Bearer' } }));
      return;
    }
    authenticator.authenticate(match[1]!).then((caller) => {
      contextOf(res).caller = caller;
      next();
    }, next);
  };
}

export function rateLimit(limiter: RateLimiter, metrics: ApiMetrics, log: Logger): Middleware {
  return (_req, res, next) => {
    const caller = contextOf(res).caller;
    if (!caller) { next(); return; }
    limiter.take(rateLimitKey(caller)).then((decision) => {
      for (const [name, value] of Object.entries(rateLimitHeaders(decision))) res.setHeader(name, value);
      if (decision.allowed) { next(); return; }
      metrics.rateLimited.inc();
      next(rateLimitedProblem(decision));
    }, (error: unknown) => {
      log.warn({ err: String(error) }, 'rate limiter unavailable; request let through');
      next();
    });
  };
}

const mutating = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Waits before each further try to complete an audit row (Postgres may be back by then). */
const completionRetryMs = [1_000, 2_000, 4_000, 8_000, 16_000];

/**
 * The audit of every mutating call, whatever its outcome. Its row is written
 * before anything else happens (even authentication): when that fails the call
 * is refused with 503 and changes nothing. The row is completed when the
 * response is done, with retries; one that cannot be completed stays 'pending'.
 */
export function audit(auditLog: AuditLog, metrics: ApiMetrics, log: Logger): Middleware {
  return (req, res, next) => {
    if (!mutating.has(req.method)) { next(); return; }
    const context = contextOf(res);
    auditLog.begin({ requestId: context.requestId, method: req.method, action: `${req.method} ${req.path}`, clientIp: req.ip ?? null }).then((id) => {
      const finish = () => {
        const completion = {
          subject: context.caller?.subject ?? null,
          tenant: context.caller?.tenant ?? null,
          role: context.caller?.role ?? null,
          action: context.action ?? `${req.method} ${req.path}`,
          namespace: context.target?.namespace ?? null,
          name: context.target?.name ?? null,
          status: res.writableFinished ? res.statusCode : 499,
          durationMs: performance.now() - context.startedAt,
        };
        void completeWithRetries(() => auditLog.complete(id, completion), (error, attempt, final) => {
          if (!final) {
            log.warn({ err: String(error), requestId: context.requestId, attempt }, 'audit row not completed yet; retrying');
            return;
          }
          metrics.auditFailures.inc();
          log.error({ err: String(error), requestId: context.requestId, auditId: id }, 'audit row left pending: the outcome was not recorded');
        });
      };
      // A client that left while the row was written gets nothing done for it.
      if (res.closed) {
        finish();
        return;
      }
      res.once('close', finish);
      next();
    }, (error: unknown) => {
      metrics.auditFailures.inc();
      log.error({ err: String(error), requestId: context.requestId }, 'audit row not written; call refused');
      next(new Problem('unavailable', 'the audit log cannot be written now (Postgres is unreachable), so nothing was changed; try again later',
        { headers: { 'Retry-After': '5' } }));
    });
  };
}

async function completeWithRetries(write: () => Promise<void>, onFailure: (error: unknown, attempt: number, final: boolean) => void): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await write();
      return;
    } catch (error) {
      const delay = completionRetryMs[attempt];
      onFailure(error, attempt + 1, delay === undefined);
      if (delay === undefined) return;
      await new Promise((resolve) => setTimeout(resolve, delay).unref());
    }
  }
}
