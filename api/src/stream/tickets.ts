// Stream tickets for browsers (which cannot set an Authorization header on a
// WebSocket): a random 32-byte ticket, issued over REST to an authenticated
// caller for one task's (or session's) stream, valid 30 s and redeemable once. Redis holds them so any
// replica can redeem what another issued; GETDEL makes the single use atomic.
// The key is the ticket's SHA-256, so what Redis holds cannot be replayed as a ticket.
import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { AuthenticationError, roles, type Caller, type StreamTarget, type StreamTickets } from '../auth/caller.ts';

export const ticketKeyPrefix = 'claude-operator:stream-ticket:';

const StoredTicketSchema = z.object({
  caller: z.object({
    subject: z.string(),
    tenant: z.string(),
    namespaces: z.array(z.string()),
    role: z.enum(roles),
  }),
  namespace: z.string(),
  name: z.string(),
  collection: z.enum(['tasks', 'sessions']).default('tasks'),
});

/** 32 bytes in base64url, without padding. */
const ticketPattern = /^[A-Za-z0-9_-]{43}$/;

export class RedisStreamTickets implements StreamTickets {
  private readonly redis: Redis;
  private readonly ttlSeconds: number;

  constructor(redis: Redis, { ttlSeconds = 30 }: { ttlSeconds?: number } = {}) {
    this.redis = redis;
    this.ttlSeconds = ttlSeconds;
  }

  async issue(caller: Caller, target: StreamTarget): Promise<{ ticket: string; expiresInSeconds: number }> {
    const ticket = randomBytes(32).toString('base64url');
    const stored = { caller, namespace: target.namespace, name: target.name, collection: target.collection ?? 'tasks' };
    await this.redis.set(redisKey(ticket), JSON.stringify(stored), 'EX', this.ttlSeconds);
    return { ticket, expiresInSeconds: this.ttlSeconds };
  }

  async redeem(ticket: string, target: StreamTarget): Promise<Caller> {
    if (!ticketPattern.test(ticket)) throw new AuthenticationError('malformed stream ticket');
    // Taken even when it turns out to be for another task: a ticket is tried once.
    const raw = await this.redis.getdel(redisKey(ticket));
    if (raw === null) throw new AuthenticationError('unknown, expired or already used stream ticket');
    const parsed = StoredTicketSchema.safeParse(JSON.parse(raw));
    if (!parsed.success) throw new AuthenticationError('unreadable stream ticket');
    if (parsed.data.namespace !== target.namespace || parsed.data.name !== target.name || parsed.data.collection !== (target.collection ?? 'tasks')) {
      throw new AuthenticationError('stream ticket is for another stream');
    }
    return parsed.data.caller;
  }
}

function redisKey(ticket: string): string {
  return ticketKeyPrefix + createHash('sha256').update(ticket).digest('hex');
}
