// Wires watches to the work queue: a change to a task, or to a Job or pod the
// operator made for it, queues the task's key; workers reconcile keys, never
// two on one key.
import type { KubernetesObject } from '@kubernetes/client-node';
import { claudeTaskPlural, group, version } from '../../crds/src/claude-task.ts';
import type { OperatorConfig } from './config.ts';
import { Informer } from './kube/informer.ts';
import { WorkQueue } from './kube/work-queue.ts';
import type { KubeClients } from './kube-clients.ts';
import type { Logger } from '../../packages/platform/src/logger.ts';
import type { OperatorMetrics } from './metrics.ts';
import { managedByLabel, managedByValue, taskNameAnnotation, taskNameLabel } from './names.ts';
import type { TaskReconciler } from './task-reconciler.ts';

export interface ControllerDeps {
  clients: KubeClients;
  config: OperatorConfig;
  reconciler: TaskReconciler;
  metrics: OperatorMetrics;
  log: Logger;
  concurrency?: number;
}

export class TaskController {
  private readonly deps: ControllerDeps;
  private readonly queue: WorkQueue;
  private readonly informers: Array<Informer<KubernetesObject>> = [];
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
  }

  async start(): Promise<void> {
    const namespace = this.deps.config.WATCH_NAMESPACE;
    const scoped = (base: string, resource: string) => (namespace ? `${base}/namespaces/${namespace}/${resource}` : `${base}/${resource}`);
    const managed = `${managedByLabel}=${managedByValue}`;
    const taskKey = (object: KubernetesObject) => `${object.metadata?.namespace}/${object.metadata?.name}`;
    const ownerTaskKey = (object: KubernetesObject) => {
      // The label is enough for Jobs made before the annotation existed (names of up to 63 characters).
      const task = object.metadata?.annotations?.[taskNameAnnotation] ?? object.metadata?.labels?.[taskNameLabel];
      return task ? `${object.metadata?.namespace}/${task}` : undefined;
    };
    this.watch('claudetasks', scoped(`/apis/${group}/${version}`, claudeTaskPlural), undefined, taskKey);
    this.watch('jobs', scoped('/apis/batch/v1', 'jobs'), managed, ownerTaskKey);
    this.watch('pods', scoped('/api/v1', 'pods'), managed, ownerTaskKey);
    await Promise.all(this.informers.map((informer) => informer.start()));
    this.deps.log.info({ namespace: namespace ?? '(all)' }, 'watches synced');
    this.running = this.queue.run(this.deps.concurrency ?? 4, async (key) => {
      try {
        return await this.deps.reconciler.reconcile(key);
      } catch (error) {
        this.deps.log.warn({ key, err: error instanceof Error ? error.message : String(error) }, 'reconcile failed');
        throw error;
      }
    });
  }

  private watch(resource: string, path: string, labelSelector: string | undefined, keyOf: (o: KubernetesObject) => string | undefined) {
    const enqueue = (object: KubernetesObject) => {
      const key = keyOf(object);
      if (key) this.queue.add(key);
    };
    this.informers.push(new Informer<KubernetesObject>({
      path,
      kubeConfig: this.deps.clients.config,
      logger: this.deps.log,
      ...(labelSelector ? { labelSelector } : {}),
      resyncMs: 5 * 60_000,
      handlers: { onAdd: enqueue, onUpdate: enqueue, onDelete: enqueue },
      metrics: {
        event: (type) => this.deps.metrics.watchEvents.inc({ resource, type }),
        relist: (reason) => this.deps.metrics.relists.inc({ resource, reason }),
      },
    }));
  }

  /** Idempotent: stops the workers (letting in-flight reconciles finish) and the watches. */
  async stop(): Promise<void> {
    await this.queue.shutDown({ drain: false });
    await this.running;
    await Promise.all(this.informers.map((informer) => informer.stop()));
  }
}
