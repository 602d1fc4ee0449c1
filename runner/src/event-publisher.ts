// Publishes a task's events to its Redis Stream (packages/contracts/src/event-stream.ts), in order,
// numbered 1, 2, ... without gaps, and never drops one.
//
// publish() only queues; one pump writes the queue in batches. Each batch is one
// MULTI/EXEC, so it is written entirely or not at all. While Redis is unreachable
// the queue grows in memory and the pump retries with backoff. After any failure
// the pump reads the last seq in the stream before writing again: a batch whose
// EXEC reached Redis but whose reply was lost is then not written twice.
// The first seq continues after the last one already in the stream (or already
// in Postgres), so a retry attempt of the task goes on where the previous one stopped.
//
// Redis is not the record: until the operator has an event in Postgres the
// publisher keeps it, and writes it again with its own seq if the stream loses it
// (persistence-tracker.ts). Nothing is trimmed here: the operator trims only what
// it has copied.
//
// A session's runner tags each turn's events with the stream field `messageId`
// (session-stream.ts), and waits for one event to be persisted (waitPersisted)
// before it acknowledges the turn's message.
import { Redis } from 'ioredis';
import { backoffDelay, defaultBackoff, type BackoffOptions } from '../../packages/platform/src/backoff.ts';
import { redisReady } from '../../packages/platform/src/redis-ready.ts';
import type { TaskEvent } from '../../packages/contracts/src/task-events.ts';
import type { Logger } from '../../packages/platform/src/logger.ts';
import { lastSeqOf, markWritten, takeBatch, type QueuedEvent } from './queued-event.ts';
import { PersistenceTracker } from './persistence-tracker.ts';

export interface EventPublisherOptions {
  redisUrl: string;
  /** workloadStreamKeys(kind, namespace, name).events */
  streamKey: string;
  /** workloadStreamKeys(kind, namespace, name).wake; PUBLISHed the newest seq after each batch. */
  wakeChannel: string | undefined;
  /** workloadStreamKeys(kind, namespace, name).persisted: the highest seq the operator has in
   * Postgres. Undefined: nobody copies the stream, so written events are not kept. */
  persistedKey: string | undefined;
  logger: Logger;
  backoff?: BackoffOptions;
  /** Events per MULTI/EXEC. */
  batchSize?: number;
  /** Bytes of event data per MULTI/EXEC (a batch holds at least one event). */
  batchBytes?: number;
  /** A command without an answer for this long counts as failed. */
  commandTimeoutMs?: number;
  /** How long close() waits, once everything is written, for the operator to have it in Postgres. */
  persistWaitMs?: number;
  /** How often the persisted key is read while close() waits for it. */
  persistPollMs?: number;
}

export interface CloseResult {
  /** Every published event is in Redis. */
  flushed: boolean;
  /** Every published event is in Postgres, as the persisted key says (true without one). */
  persisted: boolean;
  /** Events still queued when the wait ended (lost when the process exits). */
  unpublished: number;
  /** The last seq known to be in the stream. */
  lastSeq: number;
}

export interface PublishOptions {
  /** Written as the entry's field `messageId`: a session's turn events. */
  messageId?: string;
}

export interface PublishedEvent {
  /** Resolves with the event's seq once it is in the stream; never rejects (it stays pending while Redis is away). */
  written: Promise<number>;
}

export class EventPublisher {
  private readonly options: Required<Omit<EventPublisherOptions, 'wakeChannel' | 'persistedKey'>>
    & Pick<EventPublisherOptions, 'wakeChannel' | 'persistedKey'>;
  private readonly redis: Redis;
  /** Not yet written; those with a seq were in a batch that may or may not have been applied. */
  private queue: QueuedEvent[] = [];
  /** Written to the stream, not yet in Postgres. */
  private readonly persistence: PersistenceTracker<QueuedEvent>;
  /** The last seq given to an event; undefined until the stream has been read. */
  private lastAssigned: number | undefined;
  /** The last seq known to be in the stream. */
  private confirmedSeq = 0;
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
      persistWaitMs: 5_000,
      persistPollMs: 200,
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
    // A new connection may be to a Redis that restarted empty: look before writing again.
    this.redis.on('close', () => {
      this.needsResync = true;
    });
    this.persistence = new PersistenceTracker({
      key: options.persistedKey, redis: this.redis, logger: this.options.logger, pollMs: this.options.persistPollMs,
    });
    this.pumpDone = this.pump();
  }

  /** Queues an event; it is written as soon as Redis takes it. */
  publish(event: TaskEvent, options: PublishOptions = {}): PublishedEvent {
    if (this.closing) throw new Error(`event ${event.type} published after close()`);
    let onWritten: ((seq: number) => void) | undefined;
    const written = new Promise<number>((resolve) => (onWritten = resolve));
    this.queue.push({ type: event.type, data: JSON.stringify(event), time: new Date().toISOString(), messageId: options.messageId,
      seq: undefined, onWritten });
    this.wakePump?.();
    return { written };
  }

  /**
   * Waits until the operator has every event up to `seq` in Postgres (the persisted
   * key), reading the key every persistPollMs; false after timeoutMs or once `signal`
   * aborts. True at once without a persisted key.
   */
  waitPersisted(seq: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    return this.persistence.waitFor(seq, timeoutMs, () => this.stopped, signal);
  }

  /** The last seq known to be written. */
  get lastSeq(): number {
    return this.confirmedSeq;
  }

  /** The last seq known to be in Postgres (0 without a persisted key). */
  get persisted(): number {
    return this.persistence.seq;
  }

  get unpublished(): number {
    return this.queue.length;
  }

  /** Waits up to timeoutMs for the queue to be written (and up to persistWaitMs
   * of that for it to be in Postgres), then disconnects. Idempotent. */
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
    const result = { flushed: this.queue.length === 0, persisted: this.allPersisted(), unpublished: this.queue.length, lastSeq: this.lastSeq };
    if (!result.flushed) {
      this.options.logger.error({ unpublished: result.unpublished, lastSeq: result.lastSeq },
        'gave up waiting for Redis: events not published');
    } else if (!result.persisted) {
      // They are in Redis, and the operator copies the rest when the task ends.
      this.options.logger.warn({ lastSeq: result.lastSeq, persistedSeq: this.persistence.seq }, 'events not yet in Postgres when the runner stopped');
    }
    return result;
  }

  private allPersisted(): boolean {
    return this.queue.length === 0 && this.persistence.empty;
  }

  private async pump(): Promise<void> {
    let persistDeadline: number | undefined;
    while (!this.stopped) {
      if (this.queue.length === 0) {
        if (!this.draining) {
          await new Promise<void>((resolve) => (this.wakePump = resolve));
          this.wakePump = undefined;
          continue;
        }
        // Closing, everything written: wait a while for the operator to have it in
        // Postgres, writing again whatever the stream loses meanwhile.
        persistDeadline ??= Date.now() + this.options.persistWaitMs;
        if (this.allPersisted() || Date.now() >= persistDeadline) return;
        await this.sleep(this.options.persistPollMs);
        this.needsResync = true;
      }
      try {
        await this.connected();
        if (this.needsResync) await this.resync();
        if (this.queue.length > 0) await this.writeBatch();
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
    if (!(await redisReady(this.redis, this.options.commandTimeoutMs))) throw new Error(`not connected to redis (${this.redis.status})`);
  }

  /** Reads where the stream and Postgres are: drops what they already hold, and
   * queues again what the stream should hold but has lost. */
  private async resync(): Promise<void> {
    const pipeline = this.redis.pipeline().xrevrange(this.options.streamKey, '+', '-', 'COUNT', 1);
    if (this.persistence.key) pipeline.get(this.persistence.key);
    const replies = await pipeline.exec();
    if (!replies) throw new Error('pipeline aborted');
    for (const [error] of replies) if (error) throw error;
    const streamSeq = lastSeqOf(replies[0]![1] as Array<[string, string[]]>, this.options.logger);
    this.persistence.note(replies[1]?.[1]);

    // A batch in flight when the connection failed was applied (the stream holds
    // its seqs) or not (it stays queued, seqs and all).
    while (this.queue[0]?.seq !== undefined && this.queue[0].seq <= streamSeq) this.persistence.add([markWritten(this.queue.shift()!)]);
    this.persistence.drop();
    const lost = this.persistence.takeLost(streamSeq);
    if (lost.length > 0) {
      this.options.logger.warn({ streamSeq, persistedSeq: this.persistence.seq, rewriting: lost.length },
        'the event stream lost events that are not in Postgres yet (Redis restarted empty?); writing them again');
      this.queue.unshift(...lost);
    }

    if (this.lastAssigned === undefined) {
      // A new attempt: after what the stream, or Postgres, already has.
      this.lastAssigned = Math.max(streamSeq, this.persistence.seq);
    } else if (streamSeq > this.lastAssigned) {
      // Someone else wrote to the stream (we are its only writer by contract): number what is left after it.
      this.options.logger.warn({ streamSeq, lastAssigned: this.lastAssigned }, 'event stream is ahead of us; renumbering queued events');
      for (const event of this.queue) event.seq = undefined;
      this.lastAssigned = streamSeq;
    }
    this.confirmedSeq = streamSeq;
    this.needsResync = false;
  }

  private async writeBatch(): Promise<void> {
    const batch = takeBatch(this.queue, this.options.batchSize, this.options.batchBytes);
    let seq = 0;
    const transaction = this.redis.multi();
    for (const event of batch) {
      event.seq ??= ++this.lastAssigned!;
      seq = event.seq;
      const tag = event.messageId === undefined ? [] : ['messageId', event.messageId];
      transaction.xadd(this.options.streamKey, '*', 'seq', String(event.seq), 'type', event.type, 'data', event.data, 'time', event.time, ...tag);
    }
    if (this.options.wakeChannel) transaction.publish(this.options.wakeChannel, String(seq));
    if (this.persistence.key) transaction.get(this.persistence.key);
    const replies = await transaction.exec();
    if (replies === null) throw new Error('MULTI/EXEC aborted');
    for (const [error] of replies) if (error) throw error;
    this.persistence.add(this.queue.splice(0, batch.length).map(markWritten));
    this.confirmedSeq = seq;
    if (this.persistence.key) this.persistence.note(replies.at(-1)?.[1]);
    else this.persistence.drop();
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
