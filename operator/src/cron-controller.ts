// The ClaudeCronTask controller: gather (the cron task and the tasks it owns,
// from the caches), decide (cron-schedule.ts, pure), apply (create, cancel,
// prune, status; each idempotent, so a pass repeated after a crash is harmless).
// A change to a task it owns queues the cron task; otherwise it wakes when the
// next slot is due.
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { isDeepStrictEqual } from 'node:util';
import { claudeCronTaskKind, claudeCronTaskPlural, type ClaudeCronTask, type ClaudeCronTaskStatus } from '../../crds/src/claude-cron-task.ts';
import { claudeTaskKind, claudeTaskPlural, group, version, type ClaudeTask } from '../../crds/src/claude-task.ts';
import { apiServerMessage, isPermanentApiError, statusCode } from '../../packages/platform/src/kube-errors.ts';
import type { Logger } from '../../packages/platform/src/logger.ts';
import type { ClusterCache } from './cluster-cache.ts';
import { decideCron } from './cron-schedule.ts';
import type { EventRecorder } from './event-recorder.ts';
import type { KubeClients } from './kube-clients.ts';
import type { ControllerDefinition, ReconcileResult } from './manager.ts';
import { keysOfOwner, ownKey } from './watch-keys.ts';

export const cronControllerName = 'claudecrontasks';
/** On every task it makes: `kubectl get ctask -l claude-operator.io/cron-task=<name>`. */
export const cronTaskLabel = 'claude-operator.io/cron-task';
/** The slot a task was made for (RFC 3339). */
export const scheduledTimeAnnotation = 'claude-operator.io/scheduled-time';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
/** Woken this much after a slot is due, so the clock has surely passed it. */
const slotSlackMs = 250;

export interface CronReconcilerDeps {
  clients: Pick<KubeClients, 'custom'>;
  cache: Pick<ClusterCache, 'cronTask' | 'tasksOwnedBy'>;
  recorder: Pick<EventRecorder, 'record'>;
  log: Logger;
  now?: () => Date;
}

export class CronReconciler {
  private readonly deps: CronReconcilerDeps;

  constructor(deps: CronReconcilerDeps) {
    this.deps = deps;
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const [namespace = '', name = ''] = key.split('/');
    const cron = this.deps.cache.cronTask(namespace, name);
    if (!cron || cron.metadata.deletionTimestamp) return {};
    const decision = decideCron({ cron, tasks: this.deps.cache.tasksOwnedBy(namespace, cron.metadata.uid ?? ''), now: this.deps.now?.() ?? new Date() });
    const status = { ...decision.status };

    for (const task of decision.cancel) await this.patchTask(namespace, task, { spec: { cancel: true } }, 'cancelling (concurrencyPolicy Replace)');
    if (decision.create) {
      const problem = await this.createTask(cron, decision.create.name, decision.create.slot);
      // The slot counts as acted on either way: a task the apiserver refuses would be refused at every pass.
      if (problem) status.message = problem;
    }
    if (decision.skipped) {
      const message = `skipped the slot of ${decision.skipped.toISOString()}: a task still runs (concurrencyPolicy Forbid)`;
      this.deps.log.info({ cron: key, slot: decision.skipped.toISOString() }, 'slot skipped');
      this.deps.recorder.record(cron, 'Normal', 'SlotSkipped', message, claudeCronTaskKind);
    }
    for (const task of decision.prune) await this.deleteTask(namespace, task);
    if (!isDeepStrictEqual(normalize(status), normalize(cron.status))) await this.writeStatus(cron, status);
    return decision.requeueAfterMs === undefined ? {} : { requeueAfterMs: decision.requeueAfterMs + slotSlackMs };
  }

  /** Undefined once the task exists (made now or on an earlier pass); otherwise why the apiserver refused it. */
  private async createTask(cron: ClaudeCronTask, name: string, slot: Date): Promise<string | undefined> {
    const namespace = cron.metadata.namespace ?? '';
    const template = cron.spec.taskTemplate;
    const body: ClaudeTask = {
      apiVersion: `${group}/${version}`,
      kind: claudeTaskKind,
      metadata: {
        name, namespace,
        labels: { ...template.metadata?.labels, [cronTaskLabel]: cron.metadata.name ?? '' },
        annotations: { ...template.metadata?.annotations, [scheduledTimeAnnotation]: slot.toISOString() },
        ownerReferences: [{
          apiVersion: `${group}/${version}`, kind: claudeCronTaskKind, name: cron.metadata.name ?? '', uid: cron.metadata.uid ?? '',
          controller: true, blockOwnerDeletion: true,
        }],
      },
      spec: template.spec,
    };
    try {
      await this.deps.clients.custom.createNamespacedCustomObject({ group, version, namespace, plural: claudeTaskPlural, body });
      this.deps.log.info({ cron: `${namespace}/${cron.metadata.name}`, task: name, slot: slot.toISOString() }, 'task made for slot');
      this.deps.recorder.record(cron, 'Normal', 'TaskCreated', `made task ${name} for the slot of ${slot.toISOString()}`, claudeCronTaskKind);
      return undefined;
    } catch (error) {
      // 409: an earlier pass (maybe of an operator since restarted) made it; the name is the slot's.
      if (statusCode(error) === 409) return undefined;
      if (isPermanentApiError(error)) {
        const message = `the task for the slot of ${slot.toISOString()} was refused: ${apiServerMessage(error)}`;
        this.deps.recorder.record(cron, 'Warning', 'TaskRefused', message, claudeCronTaskKind);
        return message.slice(0, 1024);
      }
      throw error;
    }
  }

  private async patchTask(namespace: string, name: string, body: object, why: string): Promise<void> {
    this.deps.log.info({ namespace, task: name }, why);
    await this.deps.clients.custom.patchNamespacedCustomObject({ group, version, namespace, plural: claudeTaskPlural, name, body }, mergePatch)
      .catch((error: unknown) => {
        if (statusCode(error) !== 404) throw error;
      });
  }

  /** Past the history limit; the task's finalizer keeps its record in Postgres. */
  private async deleteTask(namespace: string, name: string): Promise<void> {
    this.deps.log.info({ namespace, task: name }, 'pruning a finished task past the history limit');
    await this.deps.clients.custom.deleteNamespacedCustomObject({ group, version, namespace, plural: claudeTaskPlural, name })
      .catch((error: unknown) => {
        if (statusCode(error) !== 404) throw error;
      });
  }

  private async writeStatus(cron: ClaudeCronTask, status: ClaudeCronTaskStatus): Promise<void> {
    // A merge patch leaves out what is absent: a message that went away is removed with null.
    const body = { status: { ...status, ...(status.message === undefined && cron.status?.message !== undefined ? { message: null } : {}) } };
    await this.deps.clients.custom.patchNamespacedCustomObjectStatus({
      group, version, namespace: cron.metadata.namespace ?? '', plural: claudeCronTaskPlural, name: cron.metadata.name ?? '', body,
    }, mergePatch);
  }
}

function normalize(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value ?? {}));
}

export function cronController(cache: ClusterCache, reconciler: Pick<CronReconciler, 'reconcile'>, workers: number): ControllerDefinition {
  return {
    name: cronControllerName,
    workers,
    reconcile: (key) => reconciler.reconcile(key),
    watches: [
      { source: cache.cronTasks, keysOf: ownKey },
      { source: cache.tasks, keysOf: keysOfOwner({ controllerKind: claudeCronTaskKind }) },
    ],
  };
}
