import { expect, test } from '@jest/globals';
import type { ClaudeTask } from '../../crds/src/claude-task.ts';
import { slimTask } from './cluster-cache.ts';

const task = (phase: 'Running' | 'Succeeded'): ClaudeTask => ({
  apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudeTask',
  metadata: { name: 't', namespace: 'n', uid: 'u' },
  spec: { templateRef: { name: 'review' }, variables: { pr: '1' }, ttlSecondsAfterFinished: 60 },
  status: { phase, resolvedSpec: { prompt: 'p'.repeat(1000), systemPrompt: 's', variables: { pr: '1' }, maxTurns: 3 } },
});

test('a finished task is cached without its prompts, in its spec and in its resolved spec', () => {
  const slim = slimTask(task('Succeeded'));
  expect(slim.spec).toEqual({ templateRef: { name: 'review' }, ttlSecondsAfterFinished: 60, prompt: '' });
  expect(slim.status?.resolvedSpec).toEqual({ prompt: '', maxTurns: 3 });
});

test('a running task keeps them: its Job is still to be made from them', () => {
  expect(slimTask(task('Running'))).toEqual(task('Running'));
});
