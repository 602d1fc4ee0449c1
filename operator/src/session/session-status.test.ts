// decideSession over every phase of the design, from made-up worlds.
import { describe, expect, test } from '@jest/globals';
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import type { ClaudeSession, ClaudeSessionStatus } from '../../../crds/src/claude-session.ts';
import type { TaskEventRecord } from '../../../packages/contracts/src/task-events.ts';
import type { SessionTotals } from '../../../packages/database/src/session-records.ts';
import { decideSession, type ObservedSession } from './session-status.ts';

const now = new Date('2026-01-01T12:00:00Z');
const minutesAgo = (m: number) => new Date(now.getTime() - m * 60_000).toISOString();
const uid = '0b6f3a52-9a2e-4c0e-8d55-2f3c1a9e7b10';

function session(spec: ClaudeSession['spec'] = {}, status: ClaudeSessionStatus = {}): ClaudeSession {
  return {
    apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudeSession',
    metadata: { name: 'chat', namespace: 'team-a', uid, generation: 1, creationTimestamp: minutesAgo(600) }, spec, status,
  };
}

const totals = (over: Partial<SessionTotals> = {}): SessionTotals => ({
  messages: 2, waiting: 0, turns: 3, lastActivityTime: minutesAgo(5),
  usage: { inputTokens: 10, outputTokens: 20, cacheReadInputTokens: 0, cacheCreationInputTokens: 0, costUSD: '0.1', turns: 3 }, ...over,
});

const job = (over: { conditions?: Array<{ type: string; reason?: string }>; suspend?: boolean } = {}): V1Job => ({
  metadata: { name: 'chat-1' },
  spec: {
    suspend: over.suspend ?? false,
    template: { spec: { containers: [], volumes: [{ name: 'anthropic', secret: { secretName: 'anthropic-api-key', items: [{ key: 'api-key', path: 'api-key' }] } }] } },
  },
  status: { conditions: (over.conditions ?? []).map((c) => ({ ...c, status: 'True' })) },
});

const pod = (phase: string, state: NonNullable<NonNullable<V1Pod['status']>['containerStatuses']>[number]['state'] = {}): V1Pod => ({
  metadata: { name: 'chat-1-abcde', creationTimestamp: minutesAgo(10) as unknown as Date },
  status: { phase, containerStatuses: [{ name: 'runner', image: 'r', imageID: '', ready: phase === 'Running', restartCount: 0, state }] },
});

const event = (type: string, minutes: number, data: Record<string, unknown> = {}): TaskEventRecord => ({ seq: 9, type, time: minutesAgo(minutes), data: { type, ...data } });

function world(over: Partial<ObservedSession> = {}): ObservedSession {
  return { session: session({}, { activations: 1 }), job: job(), pods: [], pvcExists: true, totals: totals(), now, ...over };
}

const budgetSpent = { message: 'ClaudePolicy p: the Monthly Namespace budget is spent (0.61/0.60 USD); it resets at 2026-02-01T00:00:00.000Z' };
const missingSecret = { waiting: { reason: 'CreateContainerConfigError', message: 'secret "anthropic-api-key" not found' } };

describe('decideSession: phase and action', () => {
  test.each<[string, Partial<ObservedSession>, string, string, string]>([
    ['new: no Job yet', { session: session(), job: undefined }, 'Pending', 'Creating', 'activate 1'],
    ['new and suspended', { session: session({ suspend: true }), job: undefined }, 'Suspended', 'Suspended', 'none'],
    ['Job made, no pod', {}, 'Starting', 'Starting', 'none'],
    ['pod pulling', { pods: [pod('Pending', { waiting: { reason: 'ContainerCreating' } })] }, 'Starting', 'ContainerCreating', 'none'],
    ['pod running, runner not started', { pods: [pod('Running')] }, 'Starting', 'RunnerStarting', 'none'],
    ['runner started before this pod (a previous pod)', { pods: [pod('Running')], lastLifecycleEvent: event('runner.turn_completed', 20) }, 'Starting', 'RunnerStarting', 'none'],
    ['runner started', { pods: [pod('Running')], lastLifecycleEvent: event('runner.started', 9) }, 'Ready', 'Ready', 'none'],
    ['a turn in flight', { pods: [pod('Running')], lastLifecycleEvent: event('runner.turn_started', 1, { messageId: 'msg_1' }) }, 'Busy', 'TurnInFlight', 'none'],
    ['the turn answered', { pods: [pod('Running')], lastLifecycleEvent: event('runner.turn_completed', 1) }, 'Ready', 'Ready', 'none'],
    ['idle exit', { job: job({ conditions: [{ type: 'Complete' }] }), lastLifecycleEvent: event('runner.session_ended', 1) }, 'Suspended', 'Idle', 'none'],
    ['idle exit, a message waits', { job: job({ conditions: [{ type: 'Complete' }] }), totals: totals({ waiting: 1 }) }, 'Starting', 'MessageWaiting', 'activate 2'],
    ['spec.suspend set while running', { session: session({ suspend: true }, { activations: 1 }), pods: [pod('Running')] }, 'Starting', 'Suspending', 'stop'],
    ['suspended Job, pod stopping', { session: session({ suspend: true }, { activations: 1 }), job: job({ suspend: true }), pods: [pod('Running')] }, 'Starting', 'Suspending', 'none'],
    ['suspended Job, pod gone', { session: session({ suspend: true }, { activations: 1 }), job: job({ suspend: true }) }, 'Suspended', 'Suspended', 'none'],
    ['suspended with a message waiting: spec.suspend holds it', {
      session: session({ suspend: true }, { activations: 1 }), job: job({ suspend: true }), totals: totals({ waiting: 2 }) }, 'Suspended', 'Suspended', 'none'],
    ['spec.suspend cleared, a message waits', { job: job({ suspend: true }), totals: totals({ waiting: 1 }) }, 'Starting', 'MessageWaiting', 'activate 2'],
    ['invalid spec exit 2', { job: job({ conditions: [{ type: 'Failed', reason: 'PodFailurePolicy' }] }),
      pods: [pod('Failed', { terminated: { exitCode: 2 } })] }, 'Failed', 'InvalidSpec', 'none'],
    ['activation failed after its retries', { job: job({ conditions: [{ type: 'Failed', reason: 'BackoffLimitExceeded' }] }),
      pods: [pod('Failed', { terminated: { exitCode: 1 } })] }, 'Failed', 'ActivationFailed', 'none'],
    ['API-key Secret missing: Failed, the pod stopped', { pods: [pod('Pending', missingSecret)] }, 'Failed', 'APIKeySecretMissing', 'stop'],
    ['the Job of the activation is gone: made again', { job: undefined }, 'Starting', 'Creating', 'activate 1'],
    ['invalid spec in the resource', { session: session({ idleTimeoutSeconds: 1 }) }, 'Failed', 'InvalidSpec', 'none'],
    ['Suspended, archive time not reached', { session: session({ archiveAfterSeconds: 3600 }, { activations: 1 }),
      job: job({ conditions: [{ type: 'Complete' }] }) }, 'Suspended', 'Idle', 'none'],
    ['Suspended past archiveAfterSeconds', { session: session({ archiveAfterSeconds: 60 }, { activations: 1 }),
      job: job({ conditions: [{ type: 'Complete' }] }) }, 'Archived', 'Archived', 'archive'],
    ['past archiveAfterSeconds with a message waiting: woken instead', { session: session({ archiveAfterSeconds: 60 }, { activations: 1 }),
      job: job({ conditions: [{ type: 'Complete' }] }), totals: totals({ waiting: 1 }) }, 'Starting', 'MessageWaiting', 'activate 2'],
    ['Archived stays Archived', { session: session({}, { phase: 'Archived', reason: 'Archived', activations: 1 }), job: undefined, totals: totals({ waiting: 1 }) },
      'Archived', 'Archived', 'none'],
    ['new, the budget spent: Suspended before any pod', { session: session(), job: undefined, budgetSpent }, 'Suspended', 'BudgetExhausted', 'none'],
    ['new, suspended and the budget spent: spec.suspend says it', { session: session({ suspend: true }), job: undefined, budgetSpent }, 'Suspended', 'Suspended', 'none'],
    ['the budget spent while Ready: the pod is stopped', { pods: [pod('Running')], lastLifecycleEvent: event('runner.turn_completed', 1), budgetSpent },
      'Starting', 'BudgetExhausted', 'stop'],
    ['the budget spent mid-turn: the turn ends first', { pods: [pod('Running')], lastLifecycleEvent: event('runner.turn_started', 1, { messageId: 'm' }), budgetSpent },
      'Busy', 'TurnInFlight', 'none'],
    ['stopped for the budget, pod gone, a message waits: held', { job: job({ suspend: true }), totals: totals({ waiting: 1 }), budgetSpent },
      'Suspended', 'BudgetExhausted', 'none'],
    ['idle, the budget spent, a message waits: held', { job: job({ conditions: [{ type: 'Complete' }] }), totals: totals({ waiting: 1 }), budgetSpent },
      'Suspended', 'BudgetExhausted', 'none'],
    ['the budget raised, a message waits: resumed', { job: job({ suspend: true }), totals: totals({ waiting: 1 }) }, 'Starting', 'MessageWaiting', 'activate 2'],
    ['the budget raised, no message: Suspended until one comes', { job: job({ suspend: true }) }, 'Suspended', 'Idle', 'none'],
    ['the Job gone and the budget spent: not made again', { job: undefined, budgetSpent }, 'Suspended', 'BudgetExhausted', 'none'],
    ['Failed stays Failed, and its pod is stopped', { session: session({}, { phase: 'Failed', reason: 'APIKeySecretMissing', activations: 1 }),
      pods: [pod('Running')], lastLifecycleEvent: event('runner.started', 1) }, 'Failed', 'APIKeySecretMissing', 'stop'],
  ])('%s', (_name, over, phase, reason, action) => {
    const decision = decideSession(world(over));
    expect([decision.status.phase, decision.status.reason]).toEqual([phase, reason]);
    expect(decision.action.type === 'activate' ? `activate ${decision.action.activation}` : decision.action.type).toBe(action);
  });
});

describe('decideSession: status fields', () => {
  test('held by a spent budget: the Suspended condition says which budget and when it resets; the workspace stays', () => {
    const decision = decideSession(world({ job: job({ suspend: true }), totals: totals({ waiting: 1 }), budgetSpent }));
    expect(decision.status).toMatchObject({ phase: 'Suspended', reason: 'BudgetExhausted', message: budgetSpent.message, workspacePVC: expect.any(String) });
    expect(decision.status.conditions?.find((c) => c.type === 'Suspended')).toMatchObject({ status: 'True', reason: 'BudgetExhausted', message: budgetSpent.message });
    expect(decision.ensurePvc).toBeUndefined();
  });

  test('totals, the session id, the PVC, the Job and pod, the active turn and the model', () => {
    const { status } = decideSession(world({
      pods: [pod('Running')], lastLifecycleEvent: event('runner.turn_started', 1, { messageId: 'msg_1' }),
      session: session({ model: 'claude-x' }, { activations: 1 }),
    }));
    expect(status).toMatchObject({
      claudeSessionId: uid, workspacePVC: 'chat-session', jobName: 'chat-1', podName: 'chat-1-abcde', activeTurn: 'msg_1', model: 'claude-x',
      messages: 2, turns: 3, lastActivityTime: minutesAgo(5), usage: { costUSD: '0.1' }, activations: 1, observedGeneration: 1,
    });
    expect(status.conditions?.map((c) => [c.type, c.status])).toEqual([['Ready', 'True'], ['Suspended', 'False']]);
  });

  test('Suspended: the Suspended condition, no pod, no active turn; a named PVC is the workspace', () => {
    const { status } = decideSession(world({
      session: session({ workspace: { persistentVolumeClaim: { claimName: 'mine' } } }, { activations: 1, activeTurn: 'msg_1', podName: 'old' }),
      job: job({ conditions: [{ type: 'Complete' }] }), pods: [pod('Succeeded')],
    }));
    expect(status).toMatchObject({ phase: 'Suspended', workspacePVC: 'mine' });
    expect(status.activeTurn).toBeUndefined();
    expect(status.podName).toBeUndefined();
    expect(status.conditions?.map((c) => [c.type, c.status])).toEqual([['Ready', 'False'], ['Suspended', 'True']]);
  });

  test('the model of the last answered turn wins over the spec\'s', () => {
    const { status } = decideSession(world({ pods: [pod('Running')], lastLifecycleEvent: event('runner.turn_completed', 1, { model: 'claude-ran' }),
      session: session({ model: 'claude-x' }, { activations: 1 }) }));
    expect(status.model).toBe('claude-ran');
  });

  test('a condition keeps its lastTransitionTime while its status holds', () => {
    const first = decideSession(world({ pods: [pod('Running')], lastLifecycleEvent: event('runner.started', 9) })).status;
    const later = decideSession(world({
      session: session({}, { ...first, activations: 1 }), now: new Date(now.getTime() + 60_000),
      pods: [pod('Running')], lastLifecycleEvent: event('runner.turn_started', 1, { messageId: 'm' }),
    })).status;
    expect(later.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime).toBe(now.toISOString());
  });

  test('Suspended with archiveAfterSeconds asks to be looked at again when it would be archived', () => {
    const decision = decideSession(world({ session: session({ archiveAfterSeconds: 3600 }, { activations: 1 }), job: job({ conditions: [{ type: 'Complete' }] }) }));
    expect(decision.requeueAfterMs).toBe(55 * 60_000);
  });

  test('the PVC the operator makes is made again when it is missing, not for a named one or an archived session', () => {
    expect(decideSession(world({ pvcExists: false })).ensurePvc).toBe(true);
    expect(decideSession(world({ pvcExists: false, session: session({ workspace: { persistentVolumeClaim: { claimName: 'mine' } } }, { activations: 1 }) })).ensurePvc)
      .toBeUndefined();
    expect(decideSession(world({ pvcExists: false, session: session({}, { phase: 'Archived', activations: 1 }) })).ensurePvc).toBeUndefined();
  });

  test.each<[string, Partial<ObservedSession>, string | undefined]>([
    ['Failed with its pod stopped: the waiting messages fail, saying why', {
      session: session({}, { phase: 'Failed', reason: 'APIKeySecretMissing', message: 'secret "k" not found', activations: 2 }),
      pods: [pod('Failed')], totals: totals({ waiting: 1 }) },
    'the session became Failed (APIKeySecretMissing: secret "k" not found) before this message was answered'],
    ['Failed just now, its pod still running: stopped first, failed on a later pass', {
      pods: [pod('Pending', missingSecret)], totals: totals({ waiting: 1 }) }, undefined],
    ['Failed with no message waiting: nothing to fail', {
      session: session({}, { phase: 'Failed', reason: 'InvalidSpec', message: 'bad', activations: 1 }) }, undefined],
    ['Archived with a message waiting', { session: session({}, { phase: 'Archived', reason: 'Archived', message: 'no message for 60 s', activations: 1 }),
      job: undefined, totals: totals({ waiting: 2 }) }, 'the session became Archived (no message for 60 s) before this message was answered'],
    ['Suspended with a message waiting: woken, not failed', { job: job({ conditions: [{ type: 'Complete' }] }), totals: totals({ waiting: 1 }) }, undefined],
  ])('failWaiting: %s', (_name, over, failWaiting) => {
    expect(decideSession(world(over)).failWaiting).toBe(failWaiting);
  });
});
