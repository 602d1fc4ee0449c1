import { describe, expect, test } from '@jest/globals';
import type { ClaudeTask } from '../../crds/src/claude-task.ts';
import { asResolved, resolutionOf } from './resolved-task.ts';

const fromTemplate: ClaudeTask = {
  apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudeTask',
  metadata: { name: 't', namespace: 'n', uid: 'u' },
  spec: { templateRef: { name: 'review' }, variables: { pr: '1' } },
  status: {
    phase: 'Running',
    template: { name: 'review', resourceVersion: '42' },
    resolvedSpec: { prompt: 'Review {{pr}}', maxTurns: 3, variables: { pr: '1' } },
  },
};

describe('asResolved', () => {
  test('a resolved task runs its recorded spec', () => {
    expect(asResolved(fromTemplate).spec).toEqual({ prompt: 'Review {{pr}}', maxTurns: 3, variables: { pr: '1' } });
  });

  test('spec.cancel stays the task\'s own', () => {
    expect(asResolved({ ...fromTemplate, spec: { ...fromTemplate.spec, cancel: true } }).spec.cancel).toBe(true);
  });

  test('a task not resolved yet, or not made from a template, is left as it is', () => {
    const { status: _status, ...unresolved } = fromTemplate;
    expect(asResolved(unresolved)).toBe(unresolved);
  });
});

test('resolutionOf keeps the template and the resolved spec, nothing else', () => {
  expect(resolutionOf(fromTemplate.status)).toEqual({ template: fromTemplate.status?.template, resolvedSpec: fromTemplate.status?.resolvedSpec });
  expect(resolutionOf({ phase: 'Pending' })).toEqual({});
  expect(resolutionOf(undefined)).toEqual({});
});
