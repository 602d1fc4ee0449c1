// Names and labels the operator gives what it creates. Deterministic from the
// task, so a reconcile after a crash finds what an earlier one made.
import crypto from 'node:crypto';

export const managedByLabel = 'app.kubernetes.io/managed-by';
export const managedByValue = 'claude-operator';
/** The task's name when it fits a label value (63 characters), else a short form of it: see taskLabelValue. */
export const taskNameLabel = 'claude-operator.io/task';
export const taskUidLabel = 'claude-operator.io/task-uid';
/** The task's full name, on everything the operator makes for it: object names may
 * be 253 characters long, label values only 63. */
export const taskNameAnnotation = 'claude-operator.io/task-name';
export const finalizerName = 'claude-operator.io/record';
/** Held by the notifications controller while a task with webhooks has deliveries to make, so a task deleted
 * just after it ends (or while it runs) still sends its CloudEvent; bounded by WEBHOOK_DELETE_GRACE_SECONDS. */
export const notifyFinalizerName = 'claude-operator.io/notify';

const maxLabelValue = 63;

function shortHash(text: string): string {
  return crypto.createHash('sha256').update(text).digest('hex').slice(0, 8);
}

/** `<task name, cut>-<8 hex of the uid>`: at most 63 characters, so it fits the
 * job-name label, and never the same for a task recreated with the same name. */
export function jobNameFor(taskName: string, taskUid: string): string {
  const suffix = shortHash(taskUid);
  const base = taskName.slice(0, maxLabelValue - suffix.length - 1).replace(/[-.]+$/, '');
  return `${base}-${suffix}`;
}

/** The task's name as a label value: the name itself when it fits, otherwise
 * its first characters and 8 hex of the whole name, so `-l claude-operator.io/task=<name>`
 * still works for every name a person is likely to type. */
export function taskLabelValue(taskName: string): string {
  if (taskName.length <= maxLabelValue) return taskName;
  const suffix = shortHash(taskName);
  return `${taskName.slice(0, maxLabelValue - suffix.length - 1).replace(/[-.]+$/, '')}-${suffix}`;
}

/** The Secret that carries the task's spec to its pod. */
export function specSecretNameFor(jobName: string): string {
  return `${jobName}-spec`;
}

/** On a session's Jobs, pods, PVC and Secrets: the session's name (cut as taskLabelValue cuts) and uid. */
export const sessionNameLabel = 'claude-operator.io/session';
export const sessionUidLabel = 'claude-operator.io/session-uid';
/** The session's full name: the controller maps Jobs and pods back to their session by it. */
export const sessionNameAnnotation = 'claude-operator.io/session-name';
/** The activation a Job is (1, 2, ...). */
export const sessionActivationAnnotation = 'claude-operator.io/activation';
/** Held until the session's history is in Postgres and its Redis keys and PVC are gone. */
export const sessionFinalizerName = 'claude-operator.io/session-history';

/** `<session name>-<activation>`, the name cut so it fits the job-name label (63 characters). */
export function sessionJobName(sessionName: string, activation: number): string {
  const suffix = `-${activation}`;
  return `${sessionName.slice(0, maxLabelValue - suffix.length).replace(/[-.]+$/, '')}${suffix}`;
}

/** The PVC the operator makes for a session that names none. */
export function sessionPvcName(sessionName: string): string {
  return `${sessionName.slice(0, 253 - '-session'.length)}-session`;
}
