// A task's status, rebuilt from the world on every pass: the Job the job
// controller drives, the pods it made, and what the runner left in their
// termination messages. Pure; the clock comes in as `now`.
import type { V1Job, V1JobCondition, V1Pod } from '@kubernetes/client-node';
import { terminalPhases, type ClaudeTask, type ClaudeTaskStatus, type Condition, type TaskPhase } from '../../crds/src/claude-task.ts';
import { parseRunnerSummary, type RunnerSummary } from './runner-summary.ts';

export interface ObservedTask {
  task: ClaudeTask;
  job?: V1Job;
  /** The Job's pods, any order. */
  pods: V1Pod[];
  now: Date;
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
  return pod?.status?.containerStatuses?.find((c) => c.name === 'runner')?.state;
}

export function decidePhase({ task, job, pods }: ObservedTask): { phase: TaskPhase; reason: string; message: string } {
  const summary = parseRunnerSummary(runnerState(newestPod(pods))?.terminated?.message);
  if (jobCondition(job, 'Complete')) return { phase: 'Succeeded', reason: 'Succeeded', message: 'the agent finished' };
  const failed = jobCondition(job, 'Failed');
  if (failed) {
    if (failed.reason === 'DeadlineExceeded') {
      return { phase: 'TimedOut', reason: 'DeadlineExceeded', message: `the task ran longer than ${job?.spec?.activeDeadlineSeconds} s` };
    }
    if (task.spec.cancel) return { phase: 'Cancelled', reason: 'Cancelled', message: 'cancelled by spec.cancel' };
    return { phase: 'Failed', reason: failed.reason ?? 'Failed', message: failureMessage(summary, failed, job) };
  }
  const running = pods.some((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp);
  if (task.spec.cancel) {
    const stillRunning = pods.some((p) => p.status?.phase === 'Running' || p.status?.phase === 'Pending');
    if (!job || (job.spec?.suspend && !stillRunning)) return { phase: 'Cancelled', reason: 'Cancelled', message: 'cancelled by spec.cancel' };
    const stopping = pods.some((p) => p.status?.phase === 'Running');
    return { phase: stopping ? 'Running' : 'Pending', reason: 'Cancelling', message: 'stopping the agent' };
  }
  if (!job) return { phase: 'Pending', reason: 'Creating', message: 'creating the Job' };
  if (running) return { phase: 'Running', reason: 'Running', message: 'the agent is running' };
  const waiting = runnerState(newestPod(pods))?.waiting;
  if (waiting) return { phase: 'Pending', reason: waiting.reason ?? 'Waiting', message: waiting.message ?? 'the pod is waiting' };
  return { phase: 'Pending', reason: 'Starting', message: 'waiting for the pod to start' };
}

function failureMessage(summary: RunnerSummary | undefined, failed: V1JobCondition, job: V1Job | undefined): string {
  const attempts = (job?.status?.failed ?? 0) + (job?.status?.succeeded ?? 0);
  const why = summary?.message ?? failed.message ?? 'the agent failed';
  return attempts > 1 ? `${why} (after ${attempts} attempts)` : why;
}

/** The status to write, given the world. A terminal status is final: it is
 * returned unchanged, whatever happens to the Job and pods afterwards. */
export function computeStatus(observed: ObservedTask): ClaudeTaskStatus {
  const { task, job, pods, now } = observed;
  const previous = task.status ?? {};
  if (previous.phase && terminalPhases.has(previous.phase)) return previous;

  const { phase, reason, message } = decidePhase(observed);
  const terminal = terminalPhases.has(phase);
  const pod = newestPod(pods);
  const summary = parseRunnerSummary(runnerState(pod)?.terminated?.message);
  const startTime = time(job?.status?.startTime) ?? time(previous.startTime);
  const completionTime = terminal ? (time(job?.status?.completionTime) ?? now) : undefined;
  const generation = task.metadata.generation ?? 0;

  const status: ClaudeTaskStatus = {
    phase,
    observedGeneration: generation,
    conditions: conditions(previous.conditions ?? [], phase, reason, message, generation, now),
    attempts: (job?.status?.failed ?? 0) + (job?.status?.succeeded ?? 0) + (job?.status?.active ?? 0),
    message,
    ...(job?.metadata?.name ? { jobName: job.metadata.name } : previous.jobName ? { jobName: previous.jobName } : {}),
    ...(pod?.metadata?.name ? { podName: pod.metadata.name } : {}),
    ...(startTime ? { startTime: startTime.toISOString() } : {}),
    ...(completionTime ? { completionTime: completionTime.toISOString() } : {}),
    ...(startTime ? { duration: formatDuration((completionTime ?? now).getTime() - startTime.getTime()) } : {}),
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

/** Accepted, Running and Finished, in metav1.Condition form; a condition keeps
 * its lastTransitionTime while its status does not change. */
function conditions(previous: Condition[], phase: TaskPhase, reason: string, message: string, generation: number, now: Date): Condition[] {
  const wanted: Array<Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>> = [
    { type: 'Accepted', status: 'True', reason: 'JobCreated', message: 'the task has a Job' },
    { type: 'Running', status: phase === 'Running' ? 'True' : 'False', reason, message },
    { type: 'Finished', status: terminalPhases.has(phase) ? 'True' : 'False', reason, message },
  ];
  return wanted.map((condition) => {
    const before = previous.find((c) => c.type === condition.type);
    const lastTransitionTime = before && before.status === condition.status ? before.lastTransitionTime : now.toISOString();
    return { ...condition, observedGeneration: generation, lastTransitionTime };
  });
}
