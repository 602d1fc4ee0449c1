import { describe, expect, test } from '@jest/globals';
import { FakeClock } from '../../packages/platform/src/fake-clock.ts';
import type { UsageRow } from '../../packages/database/src/usage-ledger.ts';
import { CachedRead, ledgerSamples, queuedByReason } from './ledger-metrics.ts';
import { OperatorMetrics } from './metrics.ts';

/** A read the test answers by hand. */
function manualRead<T>() {
  const calls: Array<{ resolve: (value: T) => void; reject: (error: Error) => void }> = [];
  const read = () => new Promise<T>((resolve, reject) => { calls.push({ resolve, reject }); });
  return { read, calls };
}

describe('CachedRead', () => {
  test('one read at a time; its value is served again until it is maxAge old', async () => {
    const clock = new FakeClock();
    const { read, calls } = manualRead<number>();
    const cached = new CachedRead(read, { clock, maxAgeMs: 1000, timeoutMs: 500, onError: () => undefined });
    const first = cached.get();
    const second = cached.get();
    expect(calls).toHaveLength(1);
    calls[0]!.resolve(1);
    expect([await first, await second]).toEqual([1, 1]);
    await clock.advance(999);
    expect(await cached.get()).toBe(1);
    expect(calls).toHaveLength(1);
    await clock.advance(1);
    const third = cached.get();
    expect(calls).toHaveLength(2);
    calls[1]!.resolve(2);
    expect(await third).toBe(2);
  });

  test('a read slower than the timeout: the scrape gets the last value (none before the first), and the slow read still lands', async () => {
    const clock = new FakeClock();
    const errors: unknown[] = [];
    const { read, calls } = manualRead<number>();
    const cached = new CachedRead(read, { clock, maxAgeMs: 0, timeoutMs: 500, onError: (error) => errors.push(error) });
    const never = cached.get();
    const alsoWaiting = cached.get();
    await clock.advance(500);
    expect(await alsoWaiting).toBeUndefined();
    expect(await never).toBeUndefined();
    expect(errors.map(String)).toEqual([expect.stringMatching(/did not answer in 500 ms/)]);
    calls[0]!.resolve(7);
    await clock.advance(0);
    const slow = cached.get();
    await clock.advance(500);
    expect(await slow).toBe(7);
    expect(calls).toHaveLength(2);
  });

  test('a failed read: the last value, and the error reported', async () => {
    const clock = new FakeClock();
    const errors: unknown[] = [];
    const { read, calls } = manualRead<number>();
    const cached = new CachedRead(read, { clock, maxAgeMs: 0, timeoutMs: 500, onError: (error) => errors.push(error) });
    const first = cached.get();
    calls[0]!.resolve(3);
    await first;
    const failing = cached.get();
    calls[1]!.reject(new Error('connection refused'));
    expect(await failing).toBe(3);
    expect(errors.map(String)).toEqual(['Error: connection refused']);
  });
});

const row = (namespace: string, user: string | null, model: string | null, input: number, costUSD: string): UsageRow => ({
  namespace, user, model, runs: 1, inputTokens: input, outputTokens: 2 * input, cacheReadInputTokens: 3, cacheCreationInputTokens: 4, costUSD,
});

test('ledger rows as samples: an unknown user or model is the empty label', () => {
  expect(ledgerSamples([row('ns', null, null, 1, '0.500000')])).toEqual([
    { labels: { namespace: 'ns', user: '', model: '' }, tokens: { input: 1, output: 2, cache_read: 3, cache_creation: 4 }, costUSD: 0.5 },
  ]);
});

test('queued tasks by reason: the known reasons always, others as they come', () => {
  const tasks = [
    { status: { phase: 'Queued', reason: 'QuotaExceeded' } }, { status: { phase: 'Queued', reason: 'QuotaExceeded' } },
    { status: { phase: 'Queued', reason: 'SomethingNew' } }, { status: { phase: 'Queued' } }, { status: { phase: 'Running', reason: 'Running' } }, {},
  ];
  expect(Object.fromEntries(queuedByReason(tasks))).toEqual({ QuotaExceeded: 2, BudgetExhausted: 0, RateLimited: 0, SomethingNew: 1, Unknown: 1 });
});

describe('the operator\'s /metrics', () => {
  test('tokens and cost are the ledger\'s rows; queued tasks by reason; nothing of them before the operator leads', async () => {
    const metrics = new OperatorMetrics();
    const before = await metrics.registry.metrics();
    expect(before).not.toMatch(/^claude_operator_tokens_total\{/m);
    expect(before).not.toMatch(/^claude_operator_queued_tasks\{/m);

    metrics.reportLedger(async () => [row('team-a', 'alice', 'claude-sonnet-4-5', 10, '0.125000'), row('team-a', null, 'claude-haiku-4-5', 1, '1.000000')],
      { maxAgeMs: 0, timeoutMs: 1000 });
    metrics.reportQueued(() => [{ status: { phase: 'Queued', reason: 'QuotaExceeded' } }]);
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/^# TYPE claude_operator_tokens_total counter$/m);
    for (const line of [
      'claude_operator_tokens_total{namespace="team-a",user="alice",model="claude-sonnet-4-5",type="input"} 10',
      'claude_operator_tokens_total{namespace="team-a",user="alice",model="claude-sonnet-4-5",type="output"} 20',
      'claude_operator_tokens_total{namespace="team-a",user="alice",model="claude-sonnet-4-5",type="cache_read"} 3',
      'claude_operator_tokens_total{namespace="team-a",user="alice",model="claude-sonnet-4-5",type="cache_creation"} 4',
      'claude_operator_tokens_total{namespace="team-a",user="",model="claude-haiku-4-5",type="input"} 1',
      'claude_operator_cost_usd_total{namespace="team-a",user="alice",model="claude-sonnet-4-5"} 0.125',
      'claude_operator_cost_usd_total{namespace="team-a",user="",model="claude-haiku-4-5"} 1',
      'claude_operator_queued_tasks{reason="QuotaExceeded"} 1',
      'claude_operator_queued_tasks{reason="BudgetExhausted"} 0',
    ]) expect(text.split('\n')).toContain(line);
  });

  test('a ledger that fails before any read reports no series (not zeros) and counts the failure', async () => {
    const metrics = new OperatorMetrics();
    metrics.reportLedger(() => Promise.reject(new Error('down')), { maxAgeMs: 0, timeoutMs: 1000 });
    const text = await metrics.registry.metrics();
    expect(text).not.toMatch(/^claude_operator_cost_usd_total\{/m);
    // Two metrics waited on the one failed read: it counts once.
    expect((await metrics.ledgerReadFailures.get()).values.map((v) => v.value)).toEqual([1]);
  });
});
