import { describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { PersistenceTracker } from './persistence-tracker.ts';

// Only waitFor reads Redis (event-publisher.int.test.ts covers it); these parts keep no connection.
const noRedis = undefined as unknown as Redis;
const tracker = (key: string | undefined) =>
  new PersistenceTracker<{ seq: number | undefined }>({ key, redis: noRedis, logger: pino({ level: 'silent' }), pollMs: 10 });
const events = (...seqs: number[]) => seqs.map((seq) => ({ seq }));

describe('PersistenceTracker', () => {
  it('keeps written events until the persisted key covers them', () => {
    const kept = tracker('k');
    kept.add(events(1, 2, 3));
    kept.note(null);
    expect(kept.seq).toBe(0);
    expect(kept.empty).toBe(false);
    kept.note('2');
    expect(kept.seq).toBe(2);
    expect(kept.takeLost(0)).toEqual(events(3));
    expect(kept.empty).toBe(true);
  });

  it.each([['a lower seq', '1'], ['no number', 'x'], ['a fraction', '2.5']])('ignores %s', (_case, reply) => {
    const kept = tracker('k');
    kept.note('2');
    kept.note(reply);
    expect(kept.seq).toBe(2);
  });

  it('gives back, oldest first, what the stream lost and keeps the rest', () => {
    const kept = tracker('k');
    kept.add(events(4, 5, 6, 7));
    expect(kept.takeLost(5)).toEqual(events(6, 7));
    expect(kept.takeLost(5)).toEqual([]);
    kept.note('5');
    expect(kept.empty).toBe(true);
  });

  it('keeps nothing without a persisted key', () => {
    const none = tracker(undefined);
    none.add(events(1, 2));
    none.drop();
    expect(none.empty).toBe(true);
    expect(none.seq).toBe(0);
  });
});
