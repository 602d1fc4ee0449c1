import { describe, expect, test } from '@jest/globals';
import { decideAdmissions, type ConcurrencyPolicy, type TaskForQueue } from './concurrency.ts';

const t0 = Date.parse('2026-12-01T00:00:00Z');
/** A task in namespace a by alice, created `second` seconds after t0. */
const task = (name: string, second: number, more: Partial<TaskForQueue> = {}): TaskForQueue => ({
  key: `${more.namespace ?? 'a'}/${name}`, namespace: 'a', name, user: 'alice', createdAt: new Date(t0 + second * 1000).toISOString(), running: false, ...more,
});
const policy = (name: string, limits: Omit<ConcurrencyPolicy, 'name' | 'selects'>, namespaces = ['a']): ConcurrencyPolicy =>
  ({ name, selects: (namespace) => namespaces.includes(namespace), ...limits });
const admitted = (decisions: ReturnType<typeof decideAdmissions>) => decisions.filter((d) => d.admit).map((d) => d.key);
const queued = (decisions: ReturnType<typeof decideAdmissions>) => decisions.flatMap((d) => (d.admit ? [] : [`${d.key}#${d.place}`]));

describe('decideAdmissions', () => {
  test.each([
    ['no policy: all start', [], [task('x', 1), task('y', 2)], ['a/x', 'a/y'], []],
    ['maxTasksPerNamespace 2, none running: the two oldest start', [policy('p', { maxTasksPerNamespace: 2 })],
      [task('c', 3), task('a', 1), task('b', 2)], ['a/a', 'a/b'], ['a/c#1']],
    ['two running: none starts, places in FIFO order', [policy('p', { maxTasksPerNamespace: 2 })],
      [task('r1', 0, { running: true }), task('r2', 0, { running: true }), task('late', 9), task('early', 5)], [], ['a/early#1', 'a/late#2']],
    ['priority before age', [policy('p', { maxTasksPerNamespace: 1 })],
      [task('old', 1), task('urgent', 5, { priority: 10 }), task('neg', 0, { priority: -1 })], ['a/urgent'], ['a/old#1', 'a/neg#2']],
    ['same priority and time: by name', [policy('p', { maxTasksPerNamespace: 1 })], [task('b', 1), task('a', 1)], ['a/a'], ['a/b#1']],
    ['per user: bob starts past alice, who is at her limit', [policy('p', { maxTasksPerUser: 1 })],
      [task('r', 0, { running: true }), task('alice-2', 1), task('bob-1', 2, { user: 'bob' })], ['a/bob-1'], ['a/alice-2#1']],
    ['per user counts over all the namespaces the policy selects', [policy('p', { maxTasksPerUser: 1 }, ['a', 'b'])],
      [task('r', 0, { namespace: 'b', running: true }), task('x', 1)], [], ['a/x#1']],
    ['two policies on a namespace: the stricter limit holds', [policy('loose', { maxTasksPerNamespace: 5 }), policy('strict', { maxTasksPerNamespace: 1 })],
      [task('x', 1), task('y', 2)], ['a/x'], ['a/y#1']],
    ['a namespace no policy selects is not limited', [policy('p', { maxTasksPerNamespace: 1 })],
      [task('x', 1, { namespace: 'other' }), task('y', 2, { namespace: 'other' })], ['other/x', 'other/y'], []],
    ['a task without a creator counts only against namespace limits', [policy('p', { maxTasksPerUser: 1 })],
      [task('x', 1, { user: undefined }), task('y', 2, { user: undefined })], ['a/x', 'a/y'], []],
  ] as const)('%s', (_what, policies, tasks, expectAdmitted, expectQueued) => {
    const decisions = decideAdmissions(tasks, policies);
    expect(admitted(decisions)).toEqual(expectAdmitted);
    expect(queued(decisions)).toEqual(expectQueued);
  });

  test('a queued task says which policy and limit hold it, and its place', () => {
    const [decision] = decideAdmissions([task('r', 0, { running: true }), task('w', 1)], [policy('team-a', { maxTasksPerNamespace: 1 })]);
    expect(decision).toEqual({ key: 'a/w', admit: false, reason: 'QuotaExceeded', place: 1,
      message: 'ClaudePolicy team-a allows 1 running tasks per namespace (maxTasksPerNamespace), 1 are running; place 1 in the queue of namespace a' });
  });

  test('the same cache gives the same decision: a restarted operator starts no more', () => {
    const tasks = [task('r', 0, { running: true }), task('w1', 1), task('w2', 2)];
    const policies = [policy('p', { maxTasksPerNamespace: 2 })];
    expect(decideAdmissions(tasks, policies)).toEqual(decideAdmissions([...tasks].reverse(), policies));
    expect(admitted(decideAdmissions(tasks, policies))).toEqual(['a/w1']);
  });
});
