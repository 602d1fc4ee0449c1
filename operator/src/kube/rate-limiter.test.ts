import { describe, expect, it } from '@jest/globals';
import { FakeClock, flushPromises } from './fake-clock.ts';
import { TokenBucket } from './rate-limiter.ts';

describe('TokenBucket', () => {
  it('lets a burst through at once, then qps a second, in arrival order', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ qps: 10, burst: 3, clock });
    const passed: number[] = [];
    for (let i = 0; i < 6; i++) void bucket.take().then(() => passed.push(i));
    await flushPromises();
    expect(passed).toEqual([0, 1, 2]);
    await clock.advance(100);
    expect(passed).toEqual([0, 1, 2, 3]);
    await clock.advance(200);
    expect(passed).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('refills up to the burst while idle, no further', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ qps: 100, burst: 2, clock });
    await bucket.take();
    await bucket.take();
    await clock.advance(60_000);
    const passed: number[] = [];
    for (let i = 0; i < 3; i++) void bucket.take().then(() => passed.push(i));
    await flushPromises();
    expect(passed).toEqual([0, 1]);
  });

  it('refuses a bucket that could never let anything through', () => {
    expect(() => new TokenBucket({ qps: 0, burst: 1 })).toThrow(/qps > 0/);
  });
});
