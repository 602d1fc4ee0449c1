// What the notifications controller does next for a finished task, decided from
// the task and its recorded attempts alone (pure, with the time passed in): which
// webhooks are due now, which wait, which are done, and the status that says so.
//
// At-least-once: an attempt counts once it is recorded, so a crash between
// sending and recording sends again. Retries back off exponentially from the
// first failure until `retryForMs` after the first attempt; a receiver that
// answers 4xx (but 408 and 429) has refused the event and is not asked again.
import { backoffDelay, type BackoffOptions } from '../../../packages/platform/src/backoff.ts';
import type { AttemptOutcome, WebhookAttempt } from '../../../packages/database/src/webhook-attempts.ts';
import { notifiablePhases, type NotificationStatus, type Webhook } from '../../../crds/src/notify.ts';

export interface RetryPolicy extends BackoffOptions {
  /** No attempt starts later than this after the first. */
  retryForMs: number;
}

export interface FinishedTask {
  uid: string;
  phase: string;
  webhooks: readonly Webhook[];
}

export interface WebhookPlan {
  index: number;
  eventId: string;
  /** The URL as shown and recorded: without credentials, query or fragment. */
  shownUrl: string;
  /** Send attempt number `attempt` now. */
  due: boolean;
  attempt: number;
  status: NotificationStatus;
  /** When it is next due, while waiting. */
  nextAt?: number;
}

export interface Plan {
  webhooks: WebhookPlan[];
  /** When to look again (the earliest wait), if any webhook still waits. */
  requeueAfterMs?: number;
}

/** The CloudEvent id: one per task and terminal phase, the same on every attempt. */
export const eventIdOf = (uid: string, phase: string) => `${uid}/${phase}`;

export function shownUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return url.slice(0, 256);
  }
}

/** How an answer (or none: undefined) counts. */
export function outcomeOf(responseCode: number | undefined): AttemptOutcome {
  if (responseCode === undefined) return 'retry';
  if (responseCode >= 200 && responseCode < 300) return 'delivered';
  if (responseCode === 408 || responseCode === 429 || responseCode >= 500) return 'retry';
  return 'failed';
}

const iso = (ms: number) => new Date(ms).toISOString();

export function decide(task: FinishedTask, attempts: readonly WebhookAttempt[], now: number, policy: RetryPolicy): Plan {
  if (!(notifiablePhases as readonly string[]).includes(task.phase)) return { webhooks: [] };
  const eventId = eventIdOf(task.uid, task.phase);
  const webhooks: WebhookPlan[] = [];
  task.webhooks.forEach((webhook, index) => {
    if (webhook.events && !(webhook.events as readonly string[]).includes(task.phase)) return;
    const url = shownUrl(webhook.url);
    const mine = attempts.filter((a) => a.webhookIndex === index && a.eventId === eventId).sort((a, b) => a.attempt - b.attempt);
    const last = mine.at(-1);
    const base = { url, event: eventId, attempts: mine.length };
    const lastFields = last ? {
      lastAttemptTime: last.finishedAt.toISOString(),
      ...(last.responseCode === undefined ? {} : { lastResponseCode: last.responseCode }),
      ...(last.error ? { message: last.error.slice(0, 1024) } : {}),
    } : {};
    const plan = (due: boolean, status: NotificationStatus, nextAt?: number): WebhookPlan =>
      ({ index, eventId, shownUrl: url, due, attempt: mine.length + 1, status, ...(nextAt === undefined ? {} : { nextAt }) });
    if (!last) {
      webhooks.push(plan(true, { ...base, state: 'Pending' }));
    } else if (last.outcome === 'delivered') {
      webhooks.push(plan(false, { ...base, ...lastFields, state: 'Delivered', message: `delivered on attempt ${last.attempt}` }));
    } else if (last.outcome === 'failed') {
      webhooks.push(plan(false, { ...base, ...lastFields, state: 'Failed' }));
    } else {
      const nextAt = last.finishedAt.getTime() + backoffDelay(mine.length, policy, () => 1);
      const deadline = mine[0]!.startedAt.getTime() + policy.retryForMs;
      if (nextAt > deadline) {
        const gaveUp = `gave up after ${mine.length} attempts${last.error ? `; last: ${last.error}` : ''}`;
        webhooks.push(plan(false, { ...base, ...lastFields, state: 'Failed', message: gaveUp.slice(0, 1024) }));
      } else if (nextAt <= now) {
        webhooks.push(plan(true, { ...base, ...lastFields, state: 'Pending' }));
      } else {
        webhooks.push(plan(false, { ...base, ...lastFields, state: 'Pending', nextAttemptTime: iso(nextAt) }, nextAt));
      }
    }
  });
  const waits = webhooks.flatMap((w) => (w.nextAt === undefined ? [] : [w.nextAt - now]));
  return { webhooks, ...(waits.length ? { requeueAfterMs: Math.max(0, Math.min(...waits)) } : {}) };
}
