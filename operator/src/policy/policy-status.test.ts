import { describe, expect, test } from '@jest/globals';
import type { ClaudePolicy } from '../../../crds/src/claude-policy.ts';
import { policySummary, summaryPatch } from './policy-status.ts';

const policy = (spec: ClaudePolicy['spec']): ClaudePolicy => ({ apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudePolicy', metadata: { name: 'p' }, spec });

describe('policySummary', () => {
  test.each([
    ['no limit, no budget', {}, { namespaces: 2, running: 3 }, { namespaces: 2, running: '3' }],
    ['a namespace limit', { concurrency: { maxTasksPerNamespace: 10 } }, { namespaces: 1, running: 3 }, { namespaces: 1, running: '3/10' }],
    ['a USD budget, to the cent', { budgets: [{ scope: 'Namespace', period: 'Monthly', maxCostUSD: '500' }] }, { namespaces: 1, running: 0, spentUSD: '12.304999' },
      { namespaces: 1, running: '0', spend: '12.30/500.00' }],
    ['the first USD budget; a token budget before it is passed over',
      { budgets: [{ scope: 'User', period: 'Daily', maxTokens: 5 }, { scope: 'User', period: 'Daily', maxCostUSD: '20.00' }] },
      { namespaces: 0, running: 0 }, { namespaces: 0, running: '0', spend: '0.00/20.00' }],
  ] as const)('%s', (_what, spec, observed, expected) => {
    expect(policySummary(policy(spec as ClaudePolicy['spec']), observed)).toEqual(expected);
  });
});

describe('summaryPatch', () => {
  test('no write when the status shows it already', () => {
    expect(summaryPatch({ namespaces: 1, running: '3/10', spend: '1.00/5.00', conditions: [] }, { namespaces: 1, running: '3/10', spend: '1.00/5.00' }))
      .toBeUndefined();
  });

  test('a change is written; a spend no longer budgeted is removed', () => {
    expect(summaryPatch(undefined, { namespaces: 1, running: '0' })).toEqual({ namespaces: 1, running: '0', spend: null });
    expect(summaryPatch({ namespaces: 1, running: '0', spend: '1.00/5.00' }, { namespaces: 1, running: '0' })).toEqual({ namespaces: 1, running: '0', spend: null });
    expect(summaryPatch({ namespaces: 1, running: '0' }, { namespaces: 1, running: '1' })).toEqual({ namespaces: 1, running: '1', spend: null });
  });
});
