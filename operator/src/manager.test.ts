import { describe, expect, it } from '@jest/globals';
import type { KubernetesObject } from '@kubernetes/client-node';
import { flushPromises } from '../../packages/platform/src/fake-clock.ts';
import { waitFor } from '../../test/bed/process.ts';
import type { InformerHandlers } from './kube/informer.ts';
import { silentLogger } from './kube/logger.ts';
import { PermanentError } from './kube/work-queue.ts';
import { Manager, type Cache } from './manager.ts';
import { OperatorMetrics } from './metrics.ts';
import { generationChanged } from './watch-keys.ts';

/** A cache whose first list the test releases, and whose objects' changes it sends. */
class TestCache implements Cache {
  readonly handlers: Array<InformerHandlers<KubernetesObject>> = [];
  readonly calls: string[] = [];
  private release!: () => void;
  private readonly synced = new Promise<void>((resolve) => {
    this.release = resolve;
  });

  addHandlers(handlers: InformerHandlers<KubernetesObject>): void {
    this.handlers.push(handlers);
  }
  change(object: KubernetesObject, previous: KubernetesObject = object): void {
    for (const handlers of this.handlers) handlers.onUpdate?.(object, previous);
  }
  remove(object: KubernetesObject): void {
    for (const handlers of this.handlers) handlers.onDelete?.(object);
  }
  sync(): void {
    this.release();
  }
  async start(): Promise<void> {
    this.calls.push('start');
    await this.synced;
  }
  async stop(): Promise<void> {
    this.calls.push('stop');
  }
}

const object = (namespace: string, name: string, owner?: string): KubernetesObject =>
  ({ metadata: { namespace, name, ...(owner ? { labels: { owner } } : {}) } });
const keyOf = (o: KubernetesObject) => [`${o.metadata?.namespace}/${o.metadata?.name}`];

describe('Manager', () => {
  it('reconciles nothing until every cache has its first list, then each controller gets the keys its watches map', async () => {
    const tasks = new TestCache();
    const jobs = new TestCache();
    const manager = new Manager({ caches: [tasks, jobs], metrics: new OperatorMetrics(), log: silentLogger });
    const seen: string[] = [];
    manager.add({
      name: 'tasks', workers: 2, reconcile: async (key) => { seen.push(`task ${key}`); },
      watches: [
        { source: tasks, keysOf: keyOf },
        { source: jobs, keysOf: (o) => (o.metadata?.labels?.owner ? [`${o.metadata.namespace}/${o.metadata.labels.owner}`] : []) },
      ],
    });
    manager.add({ name: 'jobs', workers: 1, reconcile: async (key) => { seen.push(`job ${key}`); }, watches: [{ source: jobs, keysOf: keyOf }] });
    const starting = manager.start();
    tasks.change(object('a', 't1'));
    jobs.change(object('a', 'j1', 't2'));
    jobs.change(object('a', 'j2'));
    await flushPromises();
    expect(seen).toEqual([]);
    tasks.sync();
    jobs.sync();
    await starting;
    await flushPromises();
    expect(seen.sort()).toEqual(['job a/j1', 'job a/j2', 'task a/t1', 'task a/t2']);
    manager.enqueue('tasks', 'b/t3');
    await flushPromises();
    expect(seen).toContain('task b/t3');
    await manager.stop();
    await manager.stop();
    expect(tasks.calls).toEqual(['start', 'stop']);
  });

  it('labels its metrics by controller: outcomes, queue wait and reconcile time', async () => {
    const cache = new TestCache();
    const metrics = new OperatorMetrics();
    const manager = new Manager({ caches: [cache], metrics, log: silentLogger });
    manager.add({
      name: 'claudetasks', workers: 1, watches: [{ source: cache, keysOf: keyOf }],
      reconcile: async (key) => {
        if (key === 'a/bad') throw new PermanentError('refused');
        return { requeueAfterMs: 60_000 };
      },
    });
    cache.sync();
    await manager.start();
    cache.change(object('a', 'good'));
    cache.change(object('a', 'bad'));
    await flushPromises();
    await manager.stop();
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/^claude_operator_reconcile_total\{controller="claudetasks",outcome="requeued"\} 1$/m);
    expect(text).toMatch(/^claude_operator_reconcile_total\{controller="claudetasks",outcome="permanent-failure"\} 1$/m);
    expect(text).toMatch(/^claude_operator_queue_wait_seconds_count\{controller="claudetasks"\} 2$/m);
    expect(text).toMatch(/^claude_operator_reconcile_duration_seconds_count\{controller="claudetasks"\} 2$/m);
  });

  it('retries a reconcile within retrySoon\'s delay when that says the error mends by itself; any other error waits out its backoff', async () => {
    const cache = new TestCache();
    const unreachable = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    const manager = new Manager({ caches: [cache], metrics: new OperatorMetrics(), log: silentLogger,
      retrySoon: (error) => (error === unreachable ? 10 : undefined) });
    const calls = new Map<string, number>();
    manager.add({
      // Without retrySoon the first retry would come after 30 s.
      name: 'claudetasks', workers: 1, watches: [{ source: cache, keysOf: keyOf }], rateLimit: { initialMs: 30_000, maxMs: 60_000 },
      reconcile: async (key) => {
        calls.set(key, (calls.get(key) ?? 0) + 1);
        if (key === 'a/postgres' && calls.get(key)! < 3) throw unreachable;
        if (key === 'a/refused') throw new Error('admission webhook said no');
      },
    });
    cache.sync();
    await manager.start();
    cache.change(object('a', 'postgres'));
    cache.change(object('a', 'refused'));
    await waitFor('the third reconcile of a/postgres', async () => calls.get('a/postgres') === 3, { timeoutMs: 5_000, intervalMs: 5 });
    expect(calls.get('a/refused')).toBe(1);
    await manager.stop();
  });

  it('drops an update its watch says does not matter, but never an add or a delete', async () => {
    const policies = new TestCache();
    const manager = new Manager({ caches: [policies], metrics: new OperatorMetrics(), log: silentLogger });
    const seen: string[] = [];
    const withGeneration = (generation: number, status: string) => ({ metadata: { name: 'p', generation }, status }) as KubernetesObject;
    manager.add({
      name: 'tasks', workers: 1, reconcile: async (key) => { seen.push(key); },
      watches: [{ source: policies, keysOf: (o) => [`woken by ${(o as { status?: string }).status}`], updateMatters: generationChanged }],
    });
    policies.sync();
    await manager.start();
    policies.change(withGeneration(1, 'status only'), withGeneration(1, 'before'));
    policies.change(withGeneration(1, 'resync'));
    policies.change(withGeneration(2, 'spec changed'), withGeneration(1, 'status only'));
    policies.remove(withGeneration(2, 'deleted'));
    await flushPromises();
    await manager.stop();
    expect(seen).toEqual(['woken by spec changed', 'woken by deleted']);
  });

  it('refuses a second controller of one name and a controller added after start', async () => {
    const cache = new TestCache();
    const manager = new Manager({ caches: [cache], metrics: new OperatorMetrics(), log: silentLogger });
    const definition = { name: 'x', workers: 1, reconcile: async () => undefined, watches: [] };
    manager.add(definition);
    expect(() => manager.add(definition)).toThrow('controller x is already registered');
    cache.sync();
    await manager.start();
    expect(() => manager.add({ ...definition, name: 'y' })).toThrow('controller y added after the manager started');
    expect(() => manager.enqueue('z', 'k')).toThrow('no controller z');
    await manager.stop();
  });
});
