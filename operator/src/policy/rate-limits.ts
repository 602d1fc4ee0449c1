// Rate-limit-aware admission: when a run learns that the Messages API rate-limits
// its API key (429), new tasks that use the same API-key Secret wait Queued
// (reason RateLimited) until the reset instead of starting only to meet the 429.
// Running work is left alone. The decisions here are pure (clock passed in);
// RateLimitHolds keeps the holds; the event copier feeds it (main.ts) and the
// concurrency gate asks it before budgets and concurrency (concurrency-gate.ts).
//
// Where the operator learns of a 429, and why there:
// - From the run's events as the copier stores them, not from the termination
//   summary: the CLI retries a 429 itself (retry-after up to 60 s, observed with
//   2.1.328, test/scripted-api/README.md) and announces each retry as
//   `system/api_retry` with error_status 429 and retry_delay_ms, while the run
//   still goes on. Its time plus the delay is when the CLI tries again: the reset
//   as the API gave it (plus the CLI's jitter). Waiting for the run's end would
//   let every task started meanwhile meet the same 429.
// - The run's `runner.completed` with reason RateLimited (the CLI gave up: a
//   retry-after above 60 s, or its retries spent) holds the key too, until its
//   rateLimitResetAt or, when the run never learnt one (the CLI prints no
//   headers), for unknownResetHoldMs: the CLI gives up at once only when the API
//   asked for more than 60 s.
// Every hold is capped at maxHoldMs (1 h) from when it is seen, so a bad or huge
// reset cannot hold a key for ever.
//
// Holds live in this process's memory only. After an operator restart they are
// forgotten: a task started then at worst meets the 429, and its api_retry (or
// its RateLimited end, which the reconciler turns into a new attempt after the
// hold, task-reconciler.ts) makes the hold again. Rebuilding them from Postgres
// would buy a few early 429s at the price of a query on every start.
//
// No burst: a held task is woken at the reset (requeueAfter) and then goes
// through the same gate as any other, so the ClaudePolicies' concurrency limits
// bound how many start at once; without a limit they all may start.
import type { ClaudeTask } from '../../../crds/src/claude-task.ts';
import type { TaskEventRecord } from '../../../packages/contracts/src/task-events.ts';
import { asResolved } from '../resolved-task.ts';

/** The longest a key is held, from when the 429 is seen. */
export const maxHoldMs = 60 * 60_000;
/** A run that ended on a 429 without learning the reset: the CLI gives up at once only when retry-after is above 60 s. */
export const unknownResetHoldMs = 60_000;

/** Which API-key Secret a hold is for. */
export interface ApiKeyRef {
  namespace: string;
  secret: string;
}

/** The task's API-key Secret as its pod mounts it (agent-pod.ts): spec.apiKeySecretRef, else the operator's default. */
export function apiKeyRefOf(task: ClaudeTask, defaultSecret: string): ApiKeyRef {
  return { namespace: task.metadata.namespace ?? '', secret: asResolved(task).spec.apiKeySecretRef?.name ?? defaultSecret };
}

export interface Hold {
  /** When the limit resets: new work may start from then on. */
  until: Date;
}

/** When the event says the key's limit resets, or undefined when it says nothing of a 429. */
export function rateLimitResetOf(event: Pick<TaskEventRecord, 'time' | 'data'>): Date | undefined {
  const data = event.data as Record<string, unknown> | null;
  if (typeof data !== 'object' || data === null) return undefined;
  const seenAt = Date.parse(event.time);
  if (Number.isNaN(seenAt)) return undefined;
  if (data.type === 'system' && data.subtype === 'api_retry' && data.error_status === 429) {
    const delayMs = data.retry_delay_ms;
    return typeof delayMs === 'number' && Number.isFinite(delayMs) && delayMs >= 0 ? new Date(seenAt + delayMs) : undefined;
  }
  if (data.type === 'runner.completed' && data.reason === 'RateLimited') {
    return endedRateLimitedReset(typeof data.rateLimitResetAt === 'string' ? data.rateLimitResetAt : undefined, new Date(seenAt));
  }
  return undefined;
}

/** The reset of a run that ended RateLimited at `endedAt`, from its rateLimitResetAt; without one (or with one
 * already past then: the limit outlasted it) unknownResetHoldMs after the end. */
export function endedRateLimitedReset(rateLimitResetAt: string | undefined, endedAt: Date): Date {
  const reset = rateLimitResetAt === undefined ? Number.NaN : Date.parse(rateLimitResetAt);
  return new Date(Number.isNaN(reset) || reset <= endedAt.getTime() ? endedAt.getTime() + unknownResetHoldMs : reset);
}

/**
 * The hold after a new signal: the later of the hold in force and the signal's
 * reset (another run's 429 does not shorten it), capped at now + maxHoldMs.
 * Undefined when the signal's reset has passed and nothing is in force.
 */
export function nextHold(current: Hold | undefined, resetAt: Date, now: Date): Hold | undefined {
  const cap = now.getTime() + maxHoldMs;
  const inForce = current !== undefined && current.until.getTime() > now.getTime() ? current.until.getTime() : 0;
  const until = Math.min(Math.max(inForce, resetAt.getTime()), cap);
  return until > now.getTime() ? { until: new Date(until) } : undefined;
}

export type RateLimitDecision =
  | { admit: true }
  | { admit: false; reason: 'RateLimited'; message: string; /** Wake the task then: the reset. */ retryAfterMs: number };

/** May a task using `key` start now, given the hold on it? */
export function decideRateLimit(key: ApiKeyRef, hold: Hold | undefined, now: Date): RateLimitDecision {
  if (!hold || hold.until.getTime() <= now.getTime()) return { admit: true };
  return {
    admit: false,
    reason: 'RateLimited',
    message: `the Messages API rate-limits the API key in Secret ${key.secret} (429); the task waits until the limit resets at ${hold.until.toISOString()}`,
    retryAfterMs: hold.until.getTime() - now.getTime(),
  };
}

const refKey = (key: ApiKeyRef) => `${key.namespace}/${key.secret}`;

/** The holds in force, by namespace and API-key Secret name. */
export class RateLimitHolds {
  private readonly holds = new Map<string, Hold>();

  /** Records what a signal says; returns the hold now in force (undefined: none). */
  record(key: ApiKeyRef, resetAt: Date, now: Date): Hold | undefined {
    const next = nextHold(this.holds.get(refKey(key)), resetAt, now);
    if (next) this.holds.set(refKey(key), next);
    return next;
  }

  /** The hold on the key, if one is in force at `now` (ended ones are dropped). */
  holdOn(key: ApiKeyRef, now: Date): Hold | undefined {
    const hold = this.holds.get(refKey(key));
    if (hold && hold.until.getTime() <= now.getTime()) {
      this.holds.delete(refKey(key));
      return undefined;
    }
    return hold;
  }
}
