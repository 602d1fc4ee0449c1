// The one Redis reader of an API process: a single blocking connection loops
// `XREAD BLOCK` over every task stream that has at least one subscriber, and fans
// each entry out to that stream's subscribers. However many WebSocket clients
// follow however many tasks, the process holds this one blocking connection (plus
// the shared, non-blocking command connection it is given).
//
// When a stream gains its first subscriber the XREAD in flight does not name it
// yet: the reader interrupts it with CLIENT UNBLOCK from the command connection
// and reissues it with the new key set. Removing a key needs no interruption: the
// stream's entries just have nobody to go to until the next XREAD.
//
// The reader delivers only what is appended after a stream starts being followed;
// history is the replay's job (replay.ts), which also closes any gap by seq.
import type { Redis } from 'ioredis';
import { Redis as RedisClient } from 'ioredis';
import type { Logger } from 'pino';
import { eventFromEntry, type StreamEvent } from './stream-event.ts';

export type Unsubscribe = () => void;

export interface StreamReaderOptions {
  redisUrl: string;
  /** A non-blocking connection shared with others: XREVRANGE and CLIENT UNBLOCK go through it. */
  commands: Redis;
  logger: Logger;
  /** How long one XREAD blocks; also the longest a dead connection can go unnoticed. */
  blockMs?: number;
  /** Entries per stream per XREAD. */
  count?: number;
  /** CLIENT SETNAME of the blocking connection, so it can be counted in CLIENT LIST. */
  connectionName?: string;
}

interface Subscription {
  fromSeq: number;
  onEvent: (event: StreamEvent) => void;
}

interface Followed {
  subscriptions: Set<Subscription>;
  /** The id XREAD continues after; undefined until the stream's current end is known. */
  cursor: string | undefined;
}

export interface StreamReaderStats {
  /** XREAD commands that returned (with entries, empty, or unblocked). */
  reads: number;
  entries: number;
  deliveries: number;
  unblocks: number;
  followedStreams: number;
  subscribers: number;
}

export const streamReaderConnectionName = 'claude-operator-api-stream-reader';

export class StreamReader {
  private readonly options: Required<StreamReaderOptions>;
  private readonly blocking: Redis;
  private readonly followed = new Map<string, Followed>();
  /** Bumped whenever a stream starts being followed. */
  private generation = 0;
  /** The generation of the XREAD in flight, undefined when none is. */
  private inFlight: number | undefined;
  private blockingClientId: number | undefined;
  private unblocking = false;
  private wakeLoop: (() => void) | undefined;
  private closing: Promise<void> | undefined;
  private readonly loopDone: Promise<void>;
  private readonly counters = { reads: 0, entries: 0, deliveries: 0, unblocks: 0 };

  constructor(options: StreamReaderOptions) {
    this.options = {
      ...options,
      blockMs: options.blockMs ?? 5_000,
      count: options.count ?? 500,
      connectionName: options.connectionName ?? streamReaderConnectionName,
    };
    this.blocking = new RedisClient(options.redisUrl, {
      connectionName: this.options.connectionName,
      // An XREAD cut by a disconnect must fail, not be resent: the loop reissues it
      // with the key set and cursors of the moment.
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: null,
      // A connection that died silently would otherwise block forever.
      commandTimeout: this.options.blockMs + 10_000,
      keepAlive: 10_000,
      retryStrategy: (times) => Math.min(times * 100, 2_000),
    });
    this.blocking.on('error', (error: Error) => this.options.logger.debug({ err: error.message }, 'stream reader connection error'));
    // A new connection has a new client id.
    this.blocking.on('close', () => (this.blockingClientId = undefined));
    this.loopDone = this.loop();
  }

  /** Calls onEvent with every event appended to `key` from now on whose seq is at least fromSeq. */
  subscribe(key: string, fromSeq: number, onEvent: (event: StreamEvent) => void): Unsubscribe {
    if (this.closing) throw new Error('stream reader is closed');
    let followed = this.followed.get(key);
    if (!followed) {
      followed = { subscriptions: new Set(), cursor: undefined };
      this.followed.set(key, followed);
      void this.startFollowing(key, followed);
    }
    const subscription: Subscription = { fromSeq, onEvent };
    followed.subscriptions.add(subscription);
    const target = followed;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      target.subscriptions.delete(subscription);
      if (target.subscriptions.size === 0 && this.followed.get(key) === target) this.followed.delete(key);
    };
  }

  stats(): StreamReaderStats {
    let subscribers = 0;
    for (const followed of this.followed.values()) subscribers += followed.subscriptions.size;
    return { ...this.counters, followedStreams: this.followed.size, subscribers };
  }

  /** Stops the loop and disconnects the blocking connection (not the command one). Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.followed.clear();
      this.wakeLoop?.();
      this.blocking.disconnect();
      await this.loopDone;
    })();
    return this.closing;
  }

  /** Reads where the stream ends now, so only later entries are delivered, then joins the XREAD. */
  private async startFollowing(key: string, followed: Followed): Promise<void> {
    for (let attempt = 1; !this.closing && this.followed.get(key) === followed; attempt++) {
      try {
        const last = await this.options.commands.xrevrange(key, '+', '-', 'COUNT', 1);
        // No stream yet: everything it will ever hold is new.
        followed.cursor = last[0]?.[0] ?? '0-0';
        this.generation++;
        this.wakeLoop?.();
        void this.unblock();
        return;
      } catch (error) {
        this.options.logger.warn({ err: (error as Error).message, key, attempt }, 'cannot read the end of an event stream; retrying');
        await sleep(Math.min(attempt * 200, 2_000));
      }
    }
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.closing) {
      // Taken before the key set, so a stream added from here on counts as not in this XREAD.
      const generation = this.generation;
      const ready = [...this.followed].filter(([, followed]) => followed.cursor !== undefined);
      if (ready.length === 0) {
        await new Promise<void>((resolve) => (this.wakeLoop = resolve));
        this.wakeLoop = undefined;
        continue;
      }
      try {
        this.blockingClientId ??= Number(await this.blocking.client('ID'));
        this.inFlight = generation;
        const keys = ready.map(([key]) => key);
        const ids = ready.map(([, followed]) => followed.cursor as string);
        const reply = await this.blocking.xread('COUNT', this.options.count, 'BLOCK', this.options.blockMs, 'STREAMS', ...keys, ...ids);
        this.inFlight = undefined;
        this.counters.reads++;
        failures = 0;
        for (const [key, entries] of reply ?? []) this.dispatch(key, entries);
      } catch (error) {
        this.inFlight = undefined;
        if (this.closing) break;
        failures++;
        const log = failures === 1 || failures % 10 === 0 ? 'warn' : 'debug';
        this.options.logger[log]({ err: (error as Error).message, failures }, 'stream reader XREAD failed; retrying');
        await sleep(Math.min(failures * 100, 2_000));
      }
    }
  }

  private dispatch(key: string, entries: Array<[id: string, fields: string[]]>): void {
    const followed = this.followed.get(key);
    if (!followed || followed.cursor === undefined) return;
    for (const [id, fields] of entries) {
      // A stream unfollowed and followed again during the XREAD has a newer cursor.
      if (compareIds(id, followed.cursor) <= 0) continue;
      followed.cursor = id;
      this.counters.entries++;
      const event = eventFromEntry(id, fields);
      if (!event) {
        this.options.logger.warn({ key, id }, 'event stream entry without a valid seq or data; skipped');
        continue;
      }
      // A copy: a subscriber may unsubscribe (close its socket) from its callback.
      for (const subscription of [...followed.subscriptions]) {
        if (event.seq < subscription.fromSeq) continue;
        this.counters.deliveries++;
        try {
          subscription.onEvent(event);
        } catch (error) {
          this.options.logger.error({ err: (error as Error).message, key }, 'stream subscriber failed');
        }
      }
    }
  }

  /** Interrupts an XREAD that does not name every followed stream yet. */
  private async unblock(): Promise<void> {
    if (this.unblocking) return;
    this.unblocking = true;
    try {
      // 0 means the XREAD has not reached Redis yet (or is just returning). Either
      // way, keep at it until the loop has reissued the XREAD with the current
      // generation; a stream added meanwhile is then covered by the same loop.
      while (!this.closing && this.inFlight !== undefined && this.inFlight < this.generation && this.blockingClientId !== undefined) {
        const unblocked = await this.options.commands.client('UNBLOCK', this.blockingClientId);
        if (unblocked === 1) this.counters.unblocks++;
        await sleep(2);
      }
    } catch (error) {
      // The XREAD then ends at its BLOCK timeout and picks the stream up.
      this.options.logger.warn({ err: (error as Error).message }, 'CLIENT UNBLOCK failed');
    } finally {
      this.unblocking = false;
    }
  }
}

/** Orders stream ids (`ms-seq`) numerically. */
export function compareIds(a: string, b: string): number {
  const [aMs = 0, aSeq = 0] = a.split('-').map(Number);
  const [bMs = 0, bSeq = 0] = b.split('-').map(Number);
  return aMs - bMs || aSeq - bSeq;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
