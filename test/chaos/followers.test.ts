import { describe, expect, test } from '@jest/globals';
import { gapsAndDuplicates, secondsToEventAfterReconnect } from './followers.ts';
import { isClean, type FaultResult } from './fault.ts';

describe('gapsAndDuplicates', () => {
  test.each([
    ['every event once', [1, 2, 3], 3, { lost: 0, duplicated: 0 }],
    ['a replay overlap after a reconnect', [1, 2, 3, 3, 4], 4, { lost: 0, duplicated: 1 }],
    ['a gap', [1, 2, 4], 4, { lost: 1, duplicated: 0 }],
    ['the tail missing', [1], 3, { lost: 2, duplicated: 0 }],
    ['nothing received', [], 2, { lost: 2, duplicated: 0 }],
  ])('%s', (_name, seqs, published, expected) => {
    expect(gapsAndDuplicates(seqs, published)).toEqual(expected);
  });
});

describe('secondsToEventAfterReconnect (the kill at 10 000 ms)', () => {
  test.each<[string, { openedAt: number; firstEventAt?: number }[], number]>([
    ['an event in flight on the old connection does not count', [{ openedAt: 1_000, firstEventAt: 1_100 }, { openedAt: 12_000, firstEventAt: 12_500 }], 2.5],
    ['a connection opened after the kill that got nothing is passed over', [{ openedAt: 1_000, firstEventAt: 1_100 }, { openedAt: 10_500 }, { openedAt: 13_000, firstEventAt: 14_000 }], 4],
    ['never reconnected', [{ openedAt: 1_000, firstEventAt: 1_100 }], Infinity],
    ['reconnected, no event since', [{ openedAt: 1_000, firstEventAt: 1_100 }, { openedAt: 11_000 }], Infinity],
  ])('%s', (_name, connections, expected) => {
    expect(secondsToEventAfterReconnect({ connections }, 10_000)).toBe(expected);
  });
});

describe('isClean', () => {
  const clean: FaultResult = { load: '', lost: 0, duplicated: 0, disagreeing: null, recoverySeconds: 1.5, detail: '', passed: true };
  test.each<[string, Partial<FaultResult>, boolean]>([
    ['all zero, finite recovery', {}, true],
    ['one lost', { lost: 1 }, false],
    ['one duplicated', { duplicated: 1 }, false],
    ['disagreeing', { disagreeing: 2 }, false],
    ['never recovered', { recoverySeconds: Infinity }, false],
    ['its own goal missed', { passed: false }, false],
    ['nothing that can be lost', { lost: null, duplicated: null, recoverySeconds: null }, true],
  ])('%s', (_name, change, expected) => {
    expect(isClean({ ...clean, ...change })).toBe(expected);
  });
});
