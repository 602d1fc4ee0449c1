// One client's view of one task's (or session's) events: replay from a seq,
// then live, without a gap or a duplicate, until the last event. The stream's
// key, where its history is (EventHistorySource) and what ends it are given, so
// tasks and sessions (stream-kinds.ts) share this one feed.
//
// Seqs are gap-free (1, 2, ... across all attempts), so the feed only ever sends
// `last + 1`. It works in two modes:
// - catching up: it pulls pages from the Redis Stream (XRANGE) and, for what Redis
//   has trimmed or lost with the deleted stream, from Postgres. Pulling is paced
//   by the client's send buffer, so a large replay never sits in memory.
// - live: the shared StreamReader pushes new entries. Anything that is not
//   `last + 1` (an entry the reader delivered while we were catching up, or after
//   a reconnect of the reader) sends the feed back to catching up, and so does a
//   client whose send buffer passes the bound: it then pulls at its own pace, and
//   is closed (1013) only when it stops reading for the stall limit.
// Live events that arrive while catching up are dropped: the next pull reads them.
//
// When does the stream end? `runner.completed` with outcome succeeded or cancelled
// is final. After `failed` a retry attempt may follow, so the feed asks the task's
// phase (TaskLookup): once it is terminal (or the task is gone) everything the
// runner wrote is in Redis or Postgres, so one last catch-up pass reads it and
// the feed ends. The same check runs when the feed is idle, which also ends the
// stream of a task that ended without a runner.completed (timed out, killed).
// A session has no final event: its stream ends when the session is closed or gone.
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { EventHistorySource, TaskIdentity } from './history.ts';
import { completion, eventFromEntry, type StreamEvent } from './stream-event.ts';
import type { StreamReader, Unsubscribe } from './stream-reader.ts';

/** Where the feed writes: the WebSocket, seen through what the feed needs. */
export interface FeedSink {
  send(json: string): void;
  /** Bytes accepted by send() but not yet written to the network. */
  bufferedAmount(): number;
  /** Resolves true once bufferedAmount() <= bytes, false if that took longer than the stall limit. */
  waitForDrain(bytes: number): Promise<boolean>;
  close(code: number, reason: string): void;
}

export interface FeedDeps {
  reader: StreamReader;
  /** Non-blocking commands (XRANGE). */
  redis: Redis;
  history: EventHistorySource;
  /** Whether the task or session has ended (or is gone). */
  isFinished(): Promise<boolean>;
  /** Whether an event ends the stream by itself; the task's runner.completed by default (stream-event.ts). */
  completion?: (event: StreamEvent) => 'final' | 'maybe-final' | undefined;
  /** The reason of the normal close. */
  finishedReason?: string;
  logger: Logger;
  /** The most bytes unsent that live pushes leave in a client's buffer; past it the client pulls, and is closed (1013) if it stops reading. */
  maxBufferedBytes: number;
  /** Events per XRANGE / Postgres page. */
  pageSize?: number;
  /** How long without events before the feed asks whether the task has ended. */
  idleCheckMs?: number;
  /** The messages an event goes out as: its JSON by default (the raw view); none or several in the normalized view. */
  encode?: (event: StreamEvent) => string[];
}

const rawView = (event: StreamEvent): string[] => [event.json];
/** The most a server's (unmasked) WebSocket frame header takes. */
const frameHeaderBytes = 10;

export const closeCodes = {
  normal: 1000,
  goingAway: 1001,
  internalError: 1011,
  /** Try again later: the client is too slow, or events are not available yet. */
  tryAgainLater: 1013,
} as const;

/** Redis has trimmed events that Postgres does not hold yet (the task is still running). */
class EventsUnavailable extends Error {}

export class EventFeed {
  private readonly deps: Required<FeedDeps>;
  private readonly task: TaskIdentity;
  private readonly key: string;
  private readonly sink: FeedSink;
  /** The last seq sent. */
  private last: number;
  private mode: 'catching-up' | 'live' = 'catching-up';
  /** The highest seq the reader pushed while we were catching up. */
  private seenLive = 0;
  /** The Redis entry id of `last`, when it came from Redis: the next XRANGE starts after it. */
  private redisCursor: string | undefined;
  private catchingUp: Promise<void> | undefined;
  private finishing = false;
  private checking = false;
  private stopped = false;
  private unsubscribe: Unsubscribe | undefined;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(deps: FeedDeps, task: TaskIdentity, streamKey: string, afterSeq: number, sink: FeedSink) {
    this.deps = {
      ...deps, pageSize: deps.pageSize ?? 500, idleCheckMs: deps.idleCheckMs ?? 2_000, encode: deps.encode ?? rawView,
      completion: deps.completion ?? completion, finishedReason: deps.finishedReason ?? 'task finished',
    };
    this.task = task;
    this.key = streamKey;
    this.last = afterSeq;
    this.sink = sink;
  }

  /** Subscribes first, then reads history: what is appended meanwhile is then either read or pushed. */
  start(): void {
    this.unsubscribe = this.deps.reader.subscribe(this.key, this.last + 1, (event) => this.onLive(event));
    this.catchUp();
  }

  /** Idempotent; the sink is not touched. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.unsubscribe?.();
    clearTimeout(this.idleTimer);
  }

  get lastSeq(): number {
    return this.last;
  }

  private end(code: number, reason: string): void {
    if (this.stopped) return;
    this.stop();
    this.sink.close(code, reason);
  }

  private onLive(event: StreamEvent): void {
    if (this.stopped) return;
    if (this.mode === 'catching-up') {
      this.seenLive = Math.max(this.seenLive, event.seq);
      return;
    }
    if (event.seq <= this.last) return;
    if (event.seq !== this.last + 1) {
      this.catchUp();
      return;
    }
    this.send(event, 'live');
    if (this.mode === 'live') this.armIdleCheck();
  }

  private catchUp(): void {
    this.mode = 'catching-up';
    clearTimeout(this.idleTimer);
    // A running pass reads until it finds nothing more, so it covers this call too.
    this.catchingUp ??= this.catchUpLoop();
  }

  private async catchUpLoop(): Promise<void> {
    const initial = this.redisCursor === undefined && !this.finishing;
    try {
      let emptyReads = 0;
      while (!this.stopped) {
        const events = await this.readMore();
        if (this.stopped) return;
        if (events.length === 0) {
          // The reader saw a newer entry than we could read: read once more (it may
          // have been appended just after our XRANGE), then stop trusting that hint.
          if (this.seenLive > this.last && emptyReads++ === 0) continue;
          break;
        }
        emptyReads = 0;
        for (const event of events) {
          // Paced by the client: no more than half the bound plus one event is ever buffered.
          if (this.sink.bufferedAmount() > this.deps.maxBufferedBytes / 2 && !(await this.sink.waitForDrain(this.deps.maxBufferedBytes / 4))) {
            this.end(closeCodes.tryAgainLater, `client too slow: it stopped reading; reconnect with from=${this.last}`);
            return;
          }
          this.send(event, 'replay');
          if (this.stopped) return;
        }
      }
      // From here on synchronous: a push that arrives next sees mode 'live' and no
      // pass running, and starts a pass of its own if it has to.
      this.catchingUp = undefined;
      if (this.stopped) return;
      if (this.finishing) {
        this.end(closeCodes.normal, this.deps.finishedReason);
        return;
      }
      this.mode = 'live';
      this.seenLive = 0;
      // A task that ended long ago ends its stream now, not after an idle period.
      if (initial) void this.checkFinished();
      else this.armIdleCheck();
    } catch (error) {
      this.catchingUp = undefined;
      if (error instanceof EventsUnavailable) {
        this.end(closeCodes.tryAgainLater, error.message);
        return;
      }
      this.deps.logger.error({ err: (error as Error).message, key: this.key }, 'stream replay failed');
      this.end(closeCodes.internalError, 'cannot read the events');
    }
  }

  /** The next events after `last`, contiguous from `last + 1`; [] when there is nothing more now. */
  private async readMore(): Promise<StreamEvent[]> {
    const { pageSize } = this.deps;
    for (;;) {
      const start = this.redisCursor === undefined ? '-' : `(${this.redisCursor}`;
      const entries = await this.deps.redis.xrange(this.key, start, '+', 'COUNT', pageSize);
      const events: StreamEvent[] = [];
      for (const [id, fields] of entries) {
        const event = eventFromEntry(id, fields);
        if (event && event.seq > this.last) events.push(event);
        // Ids of what we already sent, so a reconnect late in a long stream skips ahead.
        if (events.length === 0) this.redisCursor = id;
      }
      const first = events[0];
      // send() moves redisCursor along as these go out.
      if (first?.seq === this.last + 1) return takeContiguous(events, this.last);
      if (first) return this.fromHistory(first.seq);
      if (entries.length === pageSize) continue; // only seqs we had sent: the next page
      if (this.redisCursor === undefined) return this.fromHistory(undefined); // no stream (deleted, or never written)
      return [];
    }
  }

  /** Events after `last` that Redis no longer has (those before `redisHead`, or all when the stream is gone). */
  private async fromHistory(redisHead: number | undefined): Promise<StreamEvent[]> {
    const events = await this.deps.history.page(this.task, this.last, this.deps.pageSize, redisHead);
    const contiguous = takeContiguous(events, this.last);
    if (contiguous.length === 0 && redisHead !== undefined) {
      throw new EventsUnavailable(`events ${this.last + 1} to ${redisHead - 1} are trimmed from redis and not yet in the history; retry when the task has ended`);
    }
    // redisCursor stays just before redisHead, so the next read goes on from there.
    return contiguous;
  }

  private send(event: StreamEvent, how: 'live' | 'replay'): void {
    if (this.stopped || event.seq !== this.last + 1) return;
    const messages = this.deps.encode(event);
    // The reader pushes to every client at once and cannot wait for one. A live
    // event that would take the client's buffer past the bound is not sent: the
    // client pulls it from Redis, paced by what it reads, and is closed if it
    // stops reading (catchUpLoop). Asked before sending, so the bound holds however
    // the buffer got where it is. Lengths as the socket counts them (characters).
    if (how === 'live' && this.sink.bufferedAmount() + messages.reduce((sum, message) => sum + message.length + frameHeaderBytes, 0) > this.deps.maxBufferedBytes) {
      this.catchUp();
      return;
    }
    for (const message of messages) this.sink.send(message);
    this.last = event.seq;
    if (event.id !== undefined) this.redisCursor = event.id;
    const ends = this.deps.completion(event);
    if (ends === 'final') this.end(closeCodes.normal, this.deps.finishedReason);
    else if (ends === 'maybe-final') void this.checkFinished();
  }

  private armIdleCheck(): void {
    clearTimeout(this.idleTimer);
    if (this.stopped || this.finishing) return;
    this.idleTimer = setTimeout(() => void this.checkFinished(), this.deps.idleCheckMs);
  }

  private async checkFinished(): Promise<void> {
    if (this.checking || this.stopped || this.finishing) return;
    this.checking = true;
    try {
      const finished = await this.deps.isFinished();
      if (this.stopped) return;
      if (!finished) {
        if (this.mode === 'live') this.armIdleCheck();
        return;
      }
      // A pass that is running may have read before the task ended: one more after it.
      await this.catchingUp;
      if (this.stopped) return;
      this.finishing = true;
      this.redisCursor = undefined; // from the head: the stream may have been deleted into Postgres
      this.catchUp();
    } catch (error) {
      this.deps.logger.warn({ err: (error as Error).message, key: this.key }, 'cannot tell whether the task has ended');
      if (this.mode === 'live') this.armIdleCheck();
    } finally {
      this.checking = false;
    }
  }
}

/** The events from `after + 1` on that follow each other without a gap. */
function takeContiguous(events: StreamEvent[], after: number): StreamEvent[] {
  const result: StreamEvent[] = [];
  for (const event of events) {
    if (event.seq !== after + result.length + 1) break;
    result.push(event);
  }
  return result;
}
