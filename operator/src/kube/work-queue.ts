// A keyed work queue with client-go's guarantees, for level-triggered
// reconcilers: a key waits in the queue at most once however often it is
// added; no two workers ever hold the same key; a key added while it is being
// processed is processed once more afterwards (so no change is missed); failed
// keys come back after a per-key exponential backoff.
import { systemClock, type Clock, type TimerHandle } from '../../../packages/platform/src/clock.ts';
import { errorFields, type Logger } from './logger.ts';

/** Thrown by a handler when retrying cannot help (e.g. an invalid spec): the
 * key is dropped until something adds it again. */
export class PermanentError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PermanentError';
  }
}

/** Thrown by a handler when what failed mends by itself outside the cluster (Postgres unreachable): the key
 * is retried with its backoff as any other, but never later than `retryAfterMs`, so its work is done within
 * that long of the return, however many times it failed while the outage lasted. */
export class RetrySoonError extends Error {
  readonly retryAfterMs: number;

  constructor(message: string, retryAfterMs: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RetrySoonError';
    this.retryAfterMs = retryAfterMs;
  }
}

export interface WorkResult {
  /** Process the key again after this long (0: as soon as a worker is free). */
  requeueAfterMs?: number;
}

export type WorkHandler = (key: string) => Promise<WorkResult | void> | WorkResult | void;

export interface RateLimitOptions {
  /** Delay after the first failure; doubles with each further one. */
  initialMs: number;
  maxMs: number;
}

export type WorkOutcome = 'done' | 'requeued' | 'retried' | 'permanent-failure';

/** Optional hooks, e.g. for prom-client. */
export interface WorkQueueMetrics {
  depth?(queued: number): void;
  processed?(key: string, outcome: WorkOutcome, durationMs: number): void;
  /** How long a key waited in the queue, from add to a worker taking it (delays of addAfter not counted). */
  waited?(key: string, waitMs: number): void;
}

export interface WorkQueueOptions {
  /** Shown in log lines. */
  name: string;
  logger: Logger;
  rateLimit?: RateLimitOptions;
  clock?: Clock;
  metrics?: WorkQueueMetrics;
}

export interface ShutDownOptions {
  /** true: workers first process every key already queued (not the delayed
   * ones); false: keys still waiting are dropped. Either way in-flight handlers
   * finish before shutDown resolves. */
  drain?: boolean;
}

export class WorkQueue {
  private readonly name: string;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly rateLimit: RateLimitOptions;
  private readonly metrics: WorkQueueMetrics | undefined;

  /** Keys waiting for a worker, in the order they were added (each once), with when they were added. */
  private readonly queued = new Map<string, number>();
  private readonly processing = new Set<string>();
  /** Keys added while a worker held them: queued again when it is done. */
  private readonly addedWhileProcessing = new Set<string>();
  private readonly delayed = new Map<string, { at: number; timer: TimerHandle }>();
  private readonly failures = new Map<string, number>();
  private readonly idleWorkers: Array<() => void> = [];
  private shuttingDown = false;
  private workers: Promise<void> | undefined;

  constructor(options: WorkQueueOptions) {
    this.name = options.name;
    this.logger = options.logger;
    this.clock = options.clock ?? systemClock;
    this.rateLimit = options.rateLimit ?? { initialMs: 500, maxMs: 5 * 60_000 };
    this.metrics = options.metrics;
  }

  add(key: string): void {
    if (this.shuttingDown) return;
    if (this.processing.has(key)) {
      this.addedWhileProcessing.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.set(key, this.clock.now());
    this.metrics?.depth?.(this.queued.size);
    this.idleWorkers.shift()?.();
  }

  /** Adds `key` after `ms`. A key already waiting keeps the earlier time. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) return this.add(key);
    const at = this.clock.now() + ms;
    const waiting = this.delayed.get(key);
    if (waiting) {
      if (waiting.at <= at) return;
      this.clock.clearTimeout(waiting.timer);
    }
    const timer = this.clock.setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    this.delayed.set(key, { at, timer });
  }

  /** Adds `key` after its backoff: initialMs, doubling with each call, up to
   * maxMs (or `capMs`, when lower), until forget(key). Returns the delay chosen. */
  addRateLimited(key: string, capMs = this.rateLimit.maxMs): number {
    const failures = this.failures.get(key) ?? 0;
    const delayMs = Math.min(this.rateLimit.maxMs, capMs, this.rateLimit.initialMs * 2 ** failures);
    this.failures.set(key, failures + 1);
    this.addAfter(key, delayMs);
    return delayMs;
  }

  /** Resets the backoff of `key` (after it was processed successfully). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** How many times `key` was rate-limited since it was last forgotten. */
  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Keys waiting for a worker (not counting delayed or in-flight ones). */
  length(): number {
    return this.queued.size;
  }

  isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /** Runs `concurrency` workers calling `handler` until shutDown(); resolves
   * when the last worker has stopped. A handler's result or error decides what
   * happens to its key: `requeueAfterMs` → again after that long; a
   * PermanentError → dropped; a RetrySoonError → retried rate-limited, within
   * its retryAfterMs; any other error → retried rate-limited. */
  run(concurrency: number, handler: WorkHandler): Promise<void> {
    if (this.workers) throw new Error(`work queue ${this.name} is already running`);
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`concurrency must be a positive integer, not ${concurrency}`);
    this.workers = Promise.all(Array.from({ length: concurrency }, (_, index) => this.work(index, handler))).then(() => undefined);
    return this.workers;
  }

  /** Stops taking keys and resolves once the workers stopped. Idempotent. */
  async shutDown({ drain = true }: ShutDownOptions = {}): Promise<void> {
    if (!this.shuttingDown) {
      this.shuttingDown = true;
      for (const { timer } of this.delayed.values()) this.clock.clearTimeout(timer);
      const dropped = this.delayed.size + (drain ? 0 : this.queued.size);
      this.delayed.clear();
      this.addedWhileProcessing.clear();
      if (!drain) this.queued.clear();
      this.logger.info({ queue: this.name, drain, draining: this.queued.size, inFlight: this.processing.size, dropped }, 'work queue shutting down');
      for (const wake of this.idleWorkers.splice(0)) wake();
    }
    await this.workers;
  }

  private async work(worker: number, handler: WorkHandler): Promise<void> {
    for (;;) {
      const key = await this.next();
      if (key === undefined) return;
      const startedAt = this.clock.now();
      let outcome: WorkOutcome;
      try {
        const result = await handler(key);
        this.forget(key);
        if (result && typeof result.requeueAfterMs === 'number') {
          outcome = 'requeued';
          this.addAfter(key, result.requeueAfterMs);
        } else {
          outcome = 'done';
        }
      } catch (error) {
        if (error instanceof PermanentError) {
          outcome = 'permanent-failure';
          this.forget(key);
          this.logger.error({ queue: this.name, worker, key, ...errorFields(error) }, 'work failed permanently; not retried');
        } else {
          outcome = 'retried';
          const delayMs = this.addRateLimited(key, error instanceof RetrySoonError ? error.retryAfterMs : undefined);
          this.logger.warn({ queue: this.name, worker, key, ...errorFields(error), retries: this.retries(key), delayMs }, 'work failed; retrying after backoff');
        }
      } finally {
        this.done(key);
      }
      this.metrics?.processed?.(key, outcome, this.clock.now() - startedAt);
    }
  }

  /** The next key for a worker, or undefined once the queue is shut down and drained. */
  private async next(): Promise<string | undefined> {
    for (;;) {
      const next = this.queued.entries().next();
      if (!next.done) {
        const [key, addedAt] = next.value;
        this.queued.delete(key);
        this.processing.add(key);
        this.metrics?.depth?.(this.queued.size);
        this.metrics?.waited?.(key, this.clock.now() - addedAt);
        return key;
      }
      if (this.shuttingDown) return undefined;
      await new Promise<void>((resolve) => this.idleWorkers.push(resolve));
    }
  }

  private done(key: string): void {
    this.processing.delete(key);
    if (this.addedWhileProcessing.delete(key)) this.add(key);
  }
}
