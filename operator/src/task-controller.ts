// The ClaudeTask controller, as the manager runs it: a change to a task, or to a
// Job or pod the operator made for it, queues the task's key. A task that ends
// or goes, and any change to a ClaudePolicy, also queue every Queued task: room
// may have freed up under a concurrency limit, or a budget been raised (a
// policy that went frees its tasks too, so that watch asks for all of them);
// a policy's status write does not.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { ClusterCache } from './cluster-cache.ts';
import type { ControllerDefinition } from './manager.ts';
import { taskNameAnnotation, taskNameLabel } from './names.ts';
import type { TaskReconciler } from './task-reconciler.ts';
import { generationChanged, keysOfOwner, ownKey } from './watch-keys.ts';
import type { ConcurrencyGate } from './policy/concurrency-gate.ts';
import { terminalPhases, type ClaudeTask } from '../../crds/src/claude-task.ts';

export const taskControllerName = 'claudetasks';

export function taskController(cache: ClusterCache, reconciler: Pick<TaskReconciler, 'reconcile'>, workers: number,
  gate: Pick<ConcurrencyGate, 'queuedKeys' | 'allQueuedKeys'>): ControllerDefinition {
  const taskKey = (object: KubernetesObject) => {
    const phase = (object as ClaudeTask).status?.phase;
    const freesRoom = object.metadata?.deletionTimestamp !== undefined || (phase !== undefined && terminalPhases.has(phase));
    return freesRoom ? [...ownKey(object), ...gate.queuedKeys()] : ownKey(object);
  };
  // The label is enough for Jobs made before the annotation existed (names of up to 63 characters).
  const ownerTaskKey = keysOfOwner({ annotation: taskNameAnnotation, label: taskNameLabel });
  return {
    name: taskControllerName,
    workers,
    reconcile: (key) => reconciler.reconcile(key),
    watches: [
      { source: cache.tasks, keysOf: taskKey },
      { source: cache.jobs, keysOf: ownerTaskKey },
      { source: cache.pods, keysOf: ownerTaskKey },
      // Only a policy's spec can free its tasks: its status (written by the operator itself) cannot.
      { source: cache.policies, keysOf: () => gate.allQueuedKeys(), updateMatters: generationChanged },
    ] as ControllerDefinition['watches'],
  };
}
