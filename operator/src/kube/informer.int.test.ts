// The informer against the test bed's real apiserver, with ConfigMaps in a
// namespace of its own. Recovery paths the server will not produce on demand
// (a dead connection that stays open, a gap between two watches) are made
// real by wrapping the HTTP source, never by faking the server.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { createTestNamespace, kubeConfig, waitFor, type TestNamespace } from '../../../test/support/cluster.ts';
import { Informer, type InformerOptions, type RelistReason } from './informer.ts';
import { KubeListWatch, type ListWatchSource } from './list-watch.ts';
import type { Logger } from './logger.ts';

let namespace: TestNamespace;
const informers: Array<Informer<V1ConfigMap>> = [];

beforeAll(async () => {
  namespace = await createTestNamespace('informer');
});

afterAll(async () => {
  await Promise.all(informers.map((informer) => informer.stop()));
  await namespace?.delete();
});

/** Log lines kept for assertions and printed when a test fails to explain why. */
function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const record = (level: string) => (fields: object, message: string) => lines.push(`${level} ${message} ${JSON.stringify(fields)}`);
  return { lines, debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') };
}

function makeInformer(options: Partial<InformerOptions<V1ConfigMap>> & { label: string }) {
  const logger = recordingLogger();
  const events: string[] = [];
  const relists: RelistReason[] = [];
  const watchEnds: string[] = [];
  const { label, ...rest } = options;
  const informer = new Informer<V1ConfigMap>({
    path: `/api/v1/namespaces/${namespace.name}/configmaps`,
    labelSelector: `test=${label}`,
    kubeConfig: kubeConfig(),
    logger,
    resyncMs: 0,
    backoff: { initialMs: 100, maxMs: 1_000 },
    handlers: {
      onAdd: (object) => events.push(`add ${object.metadata?.name}`),
      onUpdate: (object, previous) =>
        events.push(object === previous ? `resync ${object.metadata?.name}` : `update ${object.metadata?.name} ${object.data?.v ?? ''}`),
      onDelete: (object) => events.push(`delete ${object.metadata?.name}`),
    },
    metrics: { relist: (reason) => relists.push(reason), watchRestart: (reason) => watchEnds.push(reason) },
    ...rest,
  });
  informers.push(informer);
  return { informer, events, relists, watchEnds, logger };
}

async function createConfigMap(name: string, label: string, data: Record<string, string> = {}): Promise<void> {
  await namespace.core.createNamespacedConfigMap({
    namespace: namespace.name,
    body: { metadata: { name, labels: { test: label } }, data },
  });
}

function waitForEvent(events: string[], event: string, timeoutMs = 15_000): Promise<void> {
  return waitFor(`informer event "${event}" (saw: ${events.join(', ')})`, async () => events.includes(event), { timeoutMs, intervalMs: 50 });
}

describe('Informer against the apiserver', () => {
  it('syncs existing objects, then sees adds, updates and deletes', async () => {
    await createConfigMap('existing-1', 'basic');
    await createConfigMap('existing-2', 'basic');
    await createConfigMap('other-label', 'not-basic');
    const { informer, events } = makeInformer({ label: 'basic', pageSize: 1 });
    await informer.start();
    expect(informer.hasSynced()).toBe(true);
    expect(informer.list().map((object) => object.metadata?.name).sort()).toEqual(['existing-1', 'existing-2']);
    expect(informer.get(`${namespace.name}/existing-1`)?.kind).toBe('ConfigMap');

    await createConfigMap('added', 'basic');
    await waitForEvent(events, 'add added');
    await namespace.core.patchNamespacedConfigMap({
      name: 'added',
      namespace: namespace.name,
      body: [{ op: 'add', path: '/data', value: { v: '2' } }],
    });
    await waitForEvent(events, 'update added 2');
    await namespace.core.deleteNamespacedConfigMap({ name: 'added', namespace: namespace.name });
    await waitForEvent(events, 'delete added');
    expect(informer.get(`${namespace.name}/added`)).toBeUndefined();
    expect(events).toEqual(['add existing-1', 'add existing-2', 'add added', 'update added 2', 'delete added']);
    await informer.stop();
  });

  it('resumes watches the server ends, losing nothing created between two of them', async () => {
    const label = 'resume';
    const http = new KubeListWatch<V1ConfigMap>(kubeConfig());
    let watchCalls = 0;
    // Creates an object after the server ended the first watch and before the
    // second starts: only resuming from the right resourceVersion delivers it.
    const source: ListWatchSource<V1ConfigMap> = {
      list: (path, request) => http.list(path, request),
      watch: async (path, request, onEvent) => {
        if (++watchCalls === 2) await createConfigMap('between-watches', label);
        return http.watch(path, request, onEvent);
      },
    };
    const { informer, events, relists, watchEnds } = makeInformer({ label, source, watchTimeoutSeconds: 2 });
    await informer.start();
    await waitForEvent(events, 'add between-watches');
    await createConfigMap('after-reconnect', label);
    await waitForEvent(events, 'add after-reconnect');
    await waitFor('a third watch', async () => watchCalls >= 3, { timeoutMs: 10_000 });
    expect(watchEnds.slice(0, 2)).toEqual(['ended', 'ended']);
    expect(relists).toEqual(['initial']);
    expect(events).toEqual(['add between-watches', 'add after-reconnect']);
    await informer.stop();
  });

  it('relists when its watch gets 410 Gone, and delivers what it had missed', async () => {
    const label = 'gone';
    const http = new KubeListWatch<V1ConfigMap>(kubeConfig());
    let watchCalls = 0;
    const source: ListWatchSource<V1ConfigMap> = {
      list: (path, request) => http.list(path, request),
      watch: async (path, request, onEvent) => {
        if (++watchCalls > 1) return http.watch(path, request, onEvent);
        // The bed's etcd is not compacted during a test run (and compacting the
        // shared one would disturb other tests), so the first watch gets the
        // ERROR event a compacted resourceVersion would bring, after a change
        // it never delivers; listing again has to find that change.
        await createConfigMap('missed', label);
        onEvent({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 410, reason: 'Expired', message: `too old resource version: ${request.resourceVersion} (${Number(request.resourceVersion) + 100})` } });
      },
    };
    const { informer, events, relists } = makeInformer({ label, source });
    await informer.start();
    await waitForEvent(events, 'add missed');
    expect(relists).toEqual(['initial', 'expired']);
    await createConfigMap('after-relist', label);
    await waitForEvent(events, 'add after-relist');
    await informer.stop();
  });

  it('takes a watch that goes silent for a dead one: aborts it, relists and delivers what changed meanwhile', async () => {
    const label = 'stall';
    const http = new KubeListWatch<V1ConfigMap>(kubeConfig());
    let deaf = false;
    // After `deaf`, the first watch's connection stays open but nothing
    // reaches the informer: a connection that died without closing.
    let watchCalls = 0;
    const source: ListWatchSource<V1ConfigMap> = {
      list: (path, request) => http.list(path, request),
      watch: (path, request, onEvent) => {
        const isFirst = ++watchCalls === 1;
        return http.watch(path, request, (event) => {
          if (!(isFirst && deaf)) onEvent(event);
        });
      },
    };
    const { informer, events, relists, watchEnds, logger } = makeInformer({ label, source, stallTimeoutMs: 1_500, watchTimeoutSeconds: 60 });
    await informer.start();
    await createConfigMap('seen-live', label);
    await waitForEvent(events, 'add seen-live');
    deaf = true;
    await createConfigMap('missed-while-stalled', label);
    await waitForEvent(events, 'add missed-while-stalled');
    expect(watchEnds[0]).toBe('stalled');
    expect(relists).toEqual(['initial', 'stalled']);
    expect(logger.lines.some((line) => line.startsWith('warn watch silent for too long'))).toBe(true);
    await informer.stop();
  });

  it('re-delivers every object as an update every resyncMs', async () => {
    const label = 'resync';
    await createConfigMap('resynced', label);
    const { informer, events } = makeInformer({ label, resyncMs: 500 });
    await informer.start();
    await waitFor('two resyncs', async () => events.filter((event) => event === 'resync resynced').length >= 2, { timeoutMs: 10_000, intervalMs: 50 });
    await informer.stop();
    const count = events.length;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(events).toHaveLength(count);
  });
});
