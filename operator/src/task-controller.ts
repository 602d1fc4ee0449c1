// The ClaudeTask controller, as the manager runs it: a change to a task, or to a
// Job or pod the operator made for it, queues the task's key.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { ClusterCache } from './cluster-cache.ts';
import type { ControllerDefinition } from './manager.ts';
import { taskNameAnnotation, taskNameLabel } from './names.ts';
import type { TaskReconciler } from './task-reconciler.ts';

export const taskControllerName = 'claudetasks';

export function taskController(cache: ClusterCache, reconciler: Pick<TaskReconciler, 'reconcile'>, workers: number): ControllerDefinition {
  const taskKey = (object: KubernetesObject) => [`${object.metadata?.namespace}/${object.metadata?.name}`];
  const ownerTaskKey = (object: KubernetesObject) => {
    // The label is enough for Jobs made before the annotation existed (names of up to 63 characters).
    const task = object.metadata?.annotations?.[taskNameAnnotation] ?? object.metadata?.labels?.[taskNameLabel];
    return task ? [`${object.metadata?.namespace}/${task}`] : [];
  };
  return {
    name: taskControllerName,
    workers,
    reconcile: (key) => reconciler.reconcile(key),
    watches: [
      { source: cache.tasks, keysOf: taskKey },
      { source: cache.jobs, keysOf: ownerTaskKey },
      { source: cache.pods, keysOf: ownerTaskKey },
    ] as ControllerDefinition['watches'],
  };
}
