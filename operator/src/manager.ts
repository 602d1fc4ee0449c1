// One manager for every kind the operator reconciles, as controller-runtime has:
// the caches (shared informers) start first and must hold their first lists;
// then each controller runs its own work queue and workers. A controller says
// which objects' changes queue which of its keys (its watches); the manager
// wires them, so a Job's change can wake the task that owns it, and a policy's
// change every task it selects.
//
// Leader election stays outside: main.ts starts the manager once it leads.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from './kube/logger.ts';
import type { InformerHandlers } from './kube/informer.ts';
import { PermanentError, RetrySoonError, WorkQueue, type RateLimitOptions, type WorkResult } from './kube/work-queue.ts';
import type { OperatorMetrics } from './metrics.ts';

/** What a reconcile returns (controller-runtime's Result): nothing, or when to look again. Throw PermanentError for a terminal error, anything else to retry with backoff. */
export type ReconcileResult = WorkResult;

/** Anything whose changes can queue keys: an Informer, in practice. */
export interface WatchSource<T extends KubernetesObject> {
  addHandlers(handlers: InformerHandlers<T>): unknown;
}

export interface Watch<T extends KubernetesObject = KubernetesObject> {
  source: WatchSource<T>;
  /** The keys (`namespace/name`, or `name` for a cluster-scoped kind) to reconcile when `object` changes. */
  keysOf(object: T): Iterable<string>;
  /** An update this says false of queues nothing (controller-runtime's predicates, e.g. generationChanged). */
  updateMatters?(object: T, previous: T): boolean;
}

export interface ControllerDefinition {
  /** The plural of the kind it reconciles: the queue's name and the metrics' `controller` label. */
  name: string;
  /** Reconciles at once; never two on one key. */
  workers: number;
  reconcile(key: string): Promise<ReconcileResult | void>;
  watches: Watch[];
  rateLimit?: RateLimitOptions;
}

/** Started before any controller, stopped after the last. */
export interface Cache {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface ManagerDeps {
  caches: Cache[];
  metrics: OperatorMetrics;
  log: Logger;
  /** How soon a reconcile that failed on something mending by itself must be retried (in ms), or undefined
   * for the usual backoff: e.g. Postgres unreachable, whose return should not wait out a minute of backoff. */
  retrySoon?: (error: unknown) => number | undefined;
}

interface RunningController {
  definition: ControllerDefinition;
  queue: WorkQueue;
  running?: Promise<void>;
}

export class Manager {
  private readonly deps: ManagerDeps;
  private readonly controllers = new Map<string, RunningController>();
  private started = false;
  private stopping: Promise<void> | undefined;

  constructor(deps: ManagerDeps) {
    this.deps = deps;
  }

  /** Registers a controller; its watches queue keys from now on, its workers run once start() has synced the caches. */
  add<T extends KubernetesObject>(definition: ControllerDefinition & { watches: Array<Watch<T>> }): void {
    if (this.started) throw new Error(`controller ${definition.name} added after the manager started`);
    if (this.controllers.has(definition.name)) throw new Error(`controller ${definition.name} is already registered`);
    const { metrics, log } = this.deps;
    const controller = definition.name;
    const queue = new WorkQueue({
      name: controller,
      logger: log,
      rateLimit: definition.rateLimit ?? { initialMs: 200, maxMs: 60_000 },
      metrics: {
        depth: (queued) => metrics.queueDepth.set({ controller }, queued),
        waited: (_key, ms) => metrics.queueWaitSeconds.observe({ controller }, ms / 1000),
        processed: (_key, outcome, ms) => {
          metrics.reconciles.inc({ controller, outcome });
          metrics.reconcileSeconds.observe({ controller }, ms / 1000);
        },
      },
    });
    for (const watch of definition.watches as Watch[]) {
      const enqueue = (object: KubernetesObject) => {
        for (const key of watch.keysOf(object)) queue.add(key);
      };
      const onUpdate = (object: KubernetesObject, previous: KubernetesObject) => {
        if (watch.updateMatters?.(object, previous) ?? true) enqueue(object);
      };
      watch.source.addHandlers({ onAdd: enqueue, onUpdate, onDelete: enqueue });
    }
    this.controllers.set(controller, { definition: definition as ControllerDefinition, queue });
  }

  /** Queues `key` for `controller` now: for a change the watches do not see (a message, a timer of another controller). */
  enqueue(controller: string, key: string): void {
    const registered = this.controllers.get(controller);
    if (!registered) throw new Error(`no controller ${controller}`);
    registered.queue.add(key);
  }

  /** Starts the caches, waits until each holds its first list, then every controller's workers. */
  async start(): Promise<void> {
    if (this.started) throw new Error('the manager is already started');
    this.started = true;
    await Promise.all(this.deps.caches.map((cache) => cache.start()));
    for (const registered of this.controllers.values()) {
      const { definition, queue } = registered;
      registered.running = queue.run(definition.workers, async (key) => {
        try {
          return (await definition.reconcile(key)) ?? undefined;
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          this.deps.log.warn({ controller: definition.name, key, err: message }, 'reconcile failed');
          const soonMs = error instanceof PermanentError ? undefined : this.deps.retrySoon?.(error);
          throw soonMs === undefined ? error : new RetrySoonError(message, soonMs, { cause: error });
        }
      });
    }
    this.deps.log.info({ controllers: [...this.controllers.values()].map(({ definition }) => ({ name: definition.name, workers: definition.workers })) },
      'caches synced; controllers running');
  }

  /** Idempotent: stops every queue (in-flight reconciles finish), then the caches. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const controllers = [...this.controllers.values()];
      await Promise.all(controllers.map(({ queue }) => queue.shutDown({ drain: false })));
      await Promise.all(controllers.map(({ running }) => running));
      await Promise.all(this.deps.caches.map((cache) => cache.stop().catch(() => undefined)));
    })();
    return this.stopping;
  }
}
