// A task's status, rebuilt from the world on every pass: the Job the job
// controller drives, the pods it made, and what the runner left in their
// termination messages. Pure; the clock comes in as `now`.
import type { V1Job, V1JobCondition, V1Pod } from '@kubernetes/client-node';
import { terminalPhases, type ClaudeTask, type ClaudeTaskStatus, type Condition, type TaskPhase } from '../../crds/src/claude-task.ts';
import { apiKeyVolumeName, kueueQueueLabel } from './desired-job.ts';
import { runnerContainerName } from '../../packages/contracts/src/pod-contract.ts';
import { parseRunnerSummary, type RunnerSummary } from '../../packages/contracts/src/termination-summary.ts';

export interface ObservedTask {
  task: ClaudeTask;
  job?: V1Job;
  /** The Job's pods, any order. */
  pods: V1Pod[];
  now: Date;
  /** The operator's default model, for a spec that names none. */
  defaultModel?: string | undefined;
  /** The gate holds the task (it has no Job): a ClaudePolicy's concurrency limit (QuotaExceeded, the message gives its place), a spent
   * budget (BudgetExhausted), or the Messages API's rate limit on its API-key Secret (RateLimited, until the reset). */
  queued?: { reason: 'QuotaExceeded' | 'BudgetExhausted' | 'RateLimited'; message: string } | undefined;
  /** The job controller's latest FailedCreate message for the Job while it has no pod: the apiserver refuses the pod
   * (a ResourceQuota, Pod Security, a webhook), and the Job keeps trying. */
  podRefusal?: string | undefined;
}

export interface PhaseDecision {
  phase: TaskPhase;
  reason: string;
  message: string;
}

const maxResultLength = 1000;

const jobCondition = (job: V1Job | undefined, type: string): V1JobCondition | undefined =>
  job?.status?.conditions?.find((c) => c.type === type && c.status === 'True');

function time(value: Date | string | undefined): Date | undefined {
  return value === undefined ? undefined : new Date(value);
}

export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return `${h ? `${h}h` : ''}${h || m ? `${m}m` : ''}${s}s`;
}

function newestPod(pods: V1Pod[]): V1Pod | undefined {
  return [...pods].sort((a, b) =>
    (time(a.metadata?.creationTimestamp)?.getTime() ?? 0) - (time(b.metadata?.creationTimestamp)?.getTime() ?? 0)).pop();
}

function runnerState(pod: V1Pod | undefined) {
  return pod?.status?.containerStatuses?.find((c) => c.name === runnerContainerName)?.state;
}

export function decidePhase({ task, job, pods, queued, podRefusal }: ObservedTask): PhaseDecision {
  const summary = parseRunnerSummary(runnerState(newestPod(pods))?.terminated?.message);
  if (jobCondition(job, 'Complete')) return { phase: 'Succeeded', reason: 'Succeeded', message: 'the agent finished' };
  const failed = jobCondition(job, 'Failed');
  if (failed) {
    if (failed.reason === 'DeadlineExceeded') {
      return { phase: 'TimedOut', reason: 'DeadlineExceeded', message: `the task ran longer than ${job?.spec?.activeDeadlineSeconds} s` };
    }
    if (task.spec.cancel) return { phase: 'Cancelled', reason: 'Cancelled', message: 'cancelled by spec.cancel' };
    return { phase: 'Failed', reason: failureReason(summary, newestPod(pods), failed), message: failureMessage(summary, failed, job) };
  }
  const running = pods.some((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp);
  if (task.spec.cancel) {
    const stillRunning = pods.some((p) => p.status?.phase === 'Running' || p.status?.phase === 'Pending');
    if (!job || (job.spec?.suspend && !stillRunning)) return { phase: 'Cancelled', reason: 'Cancelled', message: 'cancelled by spec.cancel' };
    const stopping = pods.some((p) => p.status?.phase === 'Running');
    return { phase: stopping ? 'Running' : 'Pending', reason: 'Cancelling', message: 'stopping the agent' };
  }
  if (!job && queued) return { phase: 'Queued', reason: queued.reason, message: queued.message };
  if (!job) return { phase: 'Pending', reason: 'Creating', message: 'creating the Job' };
  if (running) return { phase: 'Running', reason: 'Running', message: 'the agent is running' };
  if (pods.length === 0 && podRefusal) return podRefused(podRefusal);
  const kueueQueue = job.metadata?.labels?.[kueueQueueLabel];
  if (job.spec?.suspend && kueueQueue && pods.length === 0) {
    return { phase: 'Pending', reason: 'WaitingForKueue', message: `the Job waits for Kueue to admit it (LocalQueue ${kueueQueue})` };
  }
  const waiting = runnerState(newestPod(pods))?.waiting;
  if (waiting) return missingApiKeySecret(task, job, waiting.message) ?? { phase: 'Pending', reason: waiting.reason ?? 'Waiting', message: waiting.message ?? 'the pod is waiting' };
  return { phase: 'Pending', reason: 'Starting', message: 'waiting for the pod to start' };
}

/** The apiserver refuses the Job's pod. Rather than "waiting for the pod", say who refuses it and why, in the
 * apiserver's words: QuotaExceeded for a ResourceQuota, PodRejected for anything else. The task stays Pending, since
 * the job controller creates the pod once the quota has room. */
function podRefused(jobControllerMessage: string): PhaseDecision {
  const why = jobControllerMessage.replace(/^Error creating: /, '');
  const retrying = 'the Job creates it once that changes';
  if (why.includes('exceeded quota')) {
    return { phase: 'Pending', reason: 'QuotaExceeded', message: `a ResourceQuota refuses the task's pod (${retrying}): ${why}` };
  }
  return { phase: 'Pending', reason: 'PodRejected', message: `the apiserver refuses the task's pod (${retrying}): ${why}` };
}

/**
 * The attempt ended because the Messages API rate-limited it: the Job failed (FailJob on the runner's exit code
 * rateLimited) and the newest pod's summary says RateLimited; not for a cancel or a timeout. Such a task does not
 * end: the reconciler runs it again after the reset (task-reconciler.ts). `resetAt`: when the run learnt the limit
 * resets, if it did.
 */
export function rateLimitedAttempt({ task, job, pods }: Pick<ObservedTask, 'task' | 'job' | 'pods'>): { resetAt: string | undefined } | undefined {
  const failed = jobCondition(job, 'Failed');
  if (!failed || failed.reason === 'DeadlineExceeded' || task.spec.cancel || job?.metadata?.deletionTimestamp) return undefined;
  const summary = parseRunnerSummary(runnerState(newestPod(pods))?.terminated?.message);
  if (summary?.reason !== 'RateLimited') return undefined;
  return { resetAt: summary.rateLimitResetAt ?? undefined };
}

/** The kubelet says a Secret is missing; when it is the API key's, say what to create. */
function missingApiKeySecret(task: ClaudeTask, job: V1Job | undefined, kubeletMessage: string | undefined): PhaseDecision | undefined {
  const volume = job?.spec?.template.spec?.volumes?.find((v) => v.name === apiKeyVolumeName)?.secret;
  const secret = volume?.secretName;
  if (!secret || !kubeletMessage?.includes(`secret "${secret}" not found`)) return undefined;
  const key = volume.items?.[0]?.key ?? 'api-key';
  const namespace = task.metadata.namespace ?? 'default';
  return {
    phase: 'Pending',
    reason: 'APIKeySecretMissing',
    message: `the Secret ${secret} with the Anthropic API key (key ${key}) does not exist in namespace ${namespace}; create it: ` +
      `kubectl create secret generic ${secret} -n ${namespace} --from-literal=${key}=<your key>`,
  };
}

/** Reasons that mean someone has to act: recorded as Warning Events. */
const warningReasons = new Set(['APIKeySecretMissing', 'QuotaExceeded', 'PodRejected', 'CreateContainerConfigError', 'CreateContainerError', 'ErrImagePull', 'ImagePullBackOff',
  'InvalidImageName', 'CrashLoopBackOff', 'RunContainerError']);

/** The type of the Kubernetes Event that reports entering this phase for this reason. */
export function eventTypeFor(phase: TaskPhase | undefined, reason: string | undefined): 'Normal' | 'Warning' {
  if (phase === 'Failed' || phase === 'TimedOut') return 'Warning';
  // A ClaudePolicy queueing work is the policy working: Normal, even for a reason a refused pod shares.
  if (phase === 'Queued') return 'Normal';
  return reason !== undefined && warningReasons.has(reason) ? 'Warning' : 'Normal';
}

/** What the runner said (e.g. BudgetExceeded), else what the kubelet saw (OOMKilled), else the Job's reason. */
function failureReason(summary: RunnerSummary | undefined, pod: V1Pod | undefined, failed: V1JobCondition): string {
  if (summary?.reason) return summary.reason;
  if (runnerState(pod)?.terminated?.reason === 'OOMKilled') return 'OOMKilled';
  return failed.reason ?? 'Failed';
}

function failureMessage(summary: RunnerSummary | undefined, failed: V1JobCondition, job: V1Job | undefined): string {
  const attempts = (job?.status?.failed ?? 0) + (job?.status?.succeeded ?? 0);
  const why = summary?.message ?? failed.message ?? 'the agent failed';
  return attempts > 1 ? `${why} (after ${attempts} attempts)` : why;
}

/** The status to write, given the world. A terminal status is final: it is
 * returned unchanged, whatever happens to the Job and pods afterwards. */
export function computeStatus(observed: ObservedTask): ClaudeTaskStatus {
  const previous = observed.task.status ?? {};
  if (previous.phase && terminalPhases.has(previous.phase)) return previous;
  return statusFor(observed, decidePhase(observed));
}

/** The task failed before or while its objects were made (an invalid spec, a
 * request the apiserver refused): Failed with that reason, and conditions that
 * say so, so `kubectl wait --for=condition=Finished` returns. */
export function failedStatus(observed: ObservedTask, reason: string, message: string): ClaudeTaskStatus {
  const previous = observed.task.status ?? {};
  if (previous.phase && terminalPhases.has(previous.phase)) return previous;
  return statusFor(observed, { phase: 'Failed', reason, message });
}

function statusFor(observed: ObservedTask, { phase, reason, message }: PhaseDecision): ClaudeTaskStatus {
  const { task, job, pods, now } = observed;
  const previous = task.status ?? {};
  const terminal = terminalPhases.has(phase);
  const pod = newestPod(pods);
  const summary = parseRunnerSummary(runnerState(pod)?.terminated?.message);
  const startTime = time(job?.status?.startTime) ?? time(previous.startTime);
  const completionTime = terminal ? (time(job?.status?.completionTime) ?? now) : undefined;
  const generation = task.metadata.generation ?? 0;

  const model = summary?.model ?? previous.model ?? task.spec.model ?? observed.defaultModel;
  const status: ClaudeTaskStatus = {
    phase,
    reason,
    observedGeneration: generation,
    conditions: conditions(previous.conditions ?? [], { phase, reason, message }, job !== undefined, generation, now),
    attempts: (job?.status?.failed ?? 0) + (job?.status?.succeeded ?? 0) + (job?.status?.active ?? 0),
    message,
    ...(job?.metadata?.name ? { jobName: job.metadata.name } : previous.jobName ? { jobName: previous.jobName } : {}),
    ...(pod?.metadata?.name ? { podName: pod.metadata.name } : {}),
    ...(startTime ? { startTime: startTime.toISOString() } : {}),
    ...(completionTime ? { completionTime: completionTime.toISOString() } : {}),
    ...(startTime ? { duration: formatDuration((completionTime ?? now).getTime() - startTime.getTime()) } : {}),
    ...(model ? { model } : {}),
    ...summaryFields(summary, previous),
  };
  const exitCode = runnerState(pod)?.terminated?.exitCode;
  if (exitCode !== undefined) status.exitCode = exitCode;
  return status;
}

function summaryFields(summary: RunnerSummary | undefined, previous: ClaudeTaskStatus): Partial<ClaudeTaskStatus> {
  if (!summary) {
    return {
      ...(previous.claudeSessionId ? { claudeSessionId: previous.claudeSessionId } : {}),
      ...(previous.usage ? { usage: previous.usage } : {}),
      ...(previous.result ? { result: previous.result } : {}),
    };
  }
  return {
    ...(summary.sessionId ? { claudeSessionId: summary.sessionId } : {}),
    ...(summary.result ? { result: summary.result.slice(0, maxResultLength) } : {}),
    ...(summary.usage ? { usage: summary.usage } : previous.usage ? { usage: previous.usage } : {}),
  };
}

/** Accepted, Running, Succeeded and Finished, in metav1.Condition form; a
 * condition keeps its lastTransitionTime while its status does not change.
 * Succeeded follows Tekton and Knative: Unknown until the task ends, then True
 * or False, so `kubectl wait --for=condition=Succeeded` works as it does on a Job. */
function conditions(previous: Condition[], { phase, reason, message }: PhaseDecision, hasJob: boolean, generation: number, now: Date): Condition[] {
  const terminal = terminalPhases.has(phase);
  const accepted: Omit<Condition, 'lastTransitionTime' | 'observedGeneration'> = hasJob
    ? { type: 'Accepted', status: 'True', reason: 'JobCreated', message: 'the task has a Job' }
    : { type: 'Accepted', status: 'False', reason, message: terminal || phase === 'Queued' ? message : 'the Job is not created yet' };
  const wanted: Array<Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>> = [
    accepted,
    { type: 'Running', status: phase === 'Running' ? 'True' : 'False', reason, message },
    { type: 'Succeeded', status: phase === 'Succeeded' ? 'True' : terminal ? 'False' : 'Unknown', reason, message },
    { type: 'Finished', status: terminal ? 'True' : 'False', reason, message },
  ];
  return wanted.map((condition) => {
    const before = previous.find((c) => c.type === condition.type);
    const lastTransitionTime = before && before.status === condition.status ? before.lastTransitionTime : now.toISOString();
    return { ...condition, observedGeneration: generation, lastTransitionTime };
  });
}

export type TtlDecision = { action: 'keep' } | { action: 'wait'; afterMs: number } | { action: 'delete' };

/** spec.ttlSecondsAfterFinished: keep the finished task (no ttl), look again
 * when the ttl runs out, or delete it now. Pure; `now` is injected. */
export function ttlDecision(ttlSeconds: number | undefined, completionTime: string | undefined, now: Date): TtlDecision {
  if (ttlSeconds === undefined) return { action: 'keep' };
  const completed = completionTime ? Date.parse(completionTime) : NaN;
  // A finished task always has a completionTime; without one, count from now so it still goes.
  const expiresAt = (Number.isNaN(completed) ? now.getTime() : completed) + ttlSeconds * 1000;
  const left = expiresAt - now.getTime();
  return left > 0 ? { action: 'wait', afterMs: left } : { action: 'delete' };
}
