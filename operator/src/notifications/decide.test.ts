import { describe, expect, test } from '@jest/globals';
import type { WebhookAttempt } from '../../../packages/database/src/webhook-attempts.ts';
import { decide, outcomeOf, shownUrl, type FinishedTask, type RetryPolicy } from './decide.ts';

const uid = '11111111-2222-3333-4444-555555555555';
const t0 = Date.parse('2026-12-01T10:00:00Z');
const policy: RetryPolicy = { initialMs: 1_000, maxMs: 8_000, retryForMs: 60_000 };
const task = (phase: string, webhooks: FinishedTask['webhooks'] = [{ url: 'https://hooks.example.com/a?token=s3cret' }]): FinishedTask =>
  ({ uid, phase, webhooks });
/** Attempt n, started at `at` seconds after t0, lasting a second. */
const attempt = (n: number, at: number, outcome: WebhookAttempt['outcome'], responseCode?: number, webhookIndex = 0, phase = 'Succeeded'): WebhookAttempt => ({
  taskUid: uid, webhookIndex, url: 'https://hooks.example.com/a', eventId: `${uid}/${phase}`, attempt: n,
  startedAt: new Date(t0 + at * 1000), finishedAt: new Date(t0 + at * 1000 + 1000), outcome,
  ...(responseCode === undefined ? {} : { responseCode }), ...(outcome === 'retry' ? { error: `HTTP ${responseCode ?? 'timeout'}` } : {}),
});
const at = (seconds: number) => t0 + seconds * 1000;

describe('decide', () => {
  test.each([
    // what, phase, attempts, now (s), [due, state, attempt number, nextAttemptTime offset (s)], requeue (ms)
    ['nothing sent yet: due now', 'Succeeded', [], 0, [true, 'Pending', 1, undefined], undefined],
    ['a 503: the 2nd attempt waits 1s after the 1st ended', 'Succeeded', [attempt(1, 0, 'retry', 503)], 1.5, [false, 'Pending', 2, 2], 500],
    ['a 503, 1s later: due', 'Succeeded', [attempt(1, 0, 'retry', 503)], 2, [true, 'Pending', 2, undefined], undefined],
    ['two 503s: the 3rd waits 2s', 'Succeeded', [attempt(1, 0, 'retry', 503), attempt(2, 2, 'retry', 503)], 3, [false, 'Pending', 3, 5], 2000],
    ['delivered: done', 'Succeeded', [attempt(1, 0, 'retry', 503), attempt(2, 2, 'delivered', 200)], 100, [false, 'Delivered', 3, undefined], undefined],
    ['a 400: failed, not retried', 'Failed', [attempt(1, 0, 'failed', 400, 0, 'Failed')], 5, [false, 'Failed', 2, undefined], undefined],
    ['the backoff stops growing at maxMs', 'Succeeded', [1, 2, 3, 4, 5].map((n) => attempt(n, n * 2, 'retry', 500)), 12, [false, 'Pending', 6, 19], 7000],
    ['past retryForMs: given up', 'Succeeded', [attempt(1, 0, 'retry', 502), attempt(2, 58, 'retry', 502)], 60, [false, 'Failed', 3, undefined], undefined],
  ] as const)('%s', (_what, phase, attempts, now, [due, state, n, next], requeue) => {
    const plan = decide(task(phase), attempts, at(now), policy);
    expect(plan.webhooks).toHaveLength(1);
    const [webhook] = plan.webhooks;
    expect({ due: webhook!.due, state: webhook!.status.state, attempt: webhook!.attempt, nextAttemptTime: webhook!.status.nextAttemptTime })
      .toEqual({ due, state, attempt: n, nextAttemptTime: next === undefined ? undefined : new Date(at(next)).toISOString() });
    expect(plan.requeueAfterMs).toBe(requeue);
  });

  test('the status shows the URL without its query, the last answer and the event id', () => {
    const plan = decide(task('Succeeded'), [attempt(1, 0, 'retry', 503)], at(1.5), policy);
    expect(plan.webhooks[0]!.status).toEqual({
      url: 'https://hooks.example.com/a', event: `${uid}/Succeeded`, state: 'Pending', attempts: 1,
      lastAttemptTime: new Date(at(1)).toISOString(), lastResponseCode: 503, message: 'HTTP 503', nextAttemptTime: new Date(at(2)).toISOString(),
    });
  });

  test('only webhooks whose events include the phase are called; not for a phase that is not terminal', () => {
    const hooks = [{ url: 'https://a.example.com/', events: ['Failed' as const] }, { url: 'https://b.example.com/' }, { url: 'https://c.example.com/', events: ['Succeeded' as const, 'TimedOut' as const] }];
    expect(decide(task('Succeeded', hooks), [], t0, policy).webhooks.map((w) => w.index)).toEqual([1, 2]);
    expect(decide(task('TimedOut', hooks), [], t0, policy).webhooks.map((w) => w.index)).toEqual([1, 2]);
    expect(decide(task('Failed', hooks), [], t0, policy).webhooks.map((w) => w.index)).toEqual([0, 1]);
    expect(decide(task('Running', hooks), [], t0, policy).webhooks).toEqual([]);
  });

  test('attempts of another webhook or another phase\'s event do not count', () => {
    const hooks = [{ url: 'https://a.example.com/' }, { url: 'https://b.example.com/' }];
    const plan = decide(task('Succeeded', hooks), [attempt(1, 0, 'delivered', 200, 1), attempt(1, 0, 'failed', 400, 0, 'Failed')], at(5), policy);
    expect(plan.webhooks.map((w) => [w.index, w.due, w.status.state])).toEqual([[0, true, 'Pending'], [1, false, 'Delivered']]);
  });
});

test.each([
  [200, 'delivered'], [204, 'delivered'], [301, 'failed'], [400, 'failed'], [401, 'failed'], [404, 'failed'], [410, 'failed'],
  [408, 'retry'], [429, 'retry'], [500, 'retry'], [503, 'retry'], [undefined, 'retry'],
] as const)('an answer of %s counts as %s', (code, outcome) => {
  expect(outcomeOf(code)).toBe(outcome);
});

test('shownUrl drops credentials, query and fragment', () => {
  expect(shownUrl('https://user:pw@hooks.example.com:8443/p/q?token=x#f')).toBe('https://hooks.example.com:8443/p/q');
});
