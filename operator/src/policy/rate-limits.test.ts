import { describe, expect, test } from '@jest/globals';
import { decideRateLimit, endedRateLimitedReset, maxHoldMs, nextHold, rateLimitResetOf, RateLimitHolds, unknownResetHoldMs } from './rate-limits.ts';

const now = new Date('2026-12-02T14:00:00.000Z');
const at = (ms: number) => new Date(now.getTime() + ms);
const time = now.toISOString();
// As the CLI 2.1.328 prints a retry after a 429 with retry-after (test/scripted-api/README.md).
const apiRetry = { type: 'system', subtype: 'api_retry', attempt: 1, max_retries: 10, retry_delay_ms: 29_969, error_status: 429, error: 'rate_limit' };
const completed = { type: 'runner.completed', outcome: 'failed', exitCode: 5, reason: 'RateLimited', message: '...' };

describe('rateLimitResetOf', () => {
  test.each<[string, { time: string; data: unknown }, Date | undefined]>([
    ['a 429 retry: its time plus the delay', { time, data: apiRetry }, at(29_969)],
    ['a retry of a 500: nothing', { time, data: { ...apiRetry, error_status: 500 } }, undefined],
    ['a 429 retry without a delay: nothing', { time, data: { ...apiRetry, retry_delay_ms: null } }, undefined],
    ['an event time that is not a time: nothing', { time: 'yesterday', data: apiRetry }, undefined],
    ['a RateLimited end with a reset: the reset', { time, data: { ...completed, rateLimitResetAt: at(45_000).toISOString() } }, at(45_000)],
    ['a RateLimited end without a reset: the unknown-reset hold', { time, data: { ...completed, rateLimitResetAt: null } }, at(unknownResetHoldMs)],
    ['a RateLimited end whose reset has passed: the unknown-reset hold', { time, data: { ...completed, rateLimitResetAt: at(-1_000).toISOString() } },
      at(unknownResetHoldMs)],
    ['a RateLimited end with a reset that is not a time: the unknown-reset hold', { time, data: { ...completed, rateLimitResetAt: 'soon' } },
      at(unknownResetHoldMs)],
    ['another end: nothing', { time, data: { ...completed, reason: 'BudgetExceeded' } }, undefined],
    ['the CLI\'s result of a 429: nothing (the runner\'s end says it)', { time, data: { type: 'result', is_error: true, api_error_status: 429 } }, undefined],
    ['data that is not an object: nothing', { time, data: 'x' }, undefined],
  ])('%s', (_what, event, expected) => {
    expect(rateLimitResetOf(event)).toEqual(expected);
  });
});

describe('nextHold', () => {
  test.each<[string, Date | undefined, Date, Date | undefined]>([
    ['no hold: until the reset', undefined, at(30_000), at(30_000)],
    ['a later reset extends the hold', at(10_000), at(30_000), at(30_000)],
    ['an earlier reset does not shorten it', at(30_000), at(10_000), at(30_000)],
    ['a hold that has ended does not count', at(-5_000), at(10_000), at(10_000)],
    ['a reset past the cap: capped at 1 h from now', undefined, at(5 * 3600_000), at(maxHoldMs)],
    ['a reset already past, nothing in force: no hold', undefined, at(-1), undefined],
    ['a reset now, nothing in force: no hold', undefined, now, undefined],
  ])('%s', (_what, current, resetAt, expected) => {
    expect(nextHold(current && { until: current }, resetAt, now)?.until).toEqual(expected);
  });
});

describe('decideRateLimit', () => {
  const key = { namespace: 'team-a', secret: 'anthropic-key-a' };
  test.each([
    ['no hold: admitted', undefined, { admit: true }],
    ['a hold that has ended: admitted', at(-1), { admit: true }],
    ['a hold ending now: admitted', now, { admit: true }],
    ['a hold in force: Queued RateLimited, woken at the reset', at(25_500), {
      admit: false, reason: 'RateLimited', retryAfterMs: 25_500,
      message: 'the Messages API rate-limits the API key in Secret anthropic-key-a (429); the task waits until the limit resets at 2026-12-02T14:00:25.500Z',
    }],
  ] as const)('%s', (_what, until, expected) => {
    expect(decideRateLimit(key, until && { until }, now)).toEqual(expected);
  });
});

describe('RateLimitHolds', () => {
  test('holds by namespace and Secret, keeps the later reset, and drops a hold once it has ended', () => {
    const holds = new RateLimitHolds();
    const a = { namespace: 'ns', secret: 'key-a' };
    expect(holds.record(a, at(20_000), now)?.until).toEqual(at(20_000));
    expect(holds.record(a, at(5_000), now)?.until).toEqual(at(20_000));
    expect(holds.holdOn(a, at(19_999))?.until).toEqual(at(20_000));
    expect(holds.holdOn({ namespace: 'ns', secret: 'key-b' }, now)).toBeUndefined();
    expect(holds.holdOn({ namespace: 'other', secret: 'key-a' }, now)).toBeUndefined();
    expect(holds.holdOn(a, at(20_000))).toBeUndefined();
    expect(holds.record(a, at(-1), at(20_000))).toBeUndefined();
    expect(holds.holdOn(a, at(20_000))).toBeUndefined();
  });
});

describe('endedRateLimitedReset', () => {
  test.each<[string, string | undefined, Date]>([
    ['the reset the run learnt', at(40_000).toISOString(), at(40_000)],
    ['none: the unknown-reset hold', undefined, at(unknownResetHoldMs)],
    ['one already past: the unknown-reset hold', at(-1).toISOString(), at(unknownResetHoldMs)],
    ['one that is not a time: the unknown-reset hold', 'soon', at(unknownResetHoldMs)],
  ])('%s', (_what, resetAt, expected) => {
    expect(endedRateLimitedReset(resetAt, now)).toEqual(expected);
  });
});
