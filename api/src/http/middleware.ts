// The middleware every request passes: request id, access log and metrics,
// bearer authentication, the per-caller rate limit, and the audit of mutating calls.
import crypto from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Authenticator } from '../auth/caller.ts';
import type { AuditLog } from '../audit.ts';
import type { Logger } from '../logger.ts';
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

/** A row in the audit log for every mutating call, whatever its outcome (written once the response is done). */
export function audit(auditLog: AuditLog, metrics: ApiMetrics, log: Logger): Middleware {
  return (req, res, next) => {
    if (!mutating.has(req.method)) { next(); return; }
    res.once('close', () => {
      const context = contextOf(res);
      const status = res.writableFinished ? res.statusCode : 499;
      auditLog.record({
        requestId: context.requestId,
        subject: context.caller?.subject ?? null,
        tenant: context.caller?.tenant ?? null,
        role: context.caller?.role ?? null,
        method: req.method,
        action: context.action ?? `${req.method} ${req.path}`,
        namespace: context.target?.namespace ?? null,
        name: context.target?.name ?? null,
        status,
        durationMs: performance.now() - context.startedAt,
        clientIp: req.ip ?? null,
      }).catch((error: unknown) => {
        metrics.auditFailures.inc();
        log.error({ err: String(error), requestId: context.requestId }, 'audit row not written');
      });
    });
    next();
  };
}
