import { describe, expect, test } from '@jest/globals';
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import type { ClaudeTask } from '../../crds/src/claude-task.ts';
import { computeStatus, decidePhase, eventTypeFor, failedStatus, formatDuration, rateLimitedAttempt, ttlDecision } from './task-status.ts';

const now = new Date('2026-01-01T00:10:00Z');
const task = (spec: Partial<ClaudeTask['spec']> = {}, status?: ClaudeTask['status']): ClaudeTask => ({
  apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudeTask',
  metadata: { name: 't', namespace: 'n', uid: 'u', generation: 1 },
  spec: { prompt: 'p', ...spec }, ...(status ? { status } : {}),
});
const job = (status: V1Job['status'] = {}, spec: Partial<V1Job['spec']> = {}): V1Job =>
  ({ metadata: { name: 't-job' }, spec: { template: {}, activeDeadlineSeconds: 60, ...spec }, status: { startTime: new Date('2026-01-01T00:00:00Z'), ...status } });
const cond = (type: string, reason?: string) => ({ type, status: 'True', ...(reason ? { reason } : {}) });
const pod = (phase: string, runner: NonNullable<V1Pod['status']>['containerStatuses'] = [], deleting = false): V1Pod =>
  ({ metadata: { name: `pod-${phase}`, creationTimestamp: new Date('2026-01-01T00:00:01Z'), ...(deleting ? { deletionTimestamp: now } : {}) },
    status: { phase, containerStatuses: runner } });
const summary = JSON.stringify({ outcome: 'failed', exitCode: 1, message: 'API error 500: overloaded', sessionId: 's-1',
  result: 'did it', usage: { inputTokens: 10, outputTokens: 5, costUSD: '0.0123', turns: 2 } });
const terminatedRunner = (exitCode: number, message?: string) =>
  [{ name: 'runner', image: 'r', imageID: '', ready: false, restartCount: 0,
    state: { terminated: { exitCode, ...(message ? { message } : {}) } } }];

describe('decidePhase', () => {
  test.each([
    ['no Job yet', task(), undefined, [], 'Pending', 'Creating'],
    ['Job, no pod yet', task(), job(), [], 'Pending', 'Starting'],
    ['a running pod', task(), job({ active: 1 }), [pod('Running')], 'Running', 'Running'],
    ['Job Complete', task(), job({ conditions: [cond('Complete')] }), [], 'Succeeded', 'Succeeded'],
    ['Job past its deadline', task(), job({ conditions: [cond('Failed', 'DeadlineExceeded')] }), [], 'TimedOut', 'DeadlineExceeded'],
    ['Job out of retries', task(), job({ conditions: [cond('Failed', 'BackoffLimitExceeded')] }), [], 'Failed', 'BackoffLimitExceeded'],
    ['cancel before any Job', task({ cancel: true }), undefined, [], 'Cancelled', 'Cancelled'],
    ['cancel while the pod stops', task({ cancel: true }), job({}, { suspend: true }), [pod('Running', [], true)], 'Running', 'Cancelling'],
    ['cancel once the pod is gone', task({ cancel: true }), job({}, { suspend: true }), [], 'Cancelled', 'Cancelled'],
    ['cancel not yet seen by the Job', task({ cancel: true }), job(), [pod('Running')], 'Running', 'Cancelling'],
  ] as const)('%s → %s', (_name, t, j, pods, phase, reason) => {
    expect(decidePhase({ task: t, job: j, pods: [...pods], now })).toMatchObject({ phase, reason });
  });

  test('a task a concurrency limit holds is Queued with the reason and its place; once it has a Job the limit no longer matters', () => {
    const queued = { reason: 'QuotaExceeded' as const, message: 'ClaudePolicy p allows 2 running tasks per namespace (maxTasksPerNamespace), 2 are running; place 1 in the queue of namespace n' };
    expect(decidePhase({ task: task(), pods: [], now, queued })).toEqual({ phase: 'Queued', reason: 'QuotaExceeded', message: queued.message });
    expect(decidePhase({ task: task(), job: job(), pods: [], now, queued })).toMatchObject({ phase: 'Pending', reason: 'Starting' });
    expect(decidePhase({ task: task({ cancel: true }), pods: [], now, queued })).toMatchObject({ phase: 'Cancelled' });
    const accepted = computeStatus({ task: task(), pods: [], now, queued }).conditions?.find((c) => c.type === 'Accepted');
    expect(accepted).toMatchObject({ status: 'False', reason: 'QuotaExceeded', message: queued.message });
  });

  test.each([
    ['a ResourceQuota', 'Error creating: pods "t-abc" is forbidden: exceeded quota: pods, requested: pods=1, used: pods=1, limited: pods=1', 'QuotaExceeded',
      'a ResourceQuota refuses the task\'s pod (the Job creates it once that changes): pods "t-abc" is forbidden: exceeded quota: pods, requested: pods=1, used: pods=1, limited: pods=1'],
    ['Pod Security', 'Error creating: pods "t-abc" is forbidden: violates PodSecurity "restricted:latest": privileged', 'PodRejected',
      'the apiserver refuses the task\'s pod (the Job creates it once that changes): pods "t-abc" is forbidden: violates PodSecurity "restricted:latest": privileged'],
  ])('a Job whose pod %s refuses is Pending with the apiserver\'s words, not "waiting for the pod"', (_who, podRefusal, reason, message) => {
    const status = computeStatus({ task: task(), job: job(), pods: [], now, podRefusal });
    expect(status).toMatchObject({ phase: 'Pending', reason, message });
    expect(status.conditions?.find((c) => c.type === 'Running')).toMatchObject({ status: 'False', reason, message });
    expect(status.conditions?.find((c) => c.type === 'Accepted')).toMatchObject({ status: 'True', reason: 'JobCreated' });
  });

  test('a Job Kueue has not admitted yet waits for it, saying which LocalQueue; once Kueue unsuspends it, it runs', () => {
    const held = job({}, { suspend: true });
    held.metadata = { ...held.metadata, labels: { 'kueue.x-k8s.io/queue-name': 'claude' } };
    expect(decidePhase({ task: task(), job: held, pods: [], now })).toEqual({
      phase: 'Pending', reason: 'WaitingForKueue', message: 'the Job waits for Kueue to admit it (LocalQueue claude)' });
    const admitted = { ...held, spec: { ...held.spec!, suspend: false } };
    expect(decidePhase({ task: task(), job: admitted, pods: [pod('Running')], now })).toMatchObject({ phase: 'Running' });
    expect(decidePhase({ task: task({ cancel: true }), job: held, pods: [], now })).toMatchObject({ phase: 'Cancelled' });
  });

  test('a refusal the pod has since got past, or one of a finished Job, is history', () => {
    const refusal = 'Error creating: pods "t-abc" is forbidden: exceeded quota: pods';
    expect(decidePhase({ task: task(), job: job(), pods: [pod('Running')], now, podRefusal: refusal })).toMatchObject({ phase: 'Running' });
    expect(decidePhase({ task: task(), job: job(), pods: [pod('Pending')], now, podRefusal: refusal })).toMatchObject({ phase: 'Pending', reason: 'Starting' });
    expect(decidePhase({ task: task(), job: job({ conditions: [cond('Complete')] }), pods: [], now, podRefusal: refusal })).toMatchObject({ phase: 'Succeeded' });
  });

  test('a task a spent budget holds is Queued BudgetExhausted, and Accepted=False says why', () => {
    const queued = { reason: 'BudgetExhausted' as const, message: 'ClaudePolicy p: the Daily Namespace budget is spent (...)' };
    const status = computeStatus({ task: task(), pods: [], now, queued });
    expect(status).toMatchObject({ phase: 'Queued', reason: 'BudgetExhausted', message: queued.message });
    expect(status.conditions?.find((c) => c.type === 'Accepted')).toMatchObject({ status: 'False', reason: 'BudgetExhausted', message: queued.message });
  });

  test('a failure says what the runner said, and how many attempts were made', () => {
    const decided = decidePhase({ task: task(), job: job({ failed: 3, conditions: [cond('Failed', 'BackoffLimitExceeded')] }),
      pods: [pod('Failed', terminatedRunner(1, summary))], now });
    expect(decided.message).toBe('API error 500: overloaded (after 3 attempts)');
  });
});

describe('computeStatus', () => {
  test('takes usage, result and session from the runner summary and times from the Job', () => {
    const status = computeStatus({ task: task(), job: job({ succeeded: 1, completionTime: new Date('2026-01-01T00:01:32Z'), conditions: [cond('Complete')] }),
      pods: [pod('Succeeded', terminatedRunner(0, summary))], now });
    expect(status).toMatchObject({
      phase: 'Succeeded', attempts: 1, jobName: 't-job', podName: 'pod-Succeeded', claudeSessionId: 's-1', result: 'did it', exitCode: 0,
      startTime: '2026-01-01T00:00:00.000Z', completionTime: '2026-01-01T00:01:32.000Z', duration: '1m32s',
      usage: { inputTokens: 10, outputTokens: 5, costUSD: '0.0123', turns: 2 },
    });
    expect(status.conditions?.find((c) => c.type === 'Finished')).toMatchObject({ status: 'True', reason: 'Succeeded', observedGeneration: 1 });
  });

  test('a terminal status is final', () => {
    const done = task({}, { phase: 'Cancelled', message: 'cancelled by spec.cancel' });
    expect(computeStatus({ task: done, job: job({ conditions: [cond('Complete')] }), pods: [], now })).toBe(done.status);
  });

  test('a condition keeps its transition time while its status holds', () => {
    const first = computeStatus({ task: task(), job: job({ active: 1 }), pods: [pod('Running')], now });
    const later = new Date(now.getTime() + 60_000);
    const second = computeStatus({ task: task({}, first), job: job({ active: 1 }), pods: [pod('Running')], now: later });
    expect(second.conditions?.find((c) => c.type === 'Running')?.lastTransitionTime).toBe(now.toISOString());
    expect(second.duration).toBe('11m0s');
  });
});

test.each([[0, '0s'], [59_400, '59s'], [92_000, '1m32s'], [3_600_000, '1h0m0s'], [3_725_000, '1h2m5s']])('formatDuration(%d) = %s', (ms, text) => {
  expect(formatDuration(ms)).toBe(text);
});

describe('conditions', () => {
  const conditionsOf = (status: ReturnType<typeof computeStatus>) =>
    Object.fromEntries((status.conditions ?? []).map((c) => [c.type, `${c.status}/${c.reason}`]));

  test.each([
    ['no Job yet', task(), undefined, [], { Accepted: 'False/Creating', Running: 'False/Creating', Succeeded: 'Unknown/Creating', Finished: 'False/Creating' }],
    ['running', task(), job({ active: 1 }), [pod('Running')], { Accepted: 'True/JobCreated', Running: 'True/Running', Succeeded: 'Unknown/Running', Finished: 'False/Running' }],
    ['succeeded', task(), job({ conditions: [cond('Complete')] }), [], { Accepted: 'True/JobCreated', Running: 'False/Succeeded', Succeeded: 'True/Succeeded', Finished: 'True/Succeeded' }],
    ['timed out', task(), job({ conditions: [cond('Failed', 'DeadlineExceeded')] }), [], { Succeeded: 'False/DeadlineExceeded', Finished: 'True/DeadlineExceeded' }],
    ['cancelled', task({ cancel: true }), undefined, [], { Accepted: 'False/Cancelled', Succeeded: 'False/Cancelled', Finished: 'True/Cancelled' }],
  ] as const)('%s', (_name, t, j, pods, expected) => {
    expect(conditionsOf(computeStatus({ task: t, job: j, pods: [...pods], now }))).toMatchObject(expected);
  });

  test('failedStatus: Failed with the reason in every condition, so kubectl wait returns', () => {
    const status = failedStatus({ task: task(), pods: [], now }, 'JobRejected', 'the apiserver refused it (422): too long');
    expect(status).toMatchObject({ phase: 'Failed', reason: 'JobRejected', message: 'the apiserver refused it (422): too long', completionTime: now.toISOString() });
    expect(conditionsOf(status)).toEqual({ Accepted: 'False/JobRejected', Running: 'False/JobRejected', Succeeded: 'False/JobRejected', Finished: 'True/JobRejected' });
  });

  test('failedStatus leaves a terminal status alone', () => {
    const done = task({}, { phase: 'Succeeded' });
    expect(failedStatus({ task: done, pods: [], now }, 'JobRejected', 'x')).toBe(done.status);
  });
});

describe('reasons', () => {
  const waitingRunner = (reason: string, message: string) =>
    [{ name: 'runner', image: 'r', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason, message } } }];
  const jobWithKey = job({}, { template: { spec: { containers: [], volumes: [{ name: 'anthropic', secret: { secretName: 'anthropic-api-key', items: [{ key: 'api-key', path: 'api-key' }] } }] } } });

  test('a missing API key Secret says what to create', () => {
    const decided = decidePhase({ task: task(), job: jobWithKey, pods: [pod('Pending', waitingRunner('CreateContainerConfigError', 'secret "anthropic-api-key" not found'))], now });
    expect(decided).toMatchObject({ phase: 'Pending', reason: 'APIKeySecretMissing' });
    expect(decided.message).toContain('kubectl create secret generic anthropic-api-key -n n --from-literal=api-key=');
  });

  test('another missing Secret keeps the kubelet\'s words', () => {
    const decided = decidePhase({ task: task(), job: jobWithKey, pods: [pod('Pending', waitingRunner('CreateContainerConfigError', 'secret "other" not found'))], now });
    expect(decided).toEqual({ phase: 'Pending', reason: 'CreateContainerConfigError', message: 'secret "other" not found' });
  });

  test.each([
    ['the runner says why', JSON.stringify({ outcome: 'failed', exitCode: 1, message: 'over budget', reason: 'BudgetExceeded' }), undefined, 'BudgetExceeded'],
    ['the kubelet killed it for memory', undefined, 'OOMKilled', 'OOMKilled'],
    ['otherwise the Job says', undefined, 'Error', 'BackoffLimitExceeded'],
  ])('Failed: %s', (_name, message, terminatedReason, reason) => {
    const runner = [{ name: 'runner', image: 'r', imageID: '', ready: false, restartCount: 0,
      state: { terminated: { exitCode: 1, ...(message ? { message } : {}), ...(terminatedReason ? { reason: terminatedReason } : {}) } } }];
    expect(decidePhase({ task: task(), job: job({ conditions: [cond('Failed', 'BackoffLimitExceeded')] }), pods: [pod('Failed', runner)], now }))
      .toMatchObject({ phase: 'Failed', reason });
  });

  test.each([
    ['Failed', 'BackoffLimitExceeded', 'Warning'],
    ['TimedOut', 'DeadlineExceeded', 'Warning'],
    ['Pending', 'APIKeySecretMissing', 'Warning'],
    ['Pending', 'ErrImagePull', 'Warning'],
    ['Pending', 'Starting', 'Normal'],
    ['Pending', 'QuotaExceeded', 'Warning'],
    ['Pending', 'PodRejected', 'Warning'],
    ['Queued', 'QuotaExceeded', 'Normal'],
    ['Queued', 'BudgetExhausted', 'Normal'],
    ['Running', 'Running', 'Normal'],
    ['Succeeded', 'Succeeded', 'Normal'],
  ] as const)('an Event for %s/%s is %s', (phase, reason, type) => {
    expect(eventTypeFor(phase, reason)).toBe(type);
  });
});

describe('status.model', () => {
  test.each([
    ['the CLI reported it', { model: 'claude-sonnet-4-5' }, JSON.stringify({ outcome: 'succeeded', exitCode: 0, model: 'claude-sonnet-4-5-20250929' }), 'claude-default', 'claude-sonnet-4-5-20250929'],
    ['requested in the spec', { model: 'claude-sonnet-4-5' }, undefined, 'claude-default', 'claude-sonnet-4-5'],
    ['the operator default', {}, undefined, 'claude-default', 'claude-default'],
    ['unknown until the CLI says', {}, undefined, undefined, undefined],
  ])('%s', (_name, spec, message, defaultModel, model) => {
    const pods = message ? [pod('Succeeded', terminatedRunner(0, message))] : [pod('Running')];
    expect(computeStatus({ task: task(spec), job: job({ active: 1 }), pods, now, defaultModel }).model).toBe(model);
  });
});

describe('ttlDecision', () => {
  test.each([
    ['no ttl: kept', undefined, '2026-01-01T00:09:00Z', { action: 'keep' }],
    ['not yet', 120, '2026-01-01T00:09:00Z', { action: 'wait', afterMs: 60_000 }],
    ['exactly now', 60, '2026-01-01T00:09:00Z', { action: 'delete' }],
    ['long past', 0, '2026-01-01T00:00:00Z', { action: 'delete' }],
    ['no completion time: counted from now', 30, undefined, { action: 'wait', afterMs: 30_000 }],
  ] as const)('%s', (_name, ttl, completed, expected) => {
    expect(ttlDecision(ttl, completed, now)).toEqual(expected);
  });
});

describe('rateLimitedAttempt', () => {
  const limited = (resetAt: string | null) => JSON.stringify({ outcome: 'failed', exitCode: 5, reason: 'RateLimited', rateLimitResetAt: resetAt,
    message: 'The Messages API rate-limited the run (429) and the CLI gave up retrying: API Error: Request rejected (429)' });
  const failedJob = job({ conditions: [cond('Failed', 'PodFailurePolicy')] });
  const ended = (message: string) => [pod('Failed', terminatedRunner(5, message))];
  test.each<[string, ClaudeTask, V1Job, V1Pod[], { resetAt: string | undefined } | undefined]>([
    ['a Job failed on a RateLimited attempt, with the reset', task(), failedJob, ended(limited('2026-01-01T00:10:30.000Z')),
      { resetAt: '2026-01-01T00:10:30.000Z' }],
    ['a Job failed on a RateLimited attempt, reset unknown', task(), failedJob, ended(limited(null)), { resetAt: undefined }],
    ['a Job failed for another reason', task(), failedJob, [pod('Failed', terminatedRunner(1, summary))], undefined],
    ['a Job failed without a pod to tell', task(), failedJob, [], undefined],
    ['a Job past its deadline', task(), job({ conditions: [cond('Failed', 'DeadlineExceeded')] }), ended(limited(null)), undefined],
    ['a cancelled task', task({ cancel: true }), failedJob, ended(limited(null)), undefined],
    ['a Job being deleted', task(), { ...failedJob, metadata: { ...failedJob.metadata, deletionTimestamp: now } }, ended(limited(null)), undefined],
    ['a Job still running', task(), job({ active: 1 }), [pod('Running')], undefined],
  ])('%s', (_name, t, j, pods, expected) => {
    expect(rateLimitedAttempt({ task: t, job: j, pods })).toEqual(expected);
  });
});
