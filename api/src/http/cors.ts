// CORS for the browser origins the configuration names (CORS_ALLOWED_ORIGINS);
// with none configured it is off and adds nothing. Small on purpose (the `cors`
// package is not in the shared install): exact origin matches only, no
// credentials (the API takes bearer tokens, never cookies), and a preflight is
// answered here, before authentication, rate limits and the audit.
import type { NextFunction, Request, Response } from 'express';

export interface CorsOptions {
  /** Exact origins, e.g. https://app.example.com. */
  allowedOrigins: readonly string[];
  maxAgeSeconds: number;
}

export const corsAllowedMethods = ['GET', 'POST', 'DELETE'];
export const corsAllowedHeaders = ['Authorization', 'Content-Type', 'Idempotency-Key', 'X-Request-Id'];
/** What a page may read of an answer beyond the safelisted fields. */
export const corsExposedHeaders = ['Location', 'X-Request-Id', 'Retry-After', 'RateLimit', 'RateLimit-Policy', 'Idempotent-Replayed'];

/** Whether `value` is an origin as browsers send it: http(s), host, optional port, nothing else. */
export function isOrigin(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === value;
  } catch {
    return false;
  }
}

export function cors(options: CorsOptions): (req: Request, res: Response, next: NextFunction) => void {
  const allowed = new Set(options.allowedOrigins);
  return (req, res, next) => {
    if (allowed.size === 0) { next(); return; }
    // The answer depends on the Origin: caches must keep them apart.
    res.vary('Origin');
    const origin = req.get('origin');
    const permitted = origin !== undefined && allowed.has(origin);
    const preflight = req.method === 'OPTIONS' && req.get('access-control-request-method') !== undefined;
    if (permitted) res.setHeader('Access-Control-Allow-Origin', origin);
    if (!preflight) {
      if (permitted) res.setHeader('Access-Control-Expose-Headers', corsExposedHeaders.join(', '));
      next();
      return;
    }
    // A preflight from another origin gets no Allow-* fields, so the browser does not send the request.
    if (permitted) {
      res.setHeader('Access-Control-Allow-Methods', corsAllowedMethods.join(', '));
      res.setHeader('Access-Control-Allow-Headers', corsAllowedHeaders.join(', '));
      res.setHeader('Access-Control-Max-Age', String(options.maxAgeSeconds));
    }
    res.status(204).end();
  };
}
