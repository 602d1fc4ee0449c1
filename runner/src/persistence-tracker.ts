// What the EventPublisher (event-publisher.ts) keeps of the events it has written
// until the operator has them in Postgres. Redis is not the record: the operator
// copies the stream and SETs the persisted key to the highest seq it has stored
// (operator/src/event-copier.ts). An event at or below that seq is safe; one above
// it is kept, and written again if the stream loses it (Redis restarted empty, the
// stream deleted), so Postgres still gets every event exactly once. Without a
// persisted key nobody copies the stream, so nothing is kept once written.
//
// A session's runner waits here for its turn's last event to be persisted
// (waitFor) before it acknowledges the turn's message.
import type { Redis } from 'ioredis';
import type { Logger } from '../../packages/platform/src/logger.ts';
import { abortableSleep } from './abortable-sleep.ts';

export interface PersistenceTrackerOptions {
  /** workloadStreamKeys(kind, namespace, name).persisted; undefined: nobody copies the stream. */
  key: string | undefined;
  /** The publisher's connection, for reading the key while waiting. */
  redis: Redis;
  logger: Logger;
  /** How often the key is read while waiting for it. */
  pollMs: number;
}

/** Written events (each with its seq), oldest first, until the persisted key covers them. */
export class PersistenceTracker<T extends { seq: number | undefined }> {
  private readonly options: PersistenceTrackerOptions;
  /** Written to the stream, not yet persisted: written again if the stream loses them. */
  private written: T[] = [];
  /** The highest seq the operator says is in Postgres. */
  private persistedSeq = 0;

  constructor(options: PersistenceTrackerOptions) {
    this.options = options;
  }

  /** The persisted key, for the GET the publisher sends with its own commands. */
  get key(): string | undefined {
    return this.options.key;
  }

  /** The last seq known to be in Postgres (0 without a persisted key). */
  get seq(): number {
    return this.persistedSeq;
  }

  /** No written event is waiting for Postgres. */
  get empty(): boolean {
    return this.written.length === 0;
  }

  /** Events now in the stream, in seq order: kept until the key covers them (call note or drop after). */
  add(events: T[]): void {
    this.written.push(...events);
  }

  /** A reply of GET on the key (null while unset): the highest seq seen counts; drops what it covers. */
  note(reply: unknown): void {
    const seq = Number(reply);
    if (reply !== null && Number.isSafeInteger(seq) && seq > this.persistedSeq) this.persistedSeq = seq;
    this.drop();
  }

  /** Forgets what the key covers; without a key, everything written. */
  drop(): void {
    if (!this.options.key) {
      this.written = [];
      return;
    }
    while (this.written[0] !== undefined && this.written[0].seq! <= this.persistedSeq) this.written.shift();
  }

  /** Takes out, oldest first, the kept events after `streamSeq`: the stream has lost them. */
  takeLost(streamSeq: number): T[] {
    const lost = this.written.filter((event) => event.seq! > streamSeq);
    if (lost.length > 0) this.written = this.written.filter((event) => event.seq! <= streamSeq);
    return lost;
  }

  /**
   * Waits until the operator has every event up to `seq` in Postgres, reading the
   * key every pollMs; false after timeoutMs, once `signal` aborts or once `stopped`
   * says the publisher has stopped. True at once without a key.
   */
  async waitFor(seq: number, timeoutMs: number, stopped: () => boolean, signal?: AbortSignal): Promise<boolean> {
    const key = this.options.key;
    if (!key) return true;
    const deadline = Date.now() + timeoutMs;
    while (this.persistedSeq < seq) {
      if (Date.now() >= deadline || signal?.aborted || stopped()) return false;
      try {
        this.note(await this.options.redis.get(key));
      } catch (error) {
        this.options.logger.debug({ err: (error as Error).message }, 'cannot read the persisted key; retrying');
      }
      if (this.persistedSeq >= seq) break;
      await abortableSleep(this.options.pollMs, signal);
    }
    return true;
  }
}
