// Publishes a task's events to its Redis Stream (event-stream.ts), in order,
// numbered 1, 2, ... without gaps, and never drops one.
//
// publish() only queues; one pump writes the queue in batches. Each batch is one
// MULTI/EXEC, so it is written entirely or not at all. While Redis is unreachable
// the queue grows in memory and the pump retries with backoff. After any failure
// the pump reads the last seq in the stream before writing again: a batch whose
// EXEC reached Redis but whose reply was lost is then not written twice.
// The first seq continues after the last one already in the stream, so a retry
// attempt of the task goes on where the previous attempt stopped.
import { Redis } from 'ioredis';
import { backoffDelay, defaultBackoff, type BackoffOptions } from './backoff.ts';
import { seqOfEntry, type TaskEvent } from './event-stream.ts';
import type { Logger } from './logger.ts';

export interface EventPublisherOptions {
  redisUrl: string;
  /** taskEventStreamKey(namespace, name) */
  streamKey: string;
  /** taskEventWakeChannel(namespace, name); PUBLISHed the newest seq after each batch. */
  wakeChannel: string | undefined;
  /** XADD MAXLEN ~ this. */
  maxLength: number;
  logger: Logger;
  backoff?: BackoffOptions;
  /** Events per MULTI/EXEC. */
  batchSize?: number;
  /** Bytes of event data per MULTI/EXEC (a batch holds at least one event). */
  batchBytes?: number;
  /** A command without an answer for this long counts as failed. */
  commandTimeoutMs?: number;
}

export interface CloseResult {
  /** Every published event is in Redis. */
  flushed: boolean;
  /** Events still queued when the wait ended (lost when the process exits). */
  unpublished: number;
  /** The last seq known to be in the stream. */
  lastSeq: number;
}

interface QueuedEvent {
  type: string;
  data: string;
  time: string;
  /** Assigned when the event first goes into a batch, kept across retries. */
  seq: number | undefined;
}

export class EventPublisher {
  private readonly options: Required<Omit<EventPublisherOptions, 'wakeChannel'>> & { wakeChannel: string | undefined };
  private readonly redis: Redis;
  private readonly queue: QueuedEvent[] = [];
  /** The last seq known to be in the stream; undefined until it has been read. */
  private confirmedSeq: number | undefined;
  private needsResync = true;
  private failures = 0;
  private closing: Promise<CloseResult> | undefined;
  private draining = false;
  private stopped = false;
  private readonly pumpDone: Promise<void>;
  private wakePump: (() => void) | undefined;
  private cutSleep: (() => void) | undefined;

  constructor(options: EventPublisherOptions) {
    this.options = {
      backoff: defaultBackoff,
      batchSize: 200,
      batchBytes: 1024 * 1024,
      commandTimeoutMs: 5_000,
      ...options,
    };
    this.redis = new Redis(options.redisUrl, {
      // Commands fail at once while disconnected instead of waiting in ioredis's
      // own queue: our queue and retry loop decide what is sent and when.
      enableOfflineQueue: false,
      // A MULTI/EXEC in flight when the connection dropped may have been applied;
      // resending it blindly could write a batch twice. We resync instead.
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      commandTimeout: this.options.commandTimeoutMs,
      connectTimeout: this.options.commandTimeoutMs,
      retryStrategy: (times) => Math.min(times * 100, 1_000),
    });
    // Without a listener ioredis prints connection errors itself; the pump reports them.
    this.redis.on('error', (error: Error) => this.options.logger.debug({ err: error.message }, 'redis connection error'));
    this.pumpDone = this.pump();
  }

  /** Queues an event; it is written as soon as Redis takes it. */
  publish(event: TaskEvent): void {
    if (this.closing) throw new Error(`event ${event.type} published after close()`);
    this.queue.push({ type: event.type, data: JSON.stringify(event), time: new Date().toISOString(), seq: undefined });
    this.wakePump?.();
  }

  /** The last seq known to be written. */
  get lastSeq(): number {
    return this.confirmedSeq ?? 0;
  }

  get unpublished(): number {
    return this.queue.length;
  }

  /** Waits up to timeoutMs for the queue to be written, then disconnects. Idempotent. */
  close(timeoutMs: number): Promise<CloseResult> {
    this.closing ??= this.drainAndDisconnect(timeoutMs);
    return this.closing;
  }

  private async drainAndDisconnect(timeoutMs: number): Promise<CloseResult> {
    this.draining = true;
    this.wakePump?.();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([this.pumpDone, timedOut]);
    clearTimeout(timer);
    this.stopped = true;
    this.wakePump?.();
    this.cutSleep?.();
    this.redis.disconnect();
    const result = { flushed: this.queue.length === 0, unpublished: this.queue.length, lastSeq: this.lastSeq };
    if (!result.flushed) {
      this.options.logger.error({ unpublished: result.unpublished, lastSeq: result.lastSeq },
        'gave up waiting for Redis: events not published');
    }
    return result;
  }

  private async pump(): Promise<void> {
    while (!this.stopped) {
      if (this.queue.length === 0) {
        if (this.draining) return;
        await new Promise<void>((resolve) => (this.wakePump = resolve));
        this.wakePump = undefined;
        continue;
      }
      try {
        await this.connected();
        if (this.needsResync) await this.resync();
        await this.writeBatch();
        if (this.failures > 0) this.options.logger.info({ failures: this.failures }, 'redis reachable again');
        this.failures = 0;
      } catch (error) {
        this.failures++;
        this.needsResync = true;
        this.reportFailure(error as Error);
        await this.sleep(backoffDelay(this.failures, this.options.backoff));
      }
    }
  }

  /** Waits (a while) for the connection, so the start and a reconnect are not reported as failures. */
  private async connected(): Promise<void> {
    if (this.redis.status === 'ready') return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.redis.off('ready', done);
        resolve();
      };
      const timer = setTimeout(done, this.options.commandTimeoutMs).unref();
      this.redis.once('ready', done);
    });
    // Narrowed by the early return above, but the 'ready' event may have changed it since.
    const status: string = this.redis.status;
    if (status !== 'ready') throw new Error(`not connected to redis (${status})`);
  }

  /** Reads the last seq in the stream and drops queued events it already holds. */
  private async resync(): Promise<void> {
    const entries = await this.redis.xrevrange(this.options.streamKey, '+', '-', 'COUNT', 1);
    const streamSeq = lastSeqOf(entries, this.options.logger);
    const assigned = this.queue.filter((event) => event.seq !== undefined);
    const first = assigned[0]?.seq;
    const last = assigned.at(-1)?.seq;
    if (first !== undefined && last !== undefined && streamSeq >= first - 1 && streamSeq <= last) {
      // The usual case: a batch in flight was applied (streamSeq = its end) or not (= first - 1).
      while (this.queue[0]?.seq !== undefined && this.queue[0].seq <= streamSeq) this.queue.shift();
    } else if (first !== undefined) {
      // The stream is not where we left it (deleted, Redis restarted empty, another
      // writer): number what is left after whatever the stream holds now.
      this.options.logger.warn({ streamSeq, expected: first - 1 }, 'event stream changed under us; renumbering queued events');
      for (const event of this.queue) event.seq = undefined;
    }
    this.confirmedSeq = streamSeq;
    this.needsResync = false;
  }

  private async writeBatch(): Promise<void> {
    const batch = this.takeBatch();
    let seq = this.lastSeq;
    const transaction = this.redis.multi();
    for (const event of batch) {
      event.seq ??= seq + 1;
      seq = event.seq;
      transaction.xadd(this.options.streamKey, 'MAXLEN', '~', this.options.maxLength, '*',
        'seq', String(event.seq), 'type', event.type, 'data', event.data, 'time', event.time);
    }
    if (this.options.wakeChannel) transaction.publish(this.options.wakeChannel, String(seq));
    const replies = await transaction.exec();
    if (replies === null) throw new Error('MULTI/EXEC aborted');
    for (const [error] of replies) if (error) throw error;
    this.queue.splice(0, batch.length);
    this.confirmedSeq = seq;
  }

  private takeBatch(): QueuedEvent[] {
    const batch: QueuedEvent[] = [];
    let bytes = 0;
    for (const event of this.queue) {
      if (batch.length >= this.options.batchSize) break;
      if (batch.length > 0 && bytes + event.data.length > this.options.batchBytes) break;
      batch.push(event);
      bytes += event.data.length;
    }
    return batch;
  }

  /** The first failure and then every 10th at warn, so an outage does not flood the log. */
  private reportFailure(error: Error): void {
    const fields = { err: error.message, failures: this.failures, queued: this.queue.length };
    if (this.failures === 1 || this.failures % 10 === 0) this.options.logger.warn(fields, 'cannot write events to redis; retrying');
    else this.options.logger.debug(fields, 'cannot write events to redis; retrying');
  }

  /** A backoff wait that close() cuts short once its own wait is over (new events do not). */
  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.cutSleep = done;
    }).finally(() => {
      this.cutSleep = undefined;
    });
  }
}

function lastSeqOf(entries: Array<[id: string, fields: string[]]>, logger: Logger): number {
  const last = entries[0];
  if (!last) return 0;
  const seq = seqOfEntry(last[1]);
  if (seq === undefined) logger.warn({ entry: last[0] }, 'last event stream entry has no valid seq; counting from 0');
  return seq ?? 0;
}
