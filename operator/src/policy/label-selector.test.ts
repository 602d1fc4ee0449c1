import { describe, expect, test } from '@jest/globals';
import type { LabelSelector } from '../../../crds/src/claude-policy.ts';
import { selectorMatches } from './label-selector.ts';

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
