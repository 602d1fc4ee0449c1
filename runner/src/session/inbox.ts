// The session's inbox as its one consumer reads it (session-stream.ts): the
// messages a lost pod took but did not acknowledge first, then new ones. Only the
// commands of sessionRunnerRedisCommands (pod-contract.ts).
import type { Redis } from 'ioredis';
import { inboxConsumer, inboxGroup, parseInboxEntry, type InboxMessage } from '../../../packages/contracts/src/session-stream.ts';

export interface InboxDelivery {
  /** The inbox entry id, for XACK. */
  entryId: string;
  /** Undefined when the entry is not a message (or was trimmed away). */
  message: InboxMessage | undefined;
  /** How often the group has handed the entry out, this time included. */
  delivery: number;
}

type ReadReply = Array<[stream: string, entries: Array<[id: string, fields: string[] | null]>]> | null;
type PendingReply = Array<[id: string, consumer: string, idleMs: number, deliveries: number]>;

export class Inbox {
  private readonly redis: Redis;
  private readonly keys: { inbox: string; answered: string };

  constructor(redis: Redis, keys: { inbox: string; answered: string }) {
    this.redis = redis;
    this.keys = keys;
  }

  /** The group reads from the start of the stream, so a message added before the first pod started is not missed. */
  async createGroup(): Promise<void> {
    try {
      await this.redis.xgroup('CREATE', this.keys.inbox, inboxGroup, '0', 'MKSTREAM');
    } catch (error) {
      if (!(error as Error).message.startsWith('BUSYGROUP')) throw error;
    }
  }

  /** Messages handed out before and not acknowledged, oldest first; reading them again counts as a delivery. */
  async readPending(count: number): Promise<InboxDelivery[]> {
    const reply = await this.redis.xreadgroup('GROUP', inboxGroup, inboxConsumer, 'COUNT', count, 'STREAMS', this.keys.inbox, '0') as ReadReply;
    const entries = reply?.[0]?.[1] ?? [];
    if (entries.length === 0) return [];
    // XREADGROUP with an id has just counted this delivery; XPENDING says how many there were.
    const pending = await this.redis.xpending(this.keys.inbox, inboxGroup, entries[0]![0], entries.at(-1)![0], entries.length,
      inboxConsumer) as PendingReply;
    const deliveries = new Map(pending.map(([id, , , count]) => [id, Number(count)]));
    return entries.map(([entryId, fields]) => ({
      entryId, message: fields ? parseInboxEntry(fields) : undefined, delivery: Math.max(deliveries.get(entryId) ?? 2, 1),
    }));
  }

  /** The next new message, waiting up to blockMs for one; [] when none came. */
  async readNew(blockMs: number): Promise<InboxDelivery[]> {
    const reply = await this.redis.xreadgroup('GROUP', inboxGroup, inboxConsumer, 'COUNT', 1, 'BLOCK', Math.max(1, Math.ceil(blockMs)),
      'STREAMS', this.keys.inbox, '>') as ReadReply;
    return (reply?.[0]?.[1] ?? []).map(([entryId, fields]) => ({ entryId, message: fields ? parseInboxEntry(fields) : undefined, delivery: 1 }));
  }

  /** The operator has stored this message's answer. */
  async isAnswered(messageId: string): Promise<boolean> {
    return (await this.redis.hexists(this.keys.answered, messageId)) === 1;
  }

  /** True (also when it was acknowledged before): a value, so that untilDone can tell it from a stop. */
  async ack(entryId: string): Promise<true> {
    await this.redis.xack(this.keys.inbox, inboxGroup, entryId);
    return true;
  }
}
