import { describe, expect, test } from '@jest/globals';
import type { ClaudePolicy } from '../../../crds/src/claude-policy.ts';
import type { ClaudeSession, SessionPhase } from '../../../crds/src/claude-session.ts';
import { createdByAnnotation } from '../../../crds/src/claude-task.ts';
import { SessionGate } from './session-gate.ts';

const session = (name: string, user: string | undefined, phase?: SessionPhase, minute = 0): ClaudeSession => ({
  apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudeSession',
  metadata: { namespace: 'team-a', name, creationTimestamp: `2026-12-02T10:${String(minute).padStart(2, '0')}:00Z`,
    ...(user ? { annotations: { [createdByAnnotation]: user } } : {}) },
  spec: {},
  ...(phase ? { status: { phase, activations: 1 } } : {}),
}) as ClaudeSession;

const policy = (maxSessionsPerUser: number | undefined, selector: Record<string, string> = {}): ClaudePolicy => ({
  apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudePolicy', metadata: { name: 'team-policy' },
  spec: { namespaceSelector: { matchLabels: selector }, ...(maxSessionsPerUser ? { concurrency: { maxSessionsPerUser } } : {}) },
}) as ClaudePolicy;

function gateOver(sessions: ClaudeSession[], policies: ClaudePolicy[]) {
  const gate = new SessionGate({ sessions: () => sessions, policies: () => policies, namespace: () => undefined });
  const started: string[] = [];
  const admit = (s: ClaudeSession, activation = 1) => gate.admit(s, activation, async () => { started.push(s.metadata.name ?? ''); return true; });
  return { gate, started, admit };
}

describe('SessionGate', () => {
  test.each([
    ['no policy limits sessions', [], [session('busy', 'alice', 'Busy')], 'alice', true],
    ['a policy without maxSessionsPerUser', [policy(undefined)], [session('busy', 'alice', 'Busy')], 'alice', true],
    ['a policy selecting other namespaces', [policy(1, { team: 'b' })], [session('busy', 'alice', 'Busy')], 'alice', true],
    ['the user has room', [policy(2)], [session('busy', 'alice', 'Busy')], 'alice', true],
    ['the user is at the limit', [policy(1)], [session('ready', 'alice', 'Ready')], 'alice', false],
    ['another user is at the limit', [policy(1)], [session('ready', 'bob', 'Ready')], 'alice', true],
    ['the user\'s sessions are Suspended, Failed or Archived', [policy(1)],
      [session('s', 'alice', 'Suspended'), session('f', 'alice', 'Failed'), session('a', 'alice', 'Archived')], 'alice', true],
    ['a session without a creator is not limited', [policy(1)], [session('ready', 'alice', 'Ready')], undefined, true],
  ] as const)('%s', async (_case, policies, others, user, admitted) => {
    const asking = session('asking', user, undefined, 30);
    const { admit, started } = gateOver([...others, asking], [...policies]);
    const admission = await admit(asking);
    expect(admission.admit).toBe(admitted);
    expect(started).toEqual(admitted ? ['asking'] : []);
  });

  test('a held session is told the limit, the user and its place', async () => {
    const asking = session('second', 'alice', undefined, 5);
    const { admit } = gateOver([session('first', 'alice', 'Ready'), asking], [policy(1)]);
    expect(await admit(asking)).toEqual({ admit: false, reason: 'QuotaExceeded',
      message: 'ClaudePolicy team-policy allows 1 running sessions per user (maxSessionsPerUser), alice has 1; place 1 in the queue of namespace team-a' });
  });

  test('two sessions of one user asking at once: one starts, the other waits (the first counts before the cache shows it)', async () => {
    const one = session('one', 'alice', undefined, 1);
    const two = session('two', 'alice', undefined, 2);
    const { admit, started } = gateOver([one, two], [policy(1)]);
    const [a, b] = await Promise.all([admit(one), admit(two)]);
    expect([a.admit, b.admit]).toEqual([true, false]);
    expect(started).toEqual(['one']);
  });

  test('the oldest Queued session goes first when room frees up', async () => {
    const older = session('older', 'alice', 'Queued', 1);
    const newer = session('newer', 'alice', undefined, 9);
    const { admit } = gateOver([older, newer], [policy(1)]);
    expect((await admit(newer)).admit).toBe(false);
    expect((await admit(older)).admit).toBe(true);
  });

  test('asking again for the activation it was admitted for (the cache was behind its Job) is admitted, full or not', async () => {
    const asking = session('asking', 'alice', undefined, 1);
    const sessions = [asking];
    const { admit } = gateOver(sessions, [policy(1)]);
    expect((await admit(asking, 1)).admit).toBe(true);
    sessions.push(session('other', 'alice', 'Ready', 2));
    expect((await admit(asking, 1)).admit).toBe(true);
    expect((await admit(asking, 2)).admit).toBe(false);
  });
});
