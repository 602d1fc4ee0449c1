import { describe, expect, it } from '@jest/globals';
import { backoffDelay } from './backoff.ts';

describe('backoffDelay', () => {
  const options = { initialMs: 100, maxMs: 1_000 };

  it.each([
    [1, 50, 100], [2, 100, 200], [3, 200, 400], [4, 400, 800], [5, 500, 1_000], [50, 500, 1_000],
  ])('after %i failures waits between %i and %i ms', (failures, low, high) => {
    expect(backoffDelay(failures, options, () => 0)).toBe(low);
    expect(backoffDelay(failures, options, () => 1)).toBe(high);
  });
});
