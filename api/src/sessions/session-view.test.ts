import { expect, test } from '@jest/globals';
import type { ClaudeSession } from '../../../crds/src/claude-session.ts';
import { closedSessionDetail } from './session-view.ts';

const session = (status: ClaudeSession['status']): ClaudeSession => ({
  apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudeSession', metadata: { name: 's', namespace: 'n' }, spec: {}, ...(status ? { status } : {}),
});

test('the 409 for a closed session says its phase and why, as the status has it', () => {
  expect(closedSessionDetail(session({ phase: 'Failed', reason: 'APIKeySecretMissing', message: 'the Secret k does not exist' })))
    .toBe('the session is Failed (APIKeySecretMissing: the Secret k does not exist): it takes no more messages; its history still reads');
  expect(closedSessionDetail(session({ phase: 'Archived', reason: 'Archived', message: 'no message for 60 s' })))
    .toBe('the session is Archived (no message for 60 s): it takes no more messages; its history still reads');
  expect(closedSessionDetail(session({ phase: 'Archived' }))).toBe('the session is Archived: it takes no more messages; its history still reads');
});
