import { describe, expect, it } from '@jest/globals';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { FakeClock, flushPromises } from './fake-clock.ts';
import { Informer, withoutManagedFields, type InformerOptions } from './informer.ts';
import { KubeApiError, isResourceExpired } from './list-watch.ts';
import { silentLogger } from './logger.ts';
import { ScriptedListWatch } from './scripted-list-watch.ts';

const PATH = '/api/v1/namespaces/ns/configmaps';

function configMap(name: string, data: Record<string, string> = {}): V1ConfigMap {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'ns' }, data };
}

function setUp(options: Partial<InformerOptions<V1ConfigMap>> = {}) {
  const clock = new FakeClock();
  const source = new ScriptedListWatch<V1ConfigMap>();
  const events: string[] = [];
  const informer = new Informer<V1ConfigMap>({
    path: PATH,
    logger: silentLogger,
    source,
    clock,
    random: () => 1,
    backoff: { initialMs: 1_000, maxMs: 8_000 },
    resyncMs: 0,
    handlers: {
      onAdd: (object) => events.push(`add ${object.metadata?.name}`),
      onUpdate: (object, previous) =>
        events.push(object === previous ? `resync ${object.metadata?.name}` : `update ${object.metadata?.name} ${object.data?.v ?? ''}`),
      onDelete: (object) => events.push(`delete ${object.metadata?.name}`),
    },
    ...options,
  });
  return { clock, source, events, informer };
}

describe('Informer', () => {
  it('lists page by page, reports every object, then watches from the list resourceVersion', async () => {
    const { source, events, informer } = setUp({ pageSize: 2, watchTimeoutSeconds: 120 });
    for (const name of ['a', 'b', 'c', 'd', 'e']) source.put(configMap(name));
    await informer.start();
    expect(informer.hasSynced()).toBe(true);
    expect(source.lists.map((request) => [request.limit, request.continueToken])).toEqual([[2, undefined], [2, '2'], [2, '4']]);
    expect(events).toEqual(['add a', 'add b', 'add c', 'add d', 'add e']);
    expect(informer.list()).toHaveLength(5);
    expect(informer.get('ns/c')?.metadata?.name).toBe('c');
    await flushPromises();
    expect(source.activeWatch()?.request).toMatchObject({ resourceVersion: source.currentRevision(), timeoutSeconds: 120 });
    await informer.stop();
  });

  it('applies added, modified and deleted events, and advances the resourceVersion on bookmarks', async () => {
    const { source, events, informer } = setUp();
    source.put(configMap('a'));
    await informer.start();
    await flushPromises();
    const watch = source.activeWatch()!;
    watch.emit({ type: 'ADDED', object: source.put(configMap('b')) });
    watch.emit({ type: 'MODIFIED', object: source.put(configMap('a', { v: '2' })) });
    const deleted = source.objects.get('ns/b')!;
    source.remove('ns/b');
    watch.emit({ type: 'DELETED', object: { ...deleted, metadata: { ...deleted.metadata, resourceVersion: source.currentRevision() } } });
    expect(events).toEqual(['add a', 'add b', 'update a 2', 'delete b']);
    expect(informer.get('ns/a')?.data).toEqual({ v: '2' });
    expect(informer.get('ns/b')).toBeUndefined();
    watch.emit({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '999' } } as V1ConfigMap });
    expect(informer.lastResourceVersion()).toBe('999');
    expect(events).toHaveLength(4);
    await informer.stop();
  });

  it('caches and hands to handlers only what transform keeps, from the list and from the watch', async () => {
    const seen: V1ConfigMap[] = [];
    const { source, informer } = setUp({
      transform: withoutManagedFields,
      handlers: { onAdd: (object) => seen.push(object), onUpdate: (object) => seen.push(object) },
    });
    const managed = (name: string, v: string) => ({ ...configMap(name, { v }), metadata: { name, namespace: 'ns', managedFields: [{ manager: 'kubectl' }] } });
    source.put(managed('a', '1'));
    await informer.start();
    await flushPromises();
    source.activeWatch()!.emit({ type: 'MODIFIED', object: source.put(managed('a', '2')) });
    expect(seen.map((object) => [object.data?.v, object.metadata?.managedFields])).toEqual([['1', undefined], ['2', undefined]]);
    expect(informer.get('ns/a')?.metadata).not.toHaveProperty('managedFields');
    await informer.stop();
  });

  it('resumes a watch the server ended from the last resourceVersion, at once and without listing', async () => {
    const { source, informer } = setUp();
    await informer.start();
    await flushPromises();
    const first = source.activeWatch()!;
    first.emit({ type: 'ADDED', object: source.put(configMap('a')) });
    first.end();
    await flushPromises();
    expect(source.watches).toHaveLength(2);
    expect(source.activeWatch()?.request.resourceVersion).toBe(source.currentRevision());
    expect(source.lists).toHaveLength(1);
    await informer.stop();
  });

  it('relists on a 410 ERROR event and reports what changed or vanished meanwhile', async () => {
    const { source, events, informer } = setUp();
    source.put(configMap('kept'));
    source.put(configMap('changed'));
    source.put(configMap('vanished'));
    await informer.start();
    await flushPromises();
    events.length = 0;
    // Changes the informer never saw as events.
    source.put(configMap('changed', { v: '2' }));
    source.remove('ns/vanished');
    source.put(configMap('new'));
    source.activeWatch()!.emit({ type: 'ERROR', object: { code: 410, reason: 'Expired', message: 'too old resource version: 1 (200)' } });
    await flushPromises();
    expect(source.lists).toHaveLength(2);
    expect(events.sort()).toEqual(['add new', 'delete vanished', 'update changed 2']);
    expect(informer.list().map((object) => object.metadata?.name).sort()).toEqual(['changed', 'kept', 'new']);
    expect(source.activeWatch()?.request.resourceVersion).toBe(source.currentRevision());
    await informer.stop();
  });

  it('relists when the watch request itself answers HTTP 410', async () => {
    const { source, informer } = setUp();
    await informer.start();
    await flushPromises();
    source.activeWatch()!.fail(new KubeApiError('Gone', 410));
    await flushPromises();
    expect(source.lists).toHaveLength(2);
    expect(source.activeWatch()).toBeDefined();
    await informer.stop();
  });

  it('backs off after 410s that keep coming right after each list, instead of listing in a tight loop', async () => {
    const { clock, source, informer } = setUp();
    await informer.start();
    await flushPromises();
    const gone = () => source.activeWatch()!.emit({ type: 'ERROR', object: { code: 410 } });
    gone();
    await flushPromises();
    expect(source.lists).toHaveLength(2);
    gone();
    await flushPromises();
    expect(source.lists).toHaveLength(2);
    await clock.advance(1_000);
    expect(source.lists).toHaveLength(3);
    await informer.stop();
  });

  it('reconnects a failed watch from the same resourceVersion after a growing, capped backoff', async () => {
    const { clock, source, informer } = setUp();
    await informer.start();
    await flushPromises();
    const resourceVersion = source.activeWatch()!.request.resourceVersion;
    const waits: number[] = [];
    for (let attempt = 0; attempt < 5; attempt++) {
      source.activeWatch()!.fail(new KubeApiError('Internal Server Error', 500));
      await flushPromises();
      waits.push(clock.pendingDelays()[0]!);
      await clock.advance(waits.at(-1)!);
    }
    // random() = 1: the full step each time, doubling from 1 s, capped at 8 s.
    expect(waits).toEqual([1_000, 2_000, 4_000, 8_000, 8_000]);
    expect(source.activeWatch()?.request.resourceVersion).toBe(resourceVersion);
    expect(source.lists).toHaveLength(1);
    // A watch that delivers something resets the backoff.
    source.activeWatch()!.emit({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '500' } } as V1ConfigMap });
    source.activeWatch()!.fail(new Error('socket hang up'));
    await flushPromises();
    expect(clock.pendingDelays()[0]).toBe(1_000);
    await informer.stop();
  });

  it('treats a watch an ERROR event (not 410) ends as a failure to retry, not a relist', async () => {
    const { clock, source, informer } = setUp();
    await informer.start();
    await flushPromises();
    source.activeWatch()!.emit({ type: 'ERROR', object: { code: 500, message: 'etcd is sad' } });
    await flushPromises();
    expect(source.activeWatch()).toBeUndefined();
    await clock.advance(1_000);
    expect(source.activeWatch()).toBeDefined();
    expect(source.lists).toHaveLength(1);
    await informer.stop();
  });

  it('aborts a watch silent for stallTimeoutMs and relists, delivering what it missed', async () => {
    const { clock, source, events, informer } = setUp({ stallTimeoutMs: 10_000 });
    await informer.start();
    await flushPromises();
    const stalled = source.activeWatch()!;
    await clock.advance(9_000);
    stalled.emit({ type: 'BOOKMARK', object: { metadata: { resourceVersion: source.currentRevision() } } as V1ConfigMap });
    await clock.advance(9_000);
    expect(stalled.open()).toBe(true);
    source.put(configMap('missed'));
    await clock.advance(1_000);
    expect(stalled.open()).toBe(false);
    expect(source.lists).toHaveLength(2);
    expect(events).toEqual(['add missed']);
    expect(source.activeWatch()).toBeDefined();
    await informer.stop();
  });

  it('re-delivers every cached object as an update every resyncMs', async () => {
    const { clock, source, events, informer } = setUp({ resyncMs: 60_000 });
    source.put(configMap('a'));
    source.put(configMap('b'));
    await informer.start();
    events.length = 0;
    await clock.advance(59_999);
    expect(events).toEqual([]);
    await clock.advance(1);
    expect(events).toEqual(['resync a', 'resync b']);
    await clock.advance(60_000);
    expect(events).toHaveLength(4);
    await informer.stop();
  });

  it('keeps retrying the first list with backoff; start resolves once it succeeds', async () => {
    const { clock, source, informer } = setUp();
    source.listFailures.push(new KubeApiError('Forbidden', 403), new Error('connect ECONNREFUSED'));
    let synced = false;
    const starting = informer.start().then(() => (synced = true));
    await flushPromises();
    expect(synced).toBe(false);
    await clock.advance(1_000);
    expect(synced).toBe(false);
    await clock.advance(2_000);
    await starting;
    expect(source.lists).toHaveLength(3);
    await informer.stop();
  });

  it('aborts a list page that hangs after listTimeoutMs and retries it', async () => {
    const { clock, source, informer } = setUp({ listTimeoutMs: 30_000 });
    const list = source.list.bind(source);
    let calls = 0;
    source.list = (path, request) => {
      if (++calls > 1) return list(path, request);
      // A request that never answers, until aborted.
      return new Promise((_resolve, reject) => request.signal.addEventListener('abort', () => reject(new Error('aborted'))));
    };
    let synced = false;
    const starting = informer.start().then(() => (synced = true));
    await clock.advance(29_999);
    expect(synced).toBe(false);
    await clock.advance(1);
    expect(calls).toBe(1);
    await clock.advance(1_000);
    await starting;
    expect(calls).toBe(2);
    await informer.stop();
  });

  it('falls back to one unpaginated list when a continue token expires', async () => {
    const { source, events, informer } = setUp({ pageSize: 1 });
    source.put(configMap('a'));
    source.put(configMap('b'));
    const list = source.list.bind(source);
    let calls = 0;
    source.list = async (path, request) => {
      if (++calls === 2) throw new KubeApiError('continue token expired', 410);
      return list(path, request);
    };
    await informer.start();
    expect(source.lists.map((request) => [request.limit, request.continueToken])).toEqual([[1, undefined], [undefined, undefined]]);
    expect(events).toEqual(['add a', 'add b']);
    await informer.stop();
  });

  it('keeps going when a handler throws', async () => {
    const { source, events, informer } = setUp();
    informer.addHandlers({ onAdd: () => { throw new Error('handler bug'); } });
    await informer.start();
    await flushPromises();
    source.activeWatch()!.emit({ type: 'ADDED', object: source.put(configMap('a')) });
    source.activeWatch()!.emit({ type: 'ADDED', object: source.put(configMap('b')) });
    expect(events).toEqual(['add a', 'add b']);
    await informer.stop();
  });

  it('gives handlers added after the sync an add for every cached object', async () => {
    const { source, informer } = setUp();
    source.put(configMap('a'));
    await informer.start();
    const late: string[] = [];
    const remove = informer.addHandlers({ onAdd: (object) => late.push(object.metadata!.name!) });
    expect(late).toEqual(['a']);
    remove();
    source.activeWatch()?.emit({ type: 'ADDED', object: source.put(configMap('b')) });
    expect(late).toEqual(['a']);
    await informer.stop();
  });

  it('stops idempotently, aborting the watch and leaving no timer behind', async () => {
    const { clock, source, informer } = setUp({ resyncMs: 60_000 });
    await informer.start();
    await flushPromises();
    const watch = source.activeWatch()!;
    await Promise.all([informer.stop(), informer.stop()]);
    expect(watch.open()).toBe(false);
    expect(clock.pending()).toBe(0);
    await clock.advance(600_000);
    expect(source.watches).toHaveLength(1);
  });

  it('rejects start when stopped before the first list succeeded', async () => {
    const { source, informer } = setUp();
    source.listFailures.push(new Error('down'));
    const starting = informer.start();
    await flushPromises();
    await informer.stop();
    await expect(starting).rejects.toThrow(/stopped before it synced/);
  });
});

describe('isResourceExpired', () => {
  it.each([
    ['a 410 Expired Status', { code: 410, reason: 'Expired', message: 'too old resource version: 5 (100)' }, true],
    ['a Status with only code 410', { code: 410 }, true],
    ['a Status with reason Gone', { reason: 'Gone' }, true],
    ['a Status saying "too old resource version"', { message: 'too old resource version: 1 (2)' }, true],
    ['an HTTP 410', new KubeApiError('Gone', 410), true],
    ['an error carrying a 410 Status', new KubeApiError('x', 200, { code: 410 }), true],
    ['a 500 Status', { code: 500, reason: 'InternalError', message: 'etcd' }, false],
    ['an HTTP 504 "too large resource version"', new KubeApiError('Too large resource version', 504), false],
    ['a network error', new Error('socket hang up'), false],
    ['nothing', undefined, false],
  ])('%s → %s', (_what, input, expected) => {
    expect(isResourceExpired(input)).toBe(expected);
  });
});
