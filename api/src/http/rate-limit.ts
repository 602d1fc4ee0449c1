// Requests per caller, counted in Redis so the limit holds across replicas: a
// fixed window that starts with the caller's first request (INCR and PEXPIRE in
// one script, so the count and its expiry are set together). When Redis cannot
// be reached the request passes (and a warning is logged): a Redis outage
// should not take the API down with it; /readyz reports it.
import crypto from 'node:crypto';
import type { Redis } from 'ioredis';

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
  remaining: number;
  /** Seconds until the window ends. */
  resetSeconds: number;
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
      remaining: Math.max(0, this.limit - count),
      resetSeconds: Math.max(1, Math.ceil(ttl / 1000)),
    };
  }
}
