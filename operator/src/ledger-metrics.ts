// The usage ledger (packages/database/src/usage-ledger.ts) as Prometheus samples,
// read at scrape time, so the metrics equal the stored sums by construction. A
// scrape never waits long for Postgres: one read at a time, reused for a short
// while, and past its timeout the last read's values are served (or none at all
// before the first), never zeros that would look like a counter reset.
import type { Clock } from '../../packages/platform/src/clock.ts';
import type { UsageRow } from '../../packages/database/src/usage-ledger.ts';

export interface CachedReadOptions {
  clock: Clock;
  /** A read this recent is served again without asking Postgres. */
  maxAgeMs: number;
  /** How long a scrape waits for a read in flight before it takes the last one. */
  timeoutMs: number;
  onError: (error: unknown) => void;
}

export class CachedRead<T> {
  private last: { value: T; at: number } | undefined;
  private pending: Promise<T> | undefined;
  /** The read whose failure or slowness was reported: each is reported once, however many scrapes waited on it. */
  private reported: Promise<T> | undefined;
  private readonly read: () => Promise<T>;
  private readonly options: CachedReadOptions;

  constructor(read: () => Promise<T>, options: CachedReadOptions) {
    this.read = read;
    this.options = options;
  }

  /** A fresh enough value; the last one when the read fails or is slow; undefined when there has been none. */
  async get(): Promise<T | undefined> {
    const { clock, maxAgeMs, timeoutMs } = this.options;
    if (this.last && clock.now() - this.last.at < maxAgeMs) return this.last.value;
    const pending = this.pending ??= this.read().then((value) => {
      this.last = { value, at: clock.now() };
      return value;
    }).finally(() => { this.pending = undefined; });
    let timer: ReturnType<Clock['setTimeout']> | undefined;
    const timedOut = new Promise<never>((_resolve, reject) => {
      timer = clock.setTimeout(() => reject(new Error(`the usage ledger did not answer in ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([pending, timedOut]);
    } catch (error) {
      if (this.reported !== pending) {
        this.reported = pending;
        this.options.onError(error);
      }
      return this.last?.value;
    } finally {
      if (timer) clock.clearTimeout(timer);
    }
  }
}

export const tokenTypes = ['input', 'output', 'cache_read', 'cache_creation'] as const;
export type TokenType = (typeof tokenTypes)[number];

export interface LedgerSample {
  labels: { namespace: string; user: string; model: string };
  tokens: Record<TokenType, number>;
  costUSD: number;
}

/** Rows grouped by namespace, user and model as samples; an unknown user or model is the empty label value. */
export function ledgerSamples(rows: readonly UsageRow[]): LedgerSample[] {
  return rows.map((row) => ({
    labels: { namespace: row.namespace ?? '', user: row.user ?? '', model: row.model ?? '' },
    tokens: { input: row.inputTokens, output: row.outputTokens, cache_read: row.cacheReadInputTokens, cache_creation: row.cacheCreationInputTokens },
    costUSD: Number(row.costUSD),
  }));
}

/** The reasons work waits Queued for (ClaudePolicy): always reported, 0 when none waits for it. */
export const queuedReasons = ['QuotaExceeded', 'BudgetExhausted', 'RateLimited'] as const;

/** Queued tasks counted by their status reason. */
export function queuedByReason(tasks: ReadonlyArray<{ status?: { phase?: string; reason?: string } }>): Map<string, number> {
  const counts = new Map<string, number>(queuedReasons.map((reason) => [reason, 0]));
  for (const task of tasks) {
    if (task.status?.phase !== 'Queued') continue;
    const reason = task.status.reason || 'Unknown';
    counts.set(reason, (counts.get(reason) ?? 0) + 1);
  }
  return counts;
}
