import { describe, expect, test } from '@jest/globals';
import type { ClaudePolicy, LabelSelector } from '../../../crds/src/claude-policy.ts';
import { policySelects, selectorMatches } from './label-selector.ts';

describe('selectorMatches', () => {
  const labels = { team: 'a', tier: 'prod' };
  test.each<[string, LabelSelector | undefined, boolean]>([
    ['no selector selects all', undefined, true],
    ['an empty selector selects all', {}, true],
    ['matchLabels all equal', { matchLabels: { team: 'a', tier: 'prod' } }, true],
    ['matchLabels one differs', { matchLabels: { team: 'b' } }, false],
    ['matchLabels one missing', { matchLabels: { owner: 'x' } }, false],
    ['In with the value', { matchExpressions: [{ key: 'team', operator: 'In', values: ['a', 'b'] }] }, true],
    ['In without the value', { matchExpressions: [{ key: 'team', operator: 'In', values: ['c'] }] }, false],
    ['In on a missing key', { matchExpressions: [{ key: 'owner', operator: 'In', values: ['a'] }] }, false],
    ['NotIn with the value', { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['prod'] }] }, false],
    ['NotIn on a missing key', { matchExpressions: [{ key: 'owner', operator: 'NotIn', values: ['a'] }] }, true],
    ['Exists', { matchExpressions: [{ key: 'tier', operator: 'Exists' }] }, true],
    ['Exists on a missing key', { matchExpressions: [{ key: 'owner', operator: 'Exists' }] }, false],
    ['DoesNotExist', { matchExpressions: [{ key: 'owner', operator: 'DoesNotExist' }] }, true],
    ['DoesNotExist on a present key', { matchExpressions: [{ key: 'team', operator: 'DoesNotExist' }] }, false],
    ['labels and expressions must all hold', { matchLabels: { team: 'a' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['dev'] }] }, false],
  ])('%s', (_name, selector, expected) => {
    expect(selectorMatches(selector, labels)).toBe(expected);
  });

  test('a namespace without labels is selected only by selectors that need none', () => {
    expect(selectorMatches({ matchExpressions: [{ key: 'team', operator: 'DoesNotExist' }] }, undefined)).toBe(true);
    expect(selectorMatches({ matchLabels: { team: 'a' } }, undefined)).toBe(false);
  });
});

describe('policySelects', () => {
  const policy = (namespaceSelector?: ClaudePolicy['spec']['namespaceSelector']): ClaudePolicy =>
    ({ apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudePolicy', metadata: { name: 'p' }, spec: { ...(namespaceSelector ? { namespaceSelector } : {}) } }) as ClaudePolicy;
  const cached = { metadata: { name: 'team-a', labels: { 'kubernetes.io/metadata.name': 'team-a', team: 'a' } } };

  test('reads the cached namespace\'s labels', () => {
    expect(policySelects(policy({ matchLabels: { team: 'a' } }), 'team-a', cached)).toBe(true);
    expect(policySelects(policy({ matchLabels: { team: 'b' } }), 'team-a', cached)).toBe(false);
  });

  test('a namespace not cached yet is known only by its name label', () => {
    expect(policySelects(policy(), 'new', undefined)).toBe(true);
    expect(policySelects(policy({ matchLabels: { 'kubernetes.io/metadata.name': 'new' } }), 'new', undefined)).toBe(true);
    expect(policySelects(policy({ matchLabels: { team: 'a' } }), 'new', undefined)).toBe(false);
  });
});
