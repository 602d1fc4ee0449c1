// A session's status and what to do next, from the world (pure; the clock comes
// in as `now`): the session, the Job of its current activation and its pods,
// whether its PVC exists, its totals and last lifecycle event in Postgres.
//
// Phases (crds/src/claude-session.ts): Pending (no Job yet), Starting (a Job; its
// pod is not running or its runner has not started), Ready (the runner waits for
// messages), Busy (a turn in flight: the last turn event is a runner.turn_started),
// Suspended (no active Job: idle exit, spec.suspend, a spent ClaudePolicy budget), Failed (for good: invalid
// spec, an activation that failed, a missing API-key Secret), Archived
// (archiveAfterSeconds since the last activity while Suspended; terminal).
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import {
  ClaudeSessionSpecSchema, closedSessionPhases, type ClaudeSession, type ClaudeSessionStatus, type SessionPhase,
} from '../../../crds/src/claude-session.ts';
import type { Condition } from '../../../crds/src/claude-task.ts';
import { runnerContainerName, runnerExitCodes } from '../../../packages/contracts/src/pod-contract.ts';
import type { TaskEventRecord } from '../../../packages/contracts/src/task-events.ts';
import type { SessionTotals } from '../../../packages/database/src/session-records.ts';
import { apiKeyVolumeName } from '../agent-pod.ts';
import { operatorMakesPvc, workspacePvcName } from './desired-session.ts';

export interface ObservedSession {
  session: ClaudeSession;
  /** The Job of activation status.activations, when there is one. */
  job?: V1Job | undefined;
  /** That Job's pods, any order. */
  pods: V1Pod[];
  /** The PVC the session works on exists (for a PVC the spec names: assumed). */
  pvcExists: boolean;
  totals: SessionTotals;
  /** The last runner.started, turn_started, turn_completed or session_ended in Postgres. */
  lastLifecycleEvent?: TaskEventRecord | undefined;
  now: Date;
  defaultModel?: string | undefined;
  /** A ClaudePolicy budget of the session's namespace or creator is spent (the message says which, and when it resets). */
  budgetSpent?: { message: string } | undefined;
}

/** What the reconciler does after writing the status. */
export type SessionAction =
  | { type: 'none' }
  /** Make the PVC (if the operator makes it) and activation n's Secret and Job. */
  | { type: 'activate'; activation: number }
  /** Stop the current Job's pod (spec.suspend, a Failed session). */
  | { type: 'stop' }
  /** Delete the PVC the operator made (unless retain); the session is Archived. */
  | { type: 'archive' };

export interface SessionDecision {
  status: ClaudeSessionStatus;
  action: SessionAction;
  /** The PVC the operator makes is missing and the session still needs it. */
  ensurePvc?: boolean;
  /** Look again after this long (archiveAfterSeconds counting down); undefined: when something changes. */
  requeueAfterMs?: number;
  /** The session is closed (Failed or Archived) with messages still waiting and no pod left to answer them:
   * they fail with this error, so that their callers learn why instead of waiting for ever. */
  failWaiting?: string;
}

interface Phase { phase: SessionPhase; reason: string; message: string }

export const lifecycleEventTypes = ['runner.started', 'runner.turn_started', 'runner.turn_completed', 'runner.session_ended'] as const;

const time = (value: Date | string | undefined) => (value === undefined ? undefined : new Date(value));
const jobCondition = (job: V1Job | undefined, type: string) => job?.status?.conditions?.find((c) => c.type === type && c.status === 'True');
const activePod = (pods: V1Pod[]) => pods.some((p) => (p.status?.phase === 'Running' || p.status?.phase === 'Pending'));

function newestPod(pods: V1Pod[]): V1Pod | undefined {
  return [...pods].sort((a, b) => (time(a.metadata?.creationTimestamp)?.getTime() ?? 0) - (time(b.metadata?.creationTimestamp)?.getTime() ?? 0)).pop();
}

function runnerState(pod: V1Pod | undefined) {
  return pod?.status?.containerStatuses?.find((c) => c.name === runnerContainerName)?.state;
}

/** The Job's pod is up and its runner has said so since the pod was made. */
function runnerStarted(pod: V1Pod, last: TaskEventRecord | undefined): boolean {
  if (!last || last.type === 'runner.session_ended') return false;
  const created = time(pod.metadata?.creationTimestamp)?.getTime() ?? 0;
  return new Date(last.time).getTime() >= created;
}

function phaseOfJob(observed: ObservedSession): Phase {
  const { session, job, pods, lastLifecycleEvent: last } = observed;
  const pod = newestPod(pods);
  const failed = jobCondition(job, 'Failed');
  if (failed) {
    const exitCode = runnerState(pod)?.terminated?.exitCode;
    if (exitCode === runnerExitCodes.invalid) return { phase: 'Failed', reason: 'InvalidSpec', message: 'the runner refused the session\'s spec (exit 2)' };
    return { phase: 'Failed', reason: 'ActivationFailed', message: `activation ${session.status?.activations ?? 0} failed: ${failed.message ?? failed.reason ?? 'the pod failed'}` };
  }
  if (jobCondition(job, 'Complete')) return { phase: 'Suspended', reason: 'Idle', message: 'the session idled and its pod exited; the next message starts one' };
  if (job?.spec?.suspend) {
    // Not spec.suspend: it was cleared since, or a spent budget stopped the pod (decide says BudgetExhausted while it stays spent).
    const why = session.spec.suspend ? 'spec.suspend is set' : 'the pod was stopped; the next message starts one';
    if (!activePod(pods)) return { phase: 'Suspended', reason: session.spec.suspend ? 'Suspended' : 'Idle', message: why };
    return { phase: 'Starting', reason: 'Suspending', message: `stopping the pod: ${why}` };
  }
  const running = pods.find((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp);
  if (running && runnerStarted(running, last)) {
    if (last?.type === 'runner.turn_started') return { phase: 'Busy', reason: 'TurnInFlight', message: 'answering a message' };
    return { phase: 'Ready', reason: 'Ready', message: 'waiting for messages' };
  }
  if (running) return { phase: 'Starting', reason: 'RunnerStarting', message: 'the pod runs; the runner is starting' };
  const waiting = runnerState(pod)?.waiting;
  const apiKey = job?.spec?.template.spec?.volumes?.find((v) => v.name === apiKeyVolumeName)?.secret;
  if (waiting && apiKey?.secretName && waiting.message?.includes(`secret "${apiKey.secretName}" not found`)) {
    const key = apiKey.items?.[0]?.key ?? 'api-key';
    return { phase: 'Failed', reason: 'APIKeySecretMissing',
      message: `the Secret ${apiKey.secretName} with the Anthropic API key (key ${key}) does not exist in namespace ${session.metadata.namespace}` };
  }
  if (waiting?.reason) return { phase: 'Starting', reason: waiting.reason, message: waiting.message ?? 'the pod is waiting' };
  return { phase: 'Starting', reason: 'Starting', message: 'waiting for the pod to start' };
}

/** The status to write and the next step; a Failed or Archived session stays so. */
export function decideSession(observed: ObservedSession): SessionDecision {
  const decision = decide(observed);
  const { phase, reason, message } = decision.status;
  const closed = phase !== undefined && closedSessionPhases.has(phase);
  const needsPvc = !observed.pvcExists && operatorMakesPvc(observed.session) && !closed;
  // A pod still running may yet answer: the stop comes first, the failing after it.
  const failWaiting = closed && observed.totals.waiting > 0 && !activePod(observed.pods);
  const why = [reason === phase ? undefined : reason, message].filter((part) => part !== undefined && part !== '').join(': ');
  return {
    ...decision,
    ...(needsPvc ? { ensurePvc: true } : {}),
    ...(failWaiting ? { failWaiting: `the session became ${phase}${why === '' ? '' : ` (${why})`} before this message was answered` } : {}),
  };
}

function decide(observed: ObservedSession): SessionDecision {
  const { session, totals } = observed;
  const previous = session.status ?? {};
  if (previous.phase && closedSessionPhases.has(previous.phase)) {
    return { status: { ...previous, ...totalsOf(observed) }, action: previous.phase === 'Failed' && observed.job && activePod(observed.pods) ? { type: 'stop' } : { type: 'none' } };
  }
  const invalid = ClaudeSessionSpecSchema.safeParse(session.spec);
  if (!invalid.success) {
    const message = `invalid spec: ${invalid.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`;
    return { status: statusFor(observed, { phase: 'Failed', reason: 'InvalidSpec', message: message.slice(0, 1024) }), action: { type: 'none' } };
  }
  const activations = previous.activations ?? 0;
  const next = { type: 'activate', activation: activations + 1 } as const;
  const spent = observed.budgetSpent;
  const budgetHold = spent && !session.spec.suspend ? { phase: 'Suspended' as const, reason: 'BudgetExhausted', message: spent.message } : undefined;
  if (activations === 0) {
    if (session.spec.suspend) return suspended(observed, { phase: 'Suspended', reason: 'Suspended', message: 'spec.suspend is set' });
    if (budgetHold) return suspended(observed, budgetHold);
    return { status: statusFor(observed, { phase: 'Pending', reason: 'Creating', message: 'creating the session\'s Job' }), action: next };
  }
  // The status says activation n, its Job is not there: made again (a crash between the two, or someone deleted it).
  if (!observed.job) {
    if (session.spec.suspend) return suspended(observed, { phase: 'Suspended', reason: 'Suspended', message: 'spec.suspend is set' });
    if (budgetHold) return suspended(observed, budgetHold);
    return { status: statusFor(observed, { phase: 'Starting', reason: 'Creating', message: `creating the Job of activation ${activations}` }),
      action: { type: 'activate', activation: activations } };
  }
  const phase = phaseOfJob(observed);
  if (phase.phase === 'Failed') return { status: statusFor(observed, phase), action: activePod(observed.pods) ? { type: 'stop' } : { type: 'none' } };
  if (session.spec.suspend && !observed.job.spec?.suspend && !jobCondition(observed.job, 'Complete')) {
    return { status: statusFor(observed, { phase: 'Starting', reason: 'Suspending', message: 'stopping the pod: spec.suspend is set' }), action: { type: 'stop' } };
  }
  // A spent budget stops the pod between turns (a turn in flight ends first); the context stays on the volume.
  if (budgetHold && phase.phase === 'Ready' && !observed.job.spec?.suspend) {
    return { status: statusFor(observed, { phase: 'Starting', reason: 'BudgetExhausted', message: `stopping the pod: ${spent?.message}` }), action: { type: 'stop' } };
  }
  if (phase.phase !== 'Suspended') return { status: statusFor(observed, phase), action: { type: 'none' } };
  if (budgetHold) return suspended(observed, budgetHold);
  // Suspended: a waiting message wakes it, unless spec.suspend holds it.
  if (totals.waiting > 0 && !session.spec.suspend) {
    return { status: statusFor(observed, { phase: 'Starting', reason: 'MessageWaiting', message: `a message is waiting: starting activation ${activations + 1}` }), action: next };
  }
  return suspended(observed, phase);
}

/** The activation a decision asked for, held by a ClaudePolicy's maxSessionsPerUser: Queued, no pod, the message
 * giving the limit and the place. The next pass asks again. */
export function queuedStatus(observed: ObservedSession, message: string): ClaudeSessionStatus {
  return statusFor(observed, { phase: 'Queued', reason: 'QuotaExceeded', message });
}

/** Suspended, or Archived once archiveAfterSeconds have passed since the last activity. */
function suspended(observed: ObservedSession, phase: Phase): SessionDecision {
  const { session, totals, now } = observed;
  const archiveAfter = session.spec.archiveAfterSeconds;
  if (archiveAfter === undefined || totals.waiting > 0) return { status: statusFor(observed, phase), action: { type: 'none' } };
  const since = time(totals.lastActivityTime ?? undefined) ?? time(session.metadata.creationTimestamp) ?? now;
  const left = since.getTime() + archiveAfter * 1000 - now.getTime();
  if (left > 0) return { status: statusFor(observed, phase), action: { type: 'none' }, requeueAfterMs: left };
  return {
    status: statusFor(observed, { phase: 'Archived', reason: 'Archived', message: `no message for ${archiveAfter} s: archived; the history stays in Postgres` }),
    action: { type: 'archive' },
  };
}

function totalsOf({ totals }: ObservedSession): Partial<ClaudeSessionStatus> {
  return {
    messages: totals.messages, turns: totals.turns, usage: totals.usage,
    ...(totals.lastActivityTime ? { lastActivityTime: totals.lastActivityTime } : {}),
  };
}

function statusFor(observed: ObservedSession, { phase, reason, message }: Phase): ClaudeSessionStatus {
  const { session, job, pods, lastLifecycleEvent: last, now } = observed;
  const previous = session.status ?? {};
  const generation = session.metadata.generation ?? 0;
  const pod = newestPod(pods);
  const lastModel = last?.type === 'runner.turn_completed' ? (last.data as { model?: string | null }).model ?? undefined : undefined;
  const model = lastModel ?? previous.model ?? session.spec.model ?? observed.defaultModel;
  const activeTurn = phase === 'Busy' ? (last?.data as { messageId?: string }).messageId : undefined;
  const live = phase !== 'Archived';
  return {
    phase, reason, message: message.slice(0, 1024), observedGeneration: generation,
    conditions: conditions(previous.conditions ?? [], phase, reason, message, generation, now),
    claudeSessionId: session.metadata.uid ?? '',
    activations: previous.activations ?? 0,
    ...totalsOf(observed),
    ...(activeTurn ? { activeTurn } : {}),
    ...(live ? { workspacePVC: workspacePvcName(session) } : {}),
    ...(live && job?.metadata?.name ? { jobName: job.metadata.name } : {}),
    ...(live && pod?.metadata?.name && activePod([pod]) ? { podName: pod.metadata.name } : {}),
    ...(model ? { model } : {}),
  };
}

function conditions(previous: Condition[], phase: SessionPhase, reason: string, message: string, generation: number, now: Date): Condition[] {
  const wanted: Array<Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>> = [
    { type: 'Ready', status: phase === 'Ready' || phase === 'Busy' ? 'True' : 'False', reason, message: message.slice(0, 1024) },
    { type: 'Suspended', status: phase === 'Suspended' || phase === 'Archived' ? 'True' : 'False', reason, message: message.slice(0, 1024) },
  ];
  return wanted.map((condition) => {
    const before = previous.find((c) => c.type === condition.type);
    const lastTransitionTime = before && before.status === condition.status ? before.lastTransitionTime : now.toISOString();
    return { ...condition, observedGeneration: generation, lastTransitionTime };
  });
}
