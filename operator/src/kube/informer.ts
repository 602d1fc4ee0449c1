// A cache of one resource path kept current by list + watch, and handlers told
// of every change. Written instead of the client library's informer, which
// stalls silently, stops after errors and never resyncs. The recovery rules
// follow client-go's reflector:
// - list (in pages) → replace the cache → watch from the list's resourceVersion;
// - every event and bookmark advances the resourceVersion, so a reconnect
//   resumes where the last watch stopped and loses nothing;
// - 410 Gone (the resourceVersion was compacted away) → list again, and tell
//   handlers what changed or vanished meanwhile;
// - a failed request or broken stream → reconnect after exponential backoff
//   with jitter; a watch the server ended normally → reconnect at once;
// - no event or bookmark for stallTimeoutMs (a connection that died without
//   closing) → abort and list again;
// - every resyncMs, every cached object is delivered again as an update, so
//   level-triggered controllers get another look at everything.
import type { KubeConfig, KubernetesObject, V1Status } from '@kubernetes/client-node';
import { backoffDelay, type BackoffOptions } from './backoff.ts';
import { sleep, systemClock, type Clock, type TimerHandle } from './clock.ts';
import { KubeApiError, KubeListWatch, isResourceExpired, type ListWatchSource, type WatchEvent } from './list-watch.ts';
import { errorFields, type Logger } from './logger.ts';
import { objectKey } from './object-key.ts';

export interface InformerHandlers<T> {
  onAdd?(object: T): void;
  /** Also called by the periodic resync, with `object === previous`. */
  onUpdate?(object: T, previous: T): void;
  /** `object` is the last state known: the server's, or, for an object found
   * gone by a relist, the cached one. */
  onDelete?(object: T): void;
}

export type RelistReason = 'initial' | 'expired' | 'stalled';

/** Optional counters, e.g. for prom-client. */
export interface InformerMetrics {
  event?(type: WatchEvent<unknown>['type']): void;
  relist?(reason: RelistReason): void;
  watchRestart?(reason: 'ended' | 'failed' | 'expired' | 'stalled'): void;
}

export interface InformerOptions<T> {
  /** e.g. `/api/v1/namespaces/x/configmaps` or `/apis/claude-operator.io/v1alpha1/claudetasks`. */
  path: string;
  logger: Logger;
  /** Where list and watch go; give this or `source`. */
  kubeConfig?: KubeConfig;
  source?: ListWatchSource<T>;
  labelSelector?: string;
  fieldSelector?: string;
  handlers?: InformerHandlers<T>;
  /** Objects per list page. */
  pageSize?: number;
  /** Asked of the server, which then ends each watch after this long. */
  watchTimeoutSeconds?: number;
  /** Silence after which the watch is taken for dead; default twice the watch timeout. */
  stallTimeoutMs?: number;
  /** Period of re-delivering every cached object as an update; 0 turns it off. */
  resyncMs?: number;
  /** Per list page. */
  listTimeoutMs?: number;
  backoff?: BackoffOptions;
  /** A watch that ends normally sooner than this without any event counts as a failure, so a server that closes every watch at once is not hammered. */
  minHealthyWatchMs?: number;
  clock?: Clock;
  random?: () => number;
  metrics?: InformerMetrics;
  /** Applied to every object before it is cached or handed to a handler: keep
   * only what the controller needs, so 10k objects fit in little memory. */
  transform?: (object: T) => T;
}

/** Drops metadata.managedFields, which no controller reads and which is often the larger part of an object. */
export function withoutManagedFields<T extends KubernetesObject>(object: T): T {
  if (!object.metadata?.managedFields) return object;
  const { managedFields: _dropped, ...metadata } = object.metadata;
  return { ...object, metadata };
}

/** How a watch ended; `sawEvents`: it delivered at least one object or bookmark,
 * so the connection worked and the backoff starts over. */
type WatchOutcome =
  | { kind: 'stopped' }
  | { kind: 'ended'; sawEvents: boolean; healthy: boolean }
  | { kind: 'expired'; sawEvents: boolean }
  | { kind: 'stalled'; sawEvents: boolean }
  | { kind: 'failed'; sawEvents: boolean; error: unknown };

export class Informer<T extends KubernetesObject> {
  private readonly options: InformerOptions<T>;
  private readonly source: ListWatchSource<T>;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly watchTimeoutSeconds: number;
  private readonly stallTimeoutMs: number;
  private readonly resyncMs: number;
  private readonly backoff: BackoffOptions;
  private readonly handlers: InformerHandlers<T>[] = [];

  private cache = new Map<string, T>();
  private resourceVersion = '';
  private synced = false;
  private stopped = false;
  private running: Promise<void> | undefined;
  private syncedPromise: Promise<void> | undefined;
  private settleSynced: { resolve: () => void; reject: (error: Error) => void } | undefined;
  /** Aborts whatever request is in flight and any backoff wait, on stop(). */
  private readonly stopController = new AbortController();
  private currentRequest: AbortController | undefined;
  private resyncTimer: TimerHandle | undefined;

  constructor(options: InformerOptions<T>) {
    const source = options.source ?? (options.kubeConfig ? new KubeListWatch<T>(options.kubeConfig) : undefined);
    if (!source) throw new Error('Informer needs a kubeConfig or a source');
    this.options = options;
    this.source = source;
    this.logger = options.logger;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.watchTimeoutSeconds = options.watchTimeoutSeconds ?? 300;
    this.stallTimeoutMs = options.stallTimeoutMs ?? this.watchTimeoutSeconds * 2_000;
    this.resyncMs = options.resyncMs ?? 10 * 60_000;
    this.backoff = options.backoff ?? { initialMs: 500, maxMs: 30_000 };
    if (options.handlers) this.handlers.push(options.handlers);
  }

  /** Starts listing and watching; resolves once the first list is in the cache
   * (it keeps retrying until then), rejects if stopped before. Idempotent. */
  start(): Promise<void> {
    if (this.syncedPromise) return this.syncedPromise;
    this.syncedPromise = new Promise<void>((resolve, reject) => {
      this.settleSynced = { resolve, reject };
    });
    if (this.stopped) {
      this.settleSynced?.reject(new Error(`informer for ${this.options.path} was stopped before it started`));
      return this.syncedPromise;
    }
    this.logger.info(this.logFields(), 'informer starting');
    this.running = this.run().catch((error: unknown) => {
      // run() handles its own errors; reaching here is a bug, and it must be loud.
      this.logger.error({ ...this.logFields(), ...errorFields(error) }, 'informer loop crashed');
      this.settleSynced?.reject(error instanceof Error ? error : new Error(String(error)));
    });
    return this.syncedPromise;
  }

  /** Stops watching and timers; resolves when no request is in flight. Idempotent. */
  async stop(): Promise<void> {
    if (!this.stopped) {
      this.stopped = true;
      this.stopController.abort();
      this.currentRequest?.abort();
      if (this.resyncTimer) this.clock.clearTimeout(this.resyncTimer);
      this.resyncTimer = undefined;
      if (!this.synced) this.settleSynced?.reject(new Error(`informer for ${this.options.path} was stopped before it synced`));
      this.logger.info(this.logFields(), 'informer stopped');
    }
    await this.running;
  }

  hasSynced(): boolean {
    return this.synced;
  }

  get(key: string): T | undefined {
    return this.cache.get(key);
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  /** The resourceVersion the next watch resumes from. */
  lastResourceVersion(): string {
    return this.resourceVersion;
  }

  /** Adds handlers; if the cache is already synced they first get an add for
   * every cached object, as if they had been there from the start. */
  addHandlers(handlers: InformerHandlers<T>): () => void {
    this.handlers.push(handlers);
    if (this.synced) for (const object of this.cache.values()) this.call(handlers, 'onAdd', object);
    return () => {
      const index = this.handlers.indexOf(handlers);
      if (index >= 0) this.handlers.splice(index, 1);
    };
  }

  private async run(): Promise<void> {
    let relistReason: RelistReason | undefined = 'initial';
    let failures = 0;
    let expiredInARow = 0;
    const wait = async (why: string, error?: unknown) => {
      failures++;
      const delayMs = backoffDelay(failures, this.backoff, this.random);
      this.logger.warn({ ...this.logFields(), ...(error === undefined ? {} : errorFields(error)), failures, delayMs }, why);
      await sleep(this.clock, delayMs, this.stopController.signal);
    };

    while (!this.stopped) {
      if (relistReason) {
        try {
          await this.relist(relistReason);
          relistReason = undefined;
        } catch (error) {
          if (this.stopped) break;
          await wait('list failed; retrying after backoff', error);
          continue;
        }
      }

      const outcome = await this.watchOnce();
      if (outcome.kind === 'stopped') break;
      this.options.metrics?.watchRestart?.(outcome.kind);
      // Failures count up until a watch delivers something, so a server that
      // accepts lists but fails every watch is retried ever more slowly.
      if (outcome.sawEvents) failures = 0;
      if (outcome.kind !== 'expired') expiredInARow = 0;
      switch (outcome.kind) {
        case 'ended':
          if (outcome.healthy) this.logger.debug(this.logFields(), 'watch ended by the server; reconnecting');
          else await wait('watch ended at once without events; reconnecting after backoff');
          break;
        case 'expired':
          // A watch resumed after a gap often finds its resourceVersion compacted:
          // relist at once. Again and again with no event between means the
          // server is in trouble; relisting in a tight loop would add to it.
          expiredInARow = outcome.sawEvents ? 1 : expiredInARow + 1;
          relistReason = 'expired';
          if (expiredInARow > 1) await wait('resourceVersion expired again right after a list; relisting after backoff');
          else this.logger.info(this.logFields(), 'resourceVersion expired (410 Gone); relisting');
          break;
        case 'stalled':
          this.logger.warn({ ...this.logFields(), stallTimeoutMs: this.stallTimeoutMs }, 'watch silent for too long; aborted, relisting');
          relistReason = 'stalled';
          break;
        case 'failed':
          await wait('watch failed; reconnecting after backoff', outcome.error);
          break;
      }
    }
  }

  /** Lists everything, then makes the cache equal to it. */
  private async relist(reason: RelistReason): Promise<void> {
    this.options.metrics?.relist?.(reason);
    const startedAt = this.clock.now();
    const { items, resourceVersion } = await this.listAllPages();
    if (this.stopped) return;
    this.replace(items, resourceVersion);
    this.logger.info({ ...this.logFields(), reason, objects: items.length, durationMs: this.clock.now() - startedAt }, 'listed');
  }

  /** All objects, page by page; the resourceVersion is the last page's, which
   * is the snapshot's (continue tokens keep all pages on one snapshot). */
  private async listAllPages(): Promise<{ items: T[]; resourceVersion: string }> {
    const items: T[] = [];
    let limit: number | undefined = this.options.pageSize ?? 500;
    let continueToken: string | undefined;
    for (;;) {
      const request = this.beginRequest(this.options.listTimeoutMs ?? 60_000, 'list page timed out');
      try {
        const page = await this.source.list(this.options.path, {
          labelSelector: this.options.labelSelector,
          fieldSelector: this.options.fieldSelector,
          limit,
          continueToken,
          signal: request.controller.signal,
        });
        items.push(...page.items);
        if (!page.continueToken) return { items, resourceVersion: page.resourceVersion };
        continueToken = page.continueToken;
      } catch (error) {
        if (continueToken && isResourceExpired(error) && !this.stopped) {
          // The continue token outlived its snapshot; like client-go's pager,
          // fall back to one unpaginated list.
          this.logger.info(this.logFields(), 'list continue token expired; listing again in one page');
          items.length = 0;
          continueToken = undefined;
          limit = undefined;
          continue;
        }
        throw request.timedOut() ? new Error('list page timed out', { cause: error }) : error;
      } finally {
        request.end();
      }
    }
  }

  /** One watch from the current resourceVersion, until it ends one way or another. */
  private async watchOnce(): Promise<WatchOutcome> {
    const request = this.beginRequest(this.stallTimeoutMs, 'watch stalled');
    const startedAt = this.clock.now();
    let sawEvents = false;
    let errorEvent: V1Status | undefined;
    let failure: unknown;
    try {
      await this.source.watch(this.options.path, {
        resourceVersion: this.resourceVersion,
        timeoutSeconds: this.watchTimeoutSeconds,
        labelSelector: this.options.labelSelector,
        fieldSelector: this.options.fieldSelector,
        signal: request.controller.signal,
      }, (event) => {
        // Events still buffered from a watch already given up on are stale.
        if (request.controller.signal.aborted || this.stopped) return;
        this.options.metrics?.event?.(event.type);
        if (event.type === 'ERROR') {
          errorEvent = event.object;
          request.controller.abort();
          return;
        }
        sawEvents = true;
        request.restartTimer();
        this.apply(event);
      });
    } catch (error) {
      failure = error;
    } finally {
      request.end();
    }
    if (this.stopped) return { kind: 'stopped' };
    if (errorEvent) {
      if (isResourceExpired(errorEvent)) return { kind: 'expired', sawEvents };
      const message = `watch ERROR event: ${errorEvent.message ?? errorEvent.reason ?? 'no message'}`;
      return { kind: 'failed', sawEvents, error: new KubeApiError(message, errorEvent.code ?? 0, errorEvent) };
    }
    if (request.timedOut()) return { kind: 'stalled', sawEvents };
    if (failure !== undefined) {
      return isResourceExpired(failure) ? { kind: 'expired', sawEvents } : { kind: 'failed', sawEvents, error: failure };
    }
    const healthy = sawEvents || this.clock.now() - startedAt >= (this.options.minHealthyWatchMs ?? 1_000);
    return { kind: 'ended', sawEvents, healthy };
  }

  private apply(event: WatchEvent<T>): void {
    if (event.type === 'ERROR') return;
    const object = event.type === 'BOOKMARK' ? event.object : this.transform(event.object);
    const resourceVersion = object.metadata?.resourceVersion;
    if (event.type === 'BOOKMARK') {
      if (resourceVersion) this.resourceVersion = resourceVersion;
      return;
    }
    let key: string;
    try {
      key = objectKey(object);
    } catch (error) {
      this.logger.error({ ...this.logFields(), ...errorFields(error), eventType: event.type }, 'watch event without a name; ignored');
      return;
    }
    if (resourceVersion) this.resourceVersion = resourceVersion;
    const previous = this.cache.get(key);
    if (event.type === 'DELETED') {
      this.cache.delete(key);
      this.deliver('onDelete', object);
    } else {
      this.cache.set(key, object);
      if (previous) this.deliver('onUpdate', object, previous);
      else this.deliver('onAdd', object);
    }
  }

  /** The cache becomes `items`; handlers hear of each difference. */
  private replace(items: T[], resourceVersion: string): void {
    const previous = this.cache;
    const next = new Map<string, T>();
    for (const item of items) next.set(objectKey(item), this.transform(item));
    this.cache = next;
    this.resourceVersion = resourceVersion;
    for (const [key, object] of next) {
      const before = previous.get(key);
      if (!before) this.deliver('onAdd', object);
      else if (before.metadata?.resourceVersion !== object.metadata?.resourceVersion) this.deliver('onUpdate', object, before);
    }
    for (const [key, object] of previous) {
      if (!next.has(key)) this.deliver('onDelete', object);
    }
    if (!this.synced) {
      this.synced = true;
      this.settleSynced?.resolve();
      this.scheduleResync();
    }
  }

  private transform(object: T): T {
    return this.options.transform ? this.options.transform(object) : object;
  }

  private scheduleResync(): void {
    if (this.resyncMs <= 0 || this.stopped) return;
    this.resyncTimer = this.clock.setTimeout(() => {
      this.resyncTimer = undefined;
      if (this.stopped) return;
      this.logger.debug({ ...this.logFields(), objects: this.cache.size }, 'resync');
      for (const object of this.cache.values()) this.deliver('onUpdate', object, object);
      this.scheduleResync();
    }, this.resyncMs);
  }

  /** A request's abort controller with a deadline (restartable by activity). */
  private beginRequest(timeoutMs: number, reason: string) {
    const controller = new AbortController();
    this.currentRequest = controller;
    if (this.stopped) controller.abort();
    let timer: TimerHandle | undefined;
    let timedOut = false;
    const restartTimer = () => {
      if (timer) this.clock.clearTimeout(timer);
      timer = this.clock.setTimeout(() => {
        timedOut = true;
        controller.abort(new Error(reason));
      }, timeoutMs);
    };
    restartTimer();
    return {
      controller,
      restartTimer,
      timedOut: () => timedOut,
      end: () => {
        if (timer) this.clock.clearTimeout(timer);
        timer = undefined;
        // Make sure no stream or socket of this request outlives it.
        controller.abort();
        if (this.currentRequest === controller) this.currentRequest = undefined;
      },
    };
  }

  private deliver(kind: 'onAdd' | 'onDelete', object: T): void;
  private deliver(kind: 'onUpdate', object: T, previous: T): void;
  private deliver(kind: keyof InformerHandlers<T>, object: T, previous?: T): void {
    for (const handlers of [...this.handlers]) this.call(handlers, kind, object, previous);
  }

  /** A throwing handler is logged and must not stop the informer or other handlers. */
  private call(handlers: InformerHandlers<T>, kind: keyof InformerHandlers<T>, object: T, previous?: T): void {
    try {
      if (kind === 'onUpdate') handlers.onUpdate?.(object, previous ?? object);
      else handlers[kind]?.(object);
    } catch (error) {
      this.logger.error({ ...this.logFields(), ...errorFields(error), handler: kind, key: safeKey(object) }, 'informer handler threw');
    }
  }

  private logFields() {
    return {
      informer: this.options.path,
      ...(this.options.labelSelector ? { labelSelector: this.options.labelSelector } : {}),
      resourceVersion: this.resourceVersion,
    };
  }
}

function safeKey(object: KubernetesObject): string {
  try {
    return objectKey(object);
  } catch {
    return '(no name)';
  }
}
