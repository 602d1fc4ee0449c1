// Which waiting tasks may start now under the ClaudePolicies' concurrency
// limits, and the place of those that may not. Pure: it is decided again from
// the cache on every pass, so an operator that restarts decides the same and
// never starts two over a limit (a task counts as running from the moment its
// Job exists, and the Job is made only for an admitted task).
//
// Every policy selecting a task's namespace applies (the strictest wins): a
// task starts only if, for each, its namespace and its creator are under the
// policy's limits, counted over the namespaces that policy selects. Waiting
// tasks are taken by spec.priority (higher first, default 0), then oldest
// first, then by name; one that fits starts even when an earlier one is held
// by its own user's limit.

export interface ConcurrencyPolicy {
  name: string;
  selects(namespace: string): boolean;
  maxTasksPerNamespace?: number;
  maxTasksPerUser?: number;
}

export interface TaskForQueue {
  /** `namespace/name` */
  key: string;
  namespace: string;
  name: string;
  /** The creator (claude-operator.io/created-by); tasks without one count only against namespace limits. */
  user?: string;
  priority?: number;
  createdAt: string;
  /** Started: it has a Job and has not finished. */
  running: boolean;
}

export type QueueDecision =
  | { key: string; admit: true }
  | { key: string; admit: false; reason: 'QuotaExceeded'; place: number; message: string };

/** How the messages name what is limited: tasks (maxTasksPerNamespace, maxTasksPerUser), or sessions, whose per-user
 * limit is maxSessionsPerUser (given as the policy's maxTasksPerUser) and which have no per-namespace one. */
export interface LimitNames { noun: string; perNamespace: string; perUser: string }
export const taskLimitNames: LimitNames = { noun: 'tasks', perNamespace: 'maxTasksPerNamespace', perUser: 'maxTasksPerUser' };
export const sessionLimitNames: LimitNames = { noun: 'sessions', perNamespace: 'maxSessionsPerNamespace', perUser: 'maxSessionsPerUser' };

export function queueOrder(a: TaskForQueue, b: TaskForQueue): number {
  return (b.priority ?? 0) - (a.priority ?? 0) || Date.parse(a.createdAt) - Date.parse(b.createdAt) || a.key.localeCompare(b.key);
}

/** A decision for each task that is not running, in queue order. */
export function decideAdmissions(tasks: readonly TaskForQueue[], policies: readonly ConcurrencyPolicy[], names: LimitNames = taskLimitNames): QueueDecision[] {
  const limiting = policies.filter((p) => p.maxTasksPerNamespace !== undefined || p.maxTasksPerUser !== undefined);
  const perNamespace = new Map<string, number>();
  const perUser = new Map<string, number>(); // by policy and user
  const userKey = (policy: ConcurrencyPolicy, user: string) => `${policy.name}\u0000${user}`;
  const count = (task: TaskForQueue) => {
    perNamespace.set(task.namespace, (perNamespace.get(task.namespace) ?? 0) + 1);
    if (task.user === undefined) return;
    for (const policy of limiting) {
      if (policy.selects(task.namespace)) perUser.set(userKey(policy, task.user), (perUser.get(userKey(policy, task.user)) ?? 0) + 1);
    }
  };
  for (const task of tasks) if (task.running) count(task);

  const decisions: QueueDecision[] = [];
  const places = new Map<string, number>();
  for (const task of tasks.filter((t) => !t.running).sort(queueOrder)) {
    const blocking = limiting.filter((policy) => policy.selects(task.namespace)).map((policy) => blockedBy(policy, task)).find((why) => why !== undefined);
    if (!blocking) {
      count(task);
      decisions.push({ key: task.key, admit: true });
      continue;
    }
    const place = (places.get(task.namespace) ?? 0) + 1;
    places.set(task.namespace, place);
    decisions.push({ key: task.key, admit: false, reason: 'QuotaExceeded', place, message: `${blocking}; place ${place} in the queue of namespace ${task.namespace}` });
  }
  return decisions;

  function blockedBy(policy: ConcurrencyPolicy, task: TaskForQueue): string | undefined {
    const inNamespace = perNamespace.get(task.namespace) ?? 0;
    if (policy.maxTasksPerNamespace !== undefined && inNamespace >= policy.maxTasksPerNamespace) {
      return `ClaudePolicy ${policy.name} allows ${policy.maxTasksPerNamespace} running ${names.noun} per namespace (${names.perNamespace}), ${inNamespace} are running`;
    }
    if (task.user === undefined || policy.maxTasksPerUser === undefined) return undefined;
    const ofUser = perUser.get(userKey(policy, task.user)) ?? 0;
    if (ofUser >= policy.maxTasksPerUser) {
      return `ClaudePolicy ${policy.name} allows ${policy.maxTasksPerUser} running ${names.noun} per user (${names.perUser}), ${task.user} has ${ofUser}`;
    }
    return undefined;
  }
}
