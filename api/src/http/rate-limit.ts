// Requests per caller, counted in Redis so the limit holds across replicas: a
// fixed window that starts with the caller's first request (INCR and PEXPIRE in
// one script, so the count and its expiry are set together). When Redis cannot
// be reached the request passes (and a warning is logged): a Redis outage
// should not take the API down with it; /readyz reports it.
//
// Clients see the limit in the RateLimit-Policy and RateLimit fields of
// draft-ietf-httpapi-ratelimit-headers (structured fields): one policy,
// "default", of q requests per w seconds, with r left for t more seconds.
// REST requests and WebSocket upgrades count against the same limit.
import crypto from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Caller } from '../auth/caller.ts';
import { Problem } from './problem.ts';

const script = `
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}`;

export interface RateDecision {
  allowed: boolean;
  limit: number;
  /** The window's length in seconds. */
  windowSeconds: number;
  remaining: number;
  /** Seconds until the window ends. */
  resetSeconds: number;
}

export const rateLimitPolicy = 'default';

/** One limit per caller: its tenant and subject. */
export function rateLimitKey(caller: Caller): string {
  return `${caller.tenant}\u0000${caller.subject}`;
}

/** The RateLimit-Policy and RateLimit fields for a decision. */
export function rateLimitHeaders(decision: RateDecision): Record<string, string> {
  return {
    'RateLimit-Policy': `"${rateLimitPolicy}";q=${decision.limit};w=${decision.windowSeconds}`,
    RateLimit: `"${rateLimitPolicy}";r=${decision.remaining};t=${decision.resetSeconds}`,
  };
}

/** The 429 for a refused decision, with Retry-After and the RateLimit fields. */
export function rateLimitedProblem(decision: RateDecision): Problem {
  return new Problem('rate-limited', `at most ${decision.limit} requests per ${decision.windowSeconds} s; try again in ${decision.resetSeconds} s`,
    { headers: { ...rateLimitHeaders(decision), 'Retry-After': String(decision.resetSeconds) } });
}

export interface RateLimiter {
  take(callerKey: string): Promise<RateDecision>;
}

export class RedisRateLimiter implements RateLimiter {
  private readonly redis: Redis;
  private readonly limit: number;
  private readonly windowMs: number;
  private readonly prefix: string;
  private readonly sha = crypto.createHash('sha1').update(script).digest('hex');

  constructor(options: { redis: Redis; limit: number; windowSeconds: number; prefix?: string }) {
    this.redis = options.redis;
    this.limit = options.limit;
    this.windowMs = options.windowSeconds * 1000;
    this.prefix = options.prefix ?? 'claude-operator:api:ratelimit:';
  }

  async take(callerKey: string): Promise<RateDecision> {
    const key = `${this.prefix}${crypto.createHash('sha256').update(callerKey).digest('base64url')}`;
    let reply: unknown;
    try {
      reply = await this.redis.evalsha(this.sha, 1, key, this.windowMs);
    } catch (error) {
      if (!String((error as Error).message).includes('NOSCRIPT')) throw error;
      reply = await this.redis.eval(script, 1, key, this.windowMs);
    }
    const [count, ttl] = reply as [number, number];
    return {
      allowed: count <= this.limit,
      limit: this.limit,
      windowSeconds: this.windowMs / 1000,
      remaining: Math.max(0, this.limit - count),
      resetSeconds: Math.max(1, Math.ceil(ttl / 1000)),
    };
  }
}
