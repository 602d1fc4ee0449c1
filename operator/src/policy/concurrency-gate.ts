// Where the task reconciler asks "may this task start now?" under the
// ClaudePolicies' concurrency limits. The decision itself is pure
// (concurrency.ts); this gathers its input from the cache and makes the
// decision and the Job's creation one step, so that two workers reconciling
// two tasks of one namespace never both start one over the limit.
//
// The cache lags behind the apiserver: a Job this process has just created may
// not be in it yet. Such a task counts as running from the moment it is
// admitted (`started`) until the cache shows its Job or its end. After a
// restart there is no such gap to cover: the manager starts reconciling only
// once the caches have synced, so every Job a previous process made is seen.
//
// Namespaces no limiting policy selects skip all of this: no lock, no count.
import type { V1Namespace } from '@kubernetes/client-node';
import type { ClaudePolicy } from '../../../crds/src/claude-policy.ts';
import { terminalPhases, type ClaudeTask } from '../../../crds/src/claude-task.ts';
import { decideAdmissions, type ConcurrencyPolicy, type QueueDecision, type TaskForQueue } from './concurrency.ts';
import { createdByAnnotation } from './identity-objects.ts';
import { selectorMatches } from './label-selector.ts';

/** What the gate reads: the operator's caches. */
export interface GateWorld {
  tasks(): ClaudeTask[];
  policies(): ClaudePolicy[];
  namespace(name: string): V1Namespace | undefined;
  /** The cache has the task's Job. */
  hasJob(task: ClaudeTask): boolean;
}

export type Admission = QueueDecision;

const keyOf = (task: ClaudeTask) => `${task.metadata.namespace}/${task.metadata.name}`;

export class ConcurrencyGate {
  private readonly world: GateWorld;
  /** Admitted by this process; counted as running until the cache shows the Job or the task's end. */
  private readonly started = new Set<string>();
  private lock: Promise<unknown> = Promise.resolve();

  constructor(world: GateWorld) {
    this.world = world;
  }

  /**
   * Runs `start` (which creates the task's Job) if the task may start now, and
   * says so; otherwise says why not and the task's place. Decisions and starts
   * under any limit are serialized.
   */
  async admit(task: ClaudeTask, start: () => Promise<void>): Promise<Admission> {
    const key = keyOf(task);
    if (this.limitingPolicies(task.metadata.namespace ?? '').length === 0) {
      await start();
      return { key, admit: true };
    }
    const turn = this.lock.then(() => this.decideAndStart(task, start));
    this.lock = turn.catch(() => undefined);
    return turn;
  }

  private async decideAndStart(task: ClaudeTask, start: () => Promise<void>): Promise<Admission> {
    const key = keyOf(task);
    const policies = this.concurrencyPolicies();
    const decision = decideAdmissions(this.queueOf(policies, key), policies).find((d) => d.key === key) ?? { key, admit: true as const };
    if (!decision.admit) return decision;
    this.started.add(key);
    try {
      await start();
    } catch (error) {
      this.started.delete(key);
      throw error;
    }
    return decision;
  }

  /** The tasks of the namespaces some limiting policy selects, as the pure decision takes them; `self` is always among the waiting. */
  private queueOf(policies: ConcurrencyPolicy[], self: string): TaskForQueue[] {
    const queue: TaskForQueue[] = [];
    for (const task of this.world.tasks()) {
      const key = keyOf(task);
      const namespace = task.metadata.namespace ?? '';
      if (!policies.some((policy) => policy.selects(namespace))) continue;
      const ended = task.status?.phase !== undefined && terminalPhases.has(task.status.phase);
      const hasJob = this.world.hasJob(task);
      if (ended || hasJob) this.started.delete(key);
      if (ended) continue;
      const running = hasJob || this.started.has(key);
      // Waiting: no Job, not cancelled, not being deleted (the one asking counts, whatever its cached state).
      if (!running && key !== self && (task.spec.cancel || task.metadata.deletionTimestamp)) continue;
      queue.push({
        key, namespace, name: task.metadata.name ?? '', running,
        ...(task.metadata.annotations?.[createdByAnnotation] ? { user: task.metadata.annotations[createdByAnnotation] } : {}),
        ...(task.spec.priority !== undefined ? { priority: task.spec.priority } : {}),
        createdAt: String(task.metadata.creationTimestamp ?? new Date(0).toISOString()),
      });
    }
    return queue;
  }

  private limitingPolicies(namespace: string): ConcurrencyPolicy[] {
    return this.concurrencyPolicies().filter((policy) => policy.selects(namespace));
  }

  private concurrencyPolicies(): ConcurrencyPolicy[] {
    return this.world.policies().flatMap((policy): ConcurrencyPolicy[] => {
      const limits = policy.spec.concurrency;
      if (limits?.maxTasksPerNamespace === undefined && limits?.maxTasksPerUser === undefined) return [];
      // With kueue set, Kueue admits instead of the operator.
      if (policy.spec.kueue) return [];
      return [{
        name: policy.metadata.name ?? '',
        selects: (namespace) => {
          const labels = this.world.namespace(namespace)?.metadata?.labels;
          // A namespace not in the cache yet: its labels are unknown; only a selector-less policy selects it for sure.
          return selectorMatches(policy.spec.namespaceSelector, labels ?? { 'kubernetes.io/metadata.name': namespace });
        },
        ...(limits.maxTasksPerNamespace !== undefined ? { maxTasksPerNamespace: limits.maxTasksPerNamespace } : {}),
        ...(limits.maxTasksPerUser !== undefined ? { maxTasksPerUser: limits.maxTasksPerUser } : {}),
      }];
    });
  }

  /** Keys of the tasks waiting Queued: to look at again when room may have freed up. */
  queuedKeys(): string[] {
    return this.world.tasks().filter((task) => task.status?.phase === 'Queued').map(keyOf);
  }
}
