import { describe, expect, test } from '@jest/globals';
import { informersOf, relistsOfProcesses, relistsSince } from './apiserver-restart.ts';

const series = (resource: string, reason: string) => `claude_operator_relists_total{resource="${resource}",reason="${reason}"}`;

describe('fault 5\'s relist count', () => {
  const before = new Map([[series('claudetasks', 'initial'), 1], [series('jobs', 'initial'), 1], [series('jobs', 'expired'), 2]]);

  test('counts the relists since before by reason, leaving out the initial lists', () => {
    const after = new Map([...before, [series('claudetasks', 'initial'), 1], [series('jobs', 'expired'), 3],
      [series('pods', 'expired'), 1], [series('pods', 'stalled'), 2], ['claude_operator_leader', 1]]);
    expect(Object.fromEntries(relistsSince(before, [after]))).toEqual({ expired: 2, stalled: 2 });
  });

  test('a process started again counts from 0: its relists add up whole, its initial lists not at all', () => {
    const first = new Map([...before, [series('jobs', 'expired'), 3]]);
    const second = new Map([[series('claudetasks', 'initial'), 1], [series('jobs', 'initial'), 1], [series('pods', 'expired'), 1]]);
    expect(Object.fromEntries(relistsSince(before, [first, second]))).toEqual({ expired: 2 });
  });

  test('nothing new: no relists', () => {
    expect(relistsSince(before, [before]).size).toBe(0);
  });

  test('one informer per initial series', () => {
    expect(informersOf(before)).toBe(2);
  });

  test('processes by key: each from its own first scrape, one seen only later from 0', () => {
    const standby = new Map([[series('jobs', 'expired'), 5]]);
    const last = new Map([
      ['a@1', new Map([...before, [series('jobs', 'expired'), 3]])],
      ['b@2', new Map([[series('jobs', 'expired'), 6], [series('jobs', 'initial'), 1]])],
      ['a@9', new Map([[series('pods', 'stalled'), 1], [series('pods', 'initial'), 1]])],
    ]);
    expect(Object.fromEntries(relistsOfProcesses(new Map([['a@1', before], ['b@2', standby]]), last))).toEqual({ expired: 2, stalled: 1 });
  });

  test('processes by key: none relisted, none counted', () => {
    expect(relistsOfProcesses(new Map([['a@1', before]]), new Map([['a@1', before]])).size).toBe(0);
  });
});
