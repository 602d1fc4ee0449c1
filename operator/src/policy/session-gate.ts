// Where the session reconciler asks "may this session start a pod now?" under
// the ClaudePolicies' maxSessionsPerUser. The decision is concurrency.ts's, the
// tasks' own (strictest policy wins; priority, then oldest first), counted over
// sessions instead: a session runs while it has a pod (Pending once admitted,
// Starting, Ready, Busy); Suspended, Queued, Failed and Archived ones do not.
// Sessions have no priority: the oldest waiting goes first.
//
// As in concurrency-gate.ts, deciding and creating the Job are one step under a
// lock, and a session this process has just started counts as running until
// the cache shows the activation it was given: two workers never start two
// over a limit, and a restarted operator decides from the cache alone.
// Sessions without a creator (claude-operator.io/created-by) are not limited.
import type { V1Namespace } from '@kubernetes/client-node';
import type { ClaudePolicy } from '../../../crds/src/claude-policy.ts';
import type { ClaudeSession } from '../../../crds/src/claude-session.ts';
import { createdByAnnotation } from '../../../crds/src/claude-task.ts';
import { decideAdmissions, sessionLimitNames, type ConcurrencyPolicy, type TaskForQueue } from './concurrency.ts';
import { policySelects } from './label-selector.ts';

export interface SessionGateWorld {
  sessions(): ClaudeSession[];
  policies(): ClaudePolicy[];
  namespace(name: string): V1Namespace | undefined;
}

export type SessionAdmission =
  | { admit: true; /** What `start` said: false when the Job was there already (the cache is behind). */ started: boolean }
  | { admit: false; reason: 'QuotaExceeded'; message: string };

const runningPhases: ReadonlySet<string> = new Set(['Pending', 'Starting', 'Ready', 'Busy']);
const keyOf = (session: ClaudeSession) => `${session.metadata.namespace}/${session.metadata.name}`;

export class SessionGate {
  private readonly world: SessionGateWorld;
  /** Admitted by this process, with the activation it was given: running until the cache's status shows it. */
  private readonly started = new Map<string, number>();
  private lock: Promise<unknown> = Promise.resolve();

  constructor(world: SessionGateWorld) {
    this.world = world;
  }

  /** Runs `start` (activation `activation`'s Job) if the session may have a pod now; otherwise says why not. */
  async admit(session: ClaudeSession, activation: number, start: () => Promise<boolean>): Promise<SessionAdmission> {
    const policies = this.limitingPolicies();
    const namespace = session.metadata.namespace ?? '';
    if (!policies.some((policy) => policy.selects(namespace)) || !session.metadata.annotations?.[createdByAnnotation]) {
      return { admit: true, started: await start() };
    }
    const turn = this.lock.then(() => this.decideAndStart(session, activation, policies, start));
    this.lock = turn.catch(() => undefined);
    return turn;
  }

  private async decideAndStart(session: ClaudeSession, activation: number, policies: ConcurrencyPolicy[], start: () => Promise<boolean>): Promise<SessionAdmission> {
    const key = keyOf(session);
    // Admitted for this activation already, and asking again because the cache had not caught up with its Job.
    if (this.started.get(key) === activation) return { admit: true, started: await start() };
    const decision = decideAdmissions(this.queueOf(policies, key), policies, sessionLimitNames).find((d) => d.key === key);
    if (decision && !decision.admit) return { admit: false, reason: 'QuotaExceeded', message: decision.message };
    this.started.set(key, activation);
    try {
      return { admit: true, started: await start() };
    } catch (error) {
      this.started.delete(key);
      throw error;
    }
  }

  private queueOf(policies: ConcurrencyPolicy[], self: string): TaskForQueue[] {
    const queue: TaskForQueue[] = [];
    for (const session of this.world.sessions()) {
      const key = keyOf(session);
      const namespace = session.metadata.namespace ?? '';
      if (!policies.some((policy) => policy.selects(namespace))) continue;
      const given = this.started.get(key);
      if (given !== undefined && (session.status?.activations ?? 0) >= given) this.started.delete(key);
      const running = key !== self && (this.started.has(key) || (runningPhases.has(session.status?.phase ?? '') && !session.metadata.deletionTimestamp));
      // Waiting: the one asking, and those the limit holds already.
      if (!running && key !== self && session.status?.phase !== 'Queued') continue;
      const user = session.metadata.annotations?.[createdByAnnotation];
      queue.push({
        key, namespace, name: session.metadata.name ?? '', running,
        ...(user ? { user } : {}),
        createdAt: String(session.metadata.creationTimestamp ?? new Date(0).toISOString()),
      });
    }
    return queue;
  }

  /** The policies with maxSessionsPerUser, as the per-user limit of the shared decision. */
  private limitingPolicies(): ConcurrencyPolicy[] {
    return this.world.policies().flatMap((policy): ConcurrencyPolicy[] => {
      const max = policy.spec.concurrency?.maxSessionsPerUser;
      if (max === undefined) return [];
      return [{
        name: policy.metadata.name ?? '',
        selects: (namespace) => policySelects(policy, namespace, this.world.namespace(namespace)),
        maxTasksPerUser: max,
      }];
    });
  }

  /** Keys of the sessions waiting Queued: to look at again when room may have freed up. */
  queuedKeys(): string[] {
    return this.world.sessions().filter((session) => session.status?.phase === 'Queued').map(keyOf);
  }
}
