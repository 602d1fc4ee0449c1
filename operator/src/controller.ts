// Wires watches to the work queue: a change to a task, or to a Job or pod the
// operator made for it, queues the task's key; workers reconcile keys, never
// two on one key. The same informers are the reconciler's cache (cluster-cache.ts).
import type { KubernetesObject } from '@kubernetes/client-node';
import type { ClusterCache } from './cluster-cache.ts';
import { WorkQueue } from './kube/work-queue.ts';
import type { Logger } from './logger.ts';
import type { OperatorMetrics } from './metrics.ts';
import { taskNameAnnotation, taskNameLabel } from './names.ts';
import type { TaskReconciler } from './task-reconciler.ts';

export interface ControllerDeps {
  cache: ClusterCache;
  reconciler: Pick<TaskReconciler, 'reconcile'>;
  metrics: OperatorMetrics;
  log: Logger;
  /** Reconciles at once (OPERATOR_WORKERS). */
  concurrency: number;
}

export class TaskController {
  private readonly deps: ControllerDeps;
  private readonly queue: WorkQueue;
  private running: Promise<void> | undefined;

  constructor(deps: ControllerDeps) {
    this.deps = deps;
    this.queue = new WorkQueue({
      name: 'claudetasks',
      logger: deps.log,
      rateLimit: { initialMs: 200, maxMs: 60_000 },
      metrics: {
        depth: (queued) => deps.metrics.queueDepth.set(queued),
        processed: (_key, outcome, ms) => {
          deps.metrics.reconciles.inc({ outcome });
          deps.metrics.reconcileSeconds.observe(ms / 1000);
        },
      },
    });
    const taskKey = (object: KubernetesObject) => `${object.metadata?.namespace}/${object.metadata?.name}`;
    const ownerTaskKey = (object: KubernetesObject) => {
      // The label is enough for Jobs made before the annotation existed (names of up to 63 characters).
      const task = object.metadata?.annotations?.[taskNameAnnotation] ?? object.metadata?.labels?.[taskNameLabel];
      return task ? `${object.metadata?.namespace}/${task}` : undefined;
    };
    this.enqueueOn(deps.cache.tasks, taskKey);
    this.enqueueOn(deps.cache.jobs, ownerTaskKey);
    this.enqueueOn(deps.cache.pods, ownerTaskKey);
  }

  private enqueueOn<T extends KubernetesObject>(informer: { addHandlers(handlers: { onAdd(o: T): void; onUpdate(o: T): void; onDelete(o: T): void }): unknown },
    keyOf: (object: T) => string | undefined): void {
    const enqueue = (object: T) => {
      const key = keyOf(object);
      if (key) this.queue.add(key);
    };
    informer.addHandlers({ onAdd: enqueue, onUpdate: enqueue, onDelete: enqueue });
  }

  /** Starts the watches, waits until every cache has its first list, then the workers. */
  async start(): Promise<void> {
    await this.deps.cache.start();
    this.deps.log.info({ workers: this.deps.concurrency }, 'watches synced');
    this.running = this.queue.run(this.deps.concurrency, async (key) => {
      try {
        return await this.deps.reconciler.reconcile(key);
      } catch (error) {
        this.deps.log.warn({ key, err: error instanceof Error ? error.message : String(error) }, 'reconcile failed');
        throw error;
      }
    });
  }

  /** Idempotent: stops the workers (letting in-flight reconciles finish) and the watches. */
  async stop(): Promise<void> {
    await this.queue.shutDown({ drain: false });
    await this.running;
    await this.deps.cache.stop();
  }
}
