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
//
// Budgets come first (budget.ts): the spend of each scope and period the
// policies' budgets name is read from the usage ledger, and a task whose budget
// is spent waits Queued (BudgetExhausted) before it takes a place in any
// concurrency queue. One that starts gets what is left as its cap. Two tasks
// admitted at once may each get the whole rest: the cap bounds each run, and the
// next task sees what they spent.
//
// Rate limits come before both (rate-limits.ts): a task whose API-key Secret the
// Messages API rate-limits (a run saw its 429) waits Queued (RateLimited) until
// the reset, with or without any ClaudePolicy, and is woken then.
import type { V1Namespace } from '@kubernetes/client-node';
import type { ClaudePolicy } from '../../../crds/src/claude-policy.ts';
import { terminalPhases, type ClaudeTask } from '../../../crds/src/claude-task.ts';
import { applicableRules, budgetRules, decideBudget, periodStart, type BudgetDecision, type BudgetPeriod, type BudgetScope, type Spend } from './budget.ts';
import { decideAdmissions, type ConcurrencyPolicy, type QueueDecision, type TaskForQueue } from './concurrency.ts';
import { createdByAnnotation } from './identity-objects.ts';
import { policySelects } from './label-selector.ts';
import { decideRateLimit, type ApiKeyRef, type Hold } from './rate-limits.ts';

/** What the gate reads: the operator's caches. */
export interface GateWorld {
  tasks(): ClaudeTask[];
  policies(): ClaudePolicy[];
  namespace(name: string): V1Namespace | undefined;
  /** The cache has the task's Job. */
  hasJob(task: ClaudeTask): boolean;
  /** What a namespace or a user spent from a UTC day on: the usage ledger. */
  spend(scope: { namespace: string } | { user: string }, from: Date): Promise<Spend>;
  /** The task's API-key Secret (spec.apiKeySecretRef or the operator's default). */
  apiKeyOf?(task: ClaudeTask): ApiKeyRef;
  /** The rate-limit hold on an API-key Secret, if one is in force (RateLimitHolds). */
  rateLimitHold?(key: ApiKeyRef, now: Date): Hold | undefined;
  now(): Date;
}

export type Admission =
  | { key: string; admit: true; /** The budgets' rest: the cap the task runs with (with its own spec.maxBudgetUSD, the smaller). */ remainingUSD?: string }
  | Exclude<QueueDecision, { admit: true }>
  | { key: string; admit: false; reason: 'BudgetExhausted'; message: string }
  | { key: string; admit: false; reason: 'RateLimited'; message: string; /** The reset: wake the task then. */ retryAfterMs: number };

/** Creates the task's Job; `remainingUSD` is the budgets' rest, for its cap. */
export type StartTask = (remainingUSD: string | undefined) => Promise<void>;

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
  async admit(task: ClaudeTask, startTask: StartTask): Promise<Admission> {
    const key = keyOf(task);
    if (!this.started.has(key)) {
      const rateLimit = this.rateLimitOf(task);
      if (!rateLimit.admit) return { key, ...rateLimit };
    }
    // Started already (the cache lags behind its Job): what it spends since must not turn it back to Queued.
    const budget = this.started.has(key) ? { admit: true as const } : await this.budgetOf(task);
    if (!budget.admit) return { key, ...budget };
    const remaining = budget.remainingUSD !== undefined ? { remainingUSD: budget.remainingUSD } : {};
    const start = () => startTask(budget.remainingUSD);
    if (this.limitingPolicies(task.metadata.namespace ?? '').length === 0) {
      await start();
      return { key, admit: true, ...remaining };
    }
    const turn = this.lock.then(() => this.decideAndStart(task, start));
    this.lock = turn.catch(() => undefined);
    const decision = await turn;
    return decision.admit ? { ...decision, ...remaining } : decision;
  }

  private rateLimitOf(task: ClaudeTask): ReturnType<typeof decideRateLimit> {
    if (!this.world.apiKeyOf || !this.world.rateLimitHold) return { admit: true };
    const now = this.world.now();
    const apiKey = this.world.apiKeyOf(task);
    return decideRateLimit(apiKey, this.world.rateLimitHold(apiKey, now), now);
  }

  private async budgetOf(task: ClaudeTask): Promise<BudgetDecision> {
    return this.budgetFor(task.metadata.namespace ?? '', task.metadata.annotations?.[createdByAnnotation]);
  }

  /** The budgets of the policies selecting the namespace, against the ledger's spend for each scope and period they
   * name: for a task before it starts, and for a session before each activation and while it waits for messages. */
  async budgetFor(namespace: string, user: string | undefined): Promise<BudgetDecision> {
    const rules = budgetRules(this.world.policies().filter((policy) => this.selects(policy, namespace)));
    const applying = applicableRules(rules, user);
    if (applying.length === 0) return { admit: true };
    const now = this.world.now();
    const spent = new Map<string, Spend>();
    for (const { scope, period } of applying) {
      const at = `${scope}/${period}`;
      if (spent.has(at)) continue;
      spent.set(at, await this.world.spend(scope === 'Namespace' ? { namespace } : { user: user ?? '' }, periodStart(period, now)));
    }
    return decideBudget({
      rules: applying, namespace, user, now,
      spend: (scope: BudgetScope, period: BudgetPeriod) => spent.get(`${scope}/${period}`) ?? { costUSD: '0', tokens: 0 },
    });
  }

  private async decideAndStart(task: ClaudeTask, start: () => Promise<void>): Promise<QueueDecision> {
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
      // Waiting: no Job, not cancelled, not being deleted, not held by a budget or a rate limit (the one asking counts, whatever its cached state).
      if (!running && key !== self && (task.spec.cancel || task.metadata.deletionTimestamp
        || task.status?.reason === 'BudgetExhausted' || task.status?.reason === 'RateLimited')) continue;
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
        selects: (namespace) => this.selects(policy, namespace),
        ...(limits.maxTasksPerNamespace !== undefined ? { maxTasksPerNamespace: limits.maxTasksPerNamespace } : {}),
        ...(limits.maxTasksPerUser !== undefined ? { maxTasksPerUser: limits.maxTasksPerUser } : {}),
      }];
    });
  }

  private selects(policy: ClaudePolicy, namespace: string): boolean {
    return policySelects(policy, namespace, this.world.namespace(namespace));
  }

  /** The LocalQueue of the first (by name) policy selecting the namespace with spec.kueue: Kueue admits its tasks'
   * Jobs, and the operator's own concurrency limits step aside for that policy. */
  kueueQueueFor(namespace: string): string | undefined {
    return this.world.policies()
      .filter((policy) => policy.spec.kueue && this.selects(policy, namespace))
      .sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''))[0]?.spec.kueue?.localQueueName;
  }

  /** Keys of the tasks waiting Queued: to look at again when room may have freed up (a task ended). Without any
   * policy that limits or budgets there is nothing to wait for, and no task is looked at. */
  queuedKeys(): string[] {
    const holding = this.world.policies().some((policy) => policy.spec.budgets?.length
      || (!policy.spec.kueue && (policy.spec.concurrency?.maxTasksPerNamespace !== undefined || policy.spec.concurrency?.maxTasksPerUser !== undefined)));
    return holding ? this.allQueuedKeys() : [];
  }

  /** Keys of every task waiting Queued, whatever the policies say now: a policy changed or went, and may free them. */
  allQueuedKeys(): string[] {
    return this.world.tasks().filter((task) => task.status?.phase === 'Queued').map(keyOf);
  }
}
