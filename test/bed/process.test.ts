import { describe, expect, test } from '@jest/globals';
import { GiveUp, settleWithin, waitFor } from './process.ts';

describe('waitFor', () => {
  test('resolves once the check answers true', async () => {
    let calls = 0;
    await waitFor('the third call', async () => ++calls === 3, { timeoutMs: 5_000, intervalMs: 1 });
    expect(calls).toBe(3);
  });

  test('times out, naming what it waited for and the last error', async () => {
    await expect(waitFor('the moon', async () => { throw new Error('still night'); }, { timeoutMs: 50, intervalMs: 5 }))
      .rejects.toThrow('timed out after 50 ms waiting for the moon: still night');
  });

  test('a check that never settles does not outlast the deadline', async () => {
    await expect(waitFor('a hung request', () => new Promise<boolean>(() => undefined), { timeoutMs: 100 }))
      .rejects.toThrow('timed out after 100 ms waiting for a hung request');
  });

  test('GiveUp stops the wait at once', async () => {
    await expect(waitFor('never', async () => { throw new GiveUp('cannot happen'); }, { timeoutMs: 60_000 }))
      .rejects.toThrow('cannot happen');
  });
});

describe('settleWithin', () => {
  test('the work\'s answer when it settles in time', async () => {
    await expect(settleWithin(Promise.resolve('done'), 1_000, () => 'late')).resolves.toBe('done');
  });

  test('what late returns, or throws, when the work has not settled', async () => {
    const never = new Promise<string>(() => undefined);
    await expect(settleWithin(never, 10, () => 'late')).resolves.toBe('late');
    await expect(settleWithin(never, 10, () => { throw new Error('overran'); })).rejects.toThrow('overran');
  });
});
