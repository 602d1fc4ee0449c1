// Names and labels the operator gives what it creates. Deterministic from the
// task, so a reconcile after a crash finds what an earlier one made.
import crypto from 'node:crypto';

export const managedByLabel = 'app.kubernetes.io/managed-by';
export const managedByValue = 'claude-operator';
export const taskNameLabel = 'claude-operator.io/task';
export const taskUidLabel = 'claude-operator.io/task-uid';
export const finalizerName = 'claude-operator.io/record';

/** `<task name, cut>-<8 hex of the uid>`: at most 63 characters, so it fits the
 * job-name label, and never the same for a task recreated with the same name. */
export function jobNameFor(taskName: string, taskUid: string): string {
  const suffix = crypto.createHash('sha256').update(taskUid).digest('hex').slice(0, 8);
  const base = taskName.slice(0, 63 - suffix.length - 1).replace(/[-.]+$/, '');
  return `${base}-${suffix}`;
}

/** The Secret that carries the task's spec to its pod. */
export function specSecretNameFor(jobName: string): string {
  return `${jobName}-spec`;
}
