import { describe, expect, test } from '@jest/globals';
import type { V1Namespace } from '@kubernetes/client-node';
import type { ClaudePolicy } from '../../../crds/src/claude-policy.ts';
import type { ClaudeTask } from '../../../crds/src/claude-task.ts';
import { ConcurrencyGate, type GateWorld } from './concurrency-gate.ts';
import { RateLimitHolds } from './rate-limits.ts';

const task = (name: string, extra: { namespace?: string; phase?: string; reason?: string; priority?: number; created?: string; user?: string } = {}): ClaudeTask => ({
  apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudeTask',
  metadata: { name, namespace: extra.namespace ?? 'team-a', creationTimestamp: extra.created ?? '2026-01-01T00:00:00Z',
    ...(extra.user ? { annotations: { 'claude-operator.io/created-by': extra.user } } : {}) },
  spec: { prompt: 'p', ...(extra.priority !== undefined ? { priority: extra.priority } : {}) },
  ...(extra.phase ? { status: { phase: extra.phase as 'Running', ...(extra.reason ? { reason: extra.reason } : {}) } } : {}),
});

const policy = (name: string, spec: ClaudePolicy['spec']): ClaudePolicy =>
  ({ apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudePolicy', metadata: { name }, spec } as ClaudePolicy);

const now = new Date('2026-12-15T12:00:00Z');

/** The cache, as the gate sees it; `jobs` is what the cache has caught up with; `spent` the ledger, by namespace or user, in USD. */
function world(tasks: ClaudeTask[], policies: ClaudePolicy[], namespaces: Record<string, Record<string, string>> = {}) {
  const jobs = new Set<string>();
  const spent = new Map<string, string>();
  const reads: string[] = [];
  const view: GateWorld = {
    tasks: () => tasks,
    policies: () => policies,
    namespace: (name) => (namespaces[name] ? { metadata: { name, labels: namespaces[name] } } as V1Namespace : undefined),
    hasJob: (t) => jobs.has(`${t.metadata.namespace}/${t.metadata.name}`),
    spend: async (scope, from) => {
      const who = 'namespace' in scope ? scope.namespace : scope.user;
      reads.push(`${who} from ${from.toISOString()}`);
      return { costUSD: spent.get(who) ?? '0', tokens: 0 };
    },
    now: () => now,
  };
  return { view, jobs, spent, reads };
}

describe('ConcurrencyGate', () => {
  test('the LocalQueue of the first policy (by name) selecting the namespace with kueue set; none without one', () => {
    const { view } = world([], [
      policy('z-queue', { namespaceSelector: {}, kueue: { localQueueName: 'z' } }),
      policy('a-queue', { namespaceSelector: { matchLabels: { team: 'a' } }, kueue: { localQueueName: 'team-a' } }),
      policy('limits', { namespaceSelector: {}, concurrency: { maxTasksPerNamespace: 1 } }),
    ], { 'ns-a': { team: 'a' }, 'ns-b': { team: 'b' } });
    const gate = new ConcurrencyGate(view);
    expect(gate.kueueQueueFor('ns-a')).toBe('team-a');
    expect(gate.kueueQueueFor('ns-b')).toBe('z');
    expect(new ConcurrencyGate(world([], [policy('limits', { namespaceSelector: {}, concurrency: { maxTasksPerNamespace: 1 } })]).view)
      .kueueQueueFor('ns-a')).toBeUndefined();
  });

  test('without a limiting policy every task starts at once', async () => {
    const { view } = world([task('a'), task('b')], [policy('rules-only', { admission: { allowedModels: ['x'] } })]);
    const gate = new ConcurrencyGate(view);
    const started: string[] = [];
    const decisions = await Promise.all(['a', 'b'].map((name) => gate.admit(task(name), async () => { started.push(name); })));
    expect(decisions.every((d) => d.admit)).toBe(true);
    expect(started.sort()).toEqual(['a', 'b']);
  });

  test('concurrent asks under a limit of 2 start exactly 2, even before the cache shows their Jobs', async () => {
    const tasks = ['a', 'b', 'c', 'd'].map((name, i) => task(name, { created: `2026-01-01T00:00:0${i}Z` }));
    const { view } = world(tasks, [policy('two', { concurrency: { maxTasksPerNamespace: 2 } })]);
    const gate = new ConcurrencyGate(view);
    const started: string[] = [];
    const decisions = await Promise.all(tasks.map((t) => gate.admit(t, async () => {
      await new Promise((resolve) => setTimeout(resolve, 5)); // the Job's creation takes a while
      started.push(t.metadata.name!);
    })));
    expect(started.sort()).toEqual(['a', 'b']);
    expect(decisions.filter((d) => !d.admit).map((d) => !d.admit && d.message)).toEqual([
      expect.stringContaining('place 1 in the queue of namespace team-a'), expect.stringContaining('place 2 in the queue'),
    ]);
  });

  test('higher priority first, then the oldest; a running task that ends makes room', async () => {
    const tasks = [task('running', { phase: 'Running' }), task('old', { created: '2026-01-01T00:00:01Z' }),
      task('urgent', { created: '2026-01-01T00:00:09Z', priority: 10 })];
    const { view, jobs } = world(tasks, [policy('one', { concurrency: { maxTasksPerNamespace: 1 } })]);
    jobs.add('team-a/running');
    const gate = new ConcurrencyGate(view);
    expect((await gate.admit(tasks[1]!, async () => undefined)).admit).toBe(false);
    const urgent = await gate.admit(tasks[2]!, async () => undefined);
    expect(urgent.admit).toBe(false);
    expect(!urgent.admit && urgent.message).toContain('place 1');
    tasks[0]!.status = { phase: 'Succeeded' };
    expect((await gate.admit(tasks[1]!, async () => undefined)).admit).toBe(false); // urgent is ahead of it
    expect((await gate.admit(tasks[2]!, async () => undefined)).admit).toBe(true);
    expect(gate.queuedKeys()).toEqual([]);
  });

  test('a start that fails frees its place', async () => {
    const tasks = [task('a'), task('b', { created: '2026-01-01T00:00:05Z' })];
    const { view } = world(tasks, [policy('one', { concurrency: { maxTasksPerNamespace: 1 } })]);
    const gate = new ConcurrencyGate(view);
    await expect(gate.admit(tasks[0]!, async () => { throw new Error('apiserver down'); })).rejects.toThrow('apiserver down');
    expect((await gate.admit(tasks[1]!, async () => undefined)).admit).toBe(false); // a is still first in line
    expect((await gate.admit(tasks[0]!, async () => undefined)).admit).toBe(true);
  });

  test('only namespaces the policy selects are limited; per-user limits count the creator', async () => {
    const tasks = [task('x1', { namespace: 'other' }), task('x2', { namespace: 'other' }),
      task('alice-1', { user: 'alice' }), task('alice-2', { user: 'alice', created: '2026-01-01T00:00:01Z' }), task('bob-1', { user: 'bob', created: '2026-01-01T00:00:02Z' })];
    const { view } = world(tasks, [policy('per-user', { namespaceSelector: { matchLabels: { team: 'a' } }, concurrency: { maxTasksPerUser: 1 } })],
      { 'team-a': { team: 'a' }, other: { team: 'b' } });
    const gate = new ConcurrencyGate(view);
    const admitted = [];
    for (const t of tasks) if ((await gate.admit(t, async () => undefined)).admit) admitted.push(t.metadata.name);
    expect(admitted).toEqual(['x1', 'x2', 'alice-1', 'bob-1']);
  });

  test('a spent budget holds the task before any queue; one with room starts, capped at the rest', async () => {
    const tasks = [task('a', { user: 'alice' }), task('b', { user: 'bob', created: '2026-01-01T00:00:05Z' })];
    const { view, spent, reads } = world(tasks, [policy('money', { budgets: [
      { scope: 'Namespace', period: 'Monthly', maxCostUSD: '10.00' }, { scope: 'User', period: 'Daily', maxCostUSD: '1.00' }] })]);
    spent.set('team-a', '4.00');
    spent.set('alice', '1.00');
    spent.set('bob', '0.25');
    const gate = new ConcurrencyGate(view);
    const caps: Array<string | undefined> = [];
    const held = await gate.admit(tasks[0]!, async (remaining) => { caps.push(remaining); });
    expect(held).toEqual({ key: 'team-a/a', admit: false, reason: 'BudgetExhausted', message: expect.stringMatching(
      /^ClaudePolicy money: the Daily User budget is spent \(user alice has spent 1\.00\/1\.00 USD since 2026-12-15T00:00:00\.000Z\); .* resets at 2026-12-16T00:00:00\.000Z/) });
    expect(await gate.admit(tasks[1]!, async (remaining) => { caps.push(remaining); })).toEqual({ key: 'team-a/b', admit: true, remainingUSD: '0.75' });
    expect(caps).toEqual(['0.75']);
    expect(reads).toContain('team-a from 2026-12-01T00:00:00.000Z');
    expect(reads).toContain('bob from 2026-12-15T00:00:00.000Z');
  });

  test('a task a budget holds takes no place in a concurrency queue', async () => {
    const tasks = [task('broke', { namespace: 'poor', phase: 'Queued', reason: 'BudgetExhausted' }), task('next', { namespace: 'poor', created: '2026-01-01T00:00:05Z' })];
    const { view, spent } = world(tasks, [policy('one', { concurrency: { maxTasksPerNamespace: 1 } })]);
    spent.set('poor', '0');
    const gate = new ConcurrencyGate(view);
    expect((await gate.admit(tasks[1]!, async () => undefined)).admit).toBe(true);
  });

  test('queuedKeys: nothing without a policy that limits or budgets; allQueuedKeys (a policy changed or went) looks anyway', () => {
    const tasks = [task('waiting', { phase: 'Queued' }), task('running', { phase: 'Running' })];
    const policies = [policy('rules-only', { admission: { maxTurns: 3 } }), policy('kueue', { kueue: { localQueueName: 'q' }, concurrency: { maxTasksPerNamespace: 1 } })];
    const { view } = world(tasks, policies);
    const gate = new ConcurrencyGate(view);
    expect(gate.queuedKeys()).toEqual([]);
    expect(gate.allQueuedKeys()).toEqual(['team-a/waiting']);
    policies.push(policy('budget', { budgets: [{ scope: 'Namespace', period: 'Daily', maxTokens: 10 }] }));
    expect(gate.queuedKeys()).toEqual(['team-a/waiting']);
  });

  test('a task whose API-key Secret is rate-limited waits Queued RateLimited until the reset, before any budget or limit; other Secrets start', async () => {
    const tasks = [task('a'), task('b')];
    const { view, reads } = world(tasks, [policy('budget', { budgets: [{ scope: 'Namespace', period: 'Daily', maxCostUSD: '10' }] })]);
    const holds = new RateLimitHolds();
    holds.record({ namespace: 'team-a', secret: 'key-a' }, new Date(now.getTime() + 20_000), now);
    const gate = new ConcurrencyGate({
      ...view, rateLimitHold: (key, at) => holds.holdOn(key, at),
      apiKeyOf: (t) => ({ namespace: t.metadata.namespace ?? '', secret: t.metadata.name === 'a' ? 'key-a' : 'key-b' }),
    });
    const started: string[] = [];
    const held = await gate.admit(tasks[0]!, async () => { started.push('a'); });
    expect(held).toEqual({ key: 'team-a/a', admit: false, reason: 'RateLimited', retryAfterMs: 20_000,
      message: 'the Messages API rate-limits the API key in Secret key-a (429); the task waits until the limit resets at 2026-12-15T12:00:20.000Z' });
    expect(reads).toEqual([]); // the ledger is not read for a task that cannot start anyway
    expect((await gate.admit(tasks[1]!, async () => { started.push('b'); })).admit).toBe(true);
    expect(started).toEqual(['b']);
  });

  test('a rate-limited task does not take a place in the concurrency queue', async () => {
    const tasks = [task('held', { phase: 'Queued', reason: 'RateLimited', created: '2026-01-01T00:00:00Z' }), task('next', { created: '2026-01-01T00:00:01Z' })];
    const { view } = world(tasks, [policy('one', { concurrency: { maxTasksPerNamespace: 1 } })]);
    const gate = new ConcurrencyGate(view);
    expect((await gate.admit(tasks[1]!, async () => undefined)).admit).toBe(true);
  });
});
