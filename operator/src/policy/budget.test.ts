import { describe, expect, test } from '@jest/globals';
import type { ClaudePolicy } from '../../../crds/src/claude-policy.ts';
import {
  budgetRules, cappedBudget, decideBudget, formatUSD, micros, periodReset, periodStart, type BudgetRule, type Spend,
} from './budget.ts';

const now = new Date('2026-12-15T13:45:00Z');
const rule = (policy: string, more: Partial<BudgetRule>): BudgetRule => ({ policy, scope: 'Namespace', period: 'Daily', ...more });
/** Spend by `scope/period`, e.g. 'Namespace/Daily'; nothing spent elsewhere. */
const spending = (table: Record<string, Partial<Spend>>) => {
  const asked: string[] = [];
  return {
    asked,
    spend: (scope: string, period: string): Spend => {
      asked.push(`${scope}/${period}`);
      return { costUSD: '0', tokens: 0, ...table[`${scope}/${period}`] };
    },
  };
};

describe('periods (UTC)', () => {
  test.each([
    ['Daily', '2026-12-15T13:45:00Z', '2026-12-15T00:00:00.000Z', '2026-12-16T00:00:00.000Z'],
    ['Daily', '2026-12-31T23:59:59Z', '2026-12-31T00:00:00.000Z', '2027-01-01T00:00:00.000Z'],
    ['Monthly', '2026-12-15T13:45:00Z', '2026-12-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z'],
    ['Monthly', '2028-02-29T10:00:00Z', '2028-02-01T00:00:00.000Z', '2028-03-01T00:00:00.000Z'],
    ['Daily', '2026-12-15T00:00:00Z', '2026-12-15T00:00:00.000Z', '2026-12-16T00:00:00.000Z'],
  ] as const)('%s at %s: from %s, resets %s', (period, at, start, reset) => {
    expect(periodStart(period, new Date(at)).toISOString()).toBe(start);
    expect(periodReset(period, new Date(at)).toISOString()).toBe(reset);
  });
});

describe('decideBudget', () => {
  test.each([
    ['no budgets: admitted, no cap', [], {}, 'alice', { admit: true }],
    ['under a USD budget: the rest is the cap', [rule('p', { maxCostUSD: '10.00' })], { 'Namespace/Daily': { costUSD: '2.500000' } }, 'alice',
      { admit: true, remainingUSD: '7.50' }],
    ['two budgets: the smallest rest', [rule('p', { maxCostUSD: '10.00' }), rule('q', { scope: 'User', period: 'Monthly', maxCostUSD: '3' })],
      { 'Namespace/Daily': { costUSD: '2.5' }, 'User/Monthly': { costUSD: '0.123456' } }, 'alice', { admit: true, remainingUSD: '2.876544' }],
    ['a token budget under its limit: admitted, no USD cap', [rule('p', { maxTokens: 1000 })], { 'Namespace/Daily': { tokens: 999 } }, 'alice',
      { admit: true }],
    ['a User budget without a creator does not apply', [rule('p', { scope: 'User', maxCostUSD: '1.00' })], { 'User/Daily': { costUSD: '5' } }, undefined,
      { admit: true }],
    ['a budget with no limit set does not apply', [rule('p', {})], { 'Namespace/Daily': { costUSD: '5' } }, 'alice', { admit: true }],
  ] as const)('%s', (_what, rules, table, user, expected) => {
    expect(decideBudget({ rules, namespace: 'ns', user, now, ...spending(table) })).toEqual(expected);
  });

  test.each([
    ['USD spent exactly', [rule('team', { maxCostUSD: '1.00' })], { 'Namespace/Daily': { costUSD: '1.000000' } },
      'ClaudePolicy team: the Daily Namespace budget is spent (namespace ns has spent 1.00/1.00 USD since 2026-12-15T00:00:00.000Z); '
      + 'the task waits until it resets at 2026-12-16T00:00:00.000Z or the budget is raised'],
    ['USD spent past the limit', [rule('team', { maxCostUSD: '1.00' })], { 'Namespace/Daily': { costUSD: '1.234567' } },
      expect.stringContaining('namespace ns has spent 1.234567/1.00 USD')],
    ['tokens used up', [rule('team', { scope: 'User', period: 'Monthly', maxTokens: 5000 })], { 'User/Monthly': { tokens: 5001 } },
      'ClaudePolicy team: the Monthly User budget is spent (user alice has used 5001/5000 tokens since 2026-12-01T00:00:00.000Z); '
      + 'the task waits until it resets at 2027-01-01T00:00:00.000Z or the budget is raised'],
    ['strictest wins: one spent budget holds, whatever the others leave', [rule('loose', { maxCostUSD: '100' }), rule('strict', { maxCostUSD: '0.50' })],
      { 'Namespace/Daily': { costUSD: '0.60' } }, expect.stringMatching(/^ClaudePolicy strict: .* 0\.60\/0\.50 USD/)],
    ['several spent: the one that resets last is named', [rule('daily', { maxCostUSD: '1' }), rule('monthly', { period: 'Monthly', maxCostUSD: '1' })],
      { 'Namespace/Daily': { costUSD: '2' }, 'Namespace/Monthly': { costUSD: '2' } }, expect.stringMatching(/^ClaudePolicy monthly: the Monthly/)],
    ['a USD budget with room but its tokens spent', [rule('p', { maxCostUSD: '100', maxTokens: 10 })], { 'Namespace/Daily': { costUSD: '1', tokens: 10 } },
      expect.stringContaining('namespace ns has used 10/10 tokens')],
  ] as const)('held: %s', (_what, rules, table, message) => {
    expect(decideBudget({ rules, namespace: 'ns', user: 'alice', now, ...spending(table) }))
      .toEqual({ admit: false, reason: 'BudgetExhausted', message });
  });

  test('the spend is asked only for the rules that apply', () => {
    const reader = spending({});
    decideBudget({ rules: [rule('p', { maxCostUSD: '1' }), rule('p', { scope: 'User', period: 'Monthly', maxTokens: 5 })], namespace: 'ns', now, ...reader });
    expect(reader.asked).toEqual(['Namespace/Daily']);
  });
});

test('budgetRules: every budget of every policy, named by its policy', () => {
  const policy = (name: string, budgets: NonNullable<ClaudePolicy['spec']['budgets']>): ClaudePolicy =>
    ({ apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudePolicy', metadata: { name }, spec: { budgets } });
  expect(budgetRules([policy('a', [{ scope: 'Namespace', period: 'Monthly', maxCostUSD: '500.00' }]),
    policy('b', [{ scope: 'User', period: 'Daily', maxCostUSD: '20.00', maxTokens: 5_000_000 }])])).toEqual([
    { policy: 'a', scope: 'Namespace', period: 'Monthly', maxCostUSD: '500.00' },
    { policy: 'b', scope: 'User', period: 'Daily', maxCostUSD: '20.00', maxTokens: 5_000_000 },
  ]);
});

describe('money', () => {
  test.each([
    ['5', 5_000_000n, '5.00'], ['12.30', 12_300_000n, '12.30'], ['0.123456', 123_456n, '0.123456'], ['0.1234567', 123_456n, '0.123456'],
    ['.5', 500_000n, '0.50'], ['0.000001', 1n, '0.000001'], ['1.2000', 1_200_000n, '1.20'],
  ] as const)('%s is %s millionths, shown as %s', (usd, value, shown) => {
    expect(micros(usd)).toBe(value);
    expect(formatUSD(value)).toBe(shown);
  });

  test.each([
    [12_345_000n, '12.35'], [12_344_999n, '12.34'], [0n, '0.00'], [999_999_999n, '1000.00'], [5_000_000n, '5.00'],
  ] as const)('%s millionths shown to the cent: %s', (value, shown) => {
    expect(formatUSD(value, 2)).toBe(shown);
  });

  test.each([
    [undefined, undefined, undefined], ['5.00', undefined, '5.00'], [undefined, '2.50', '2.50'], ['5.00', '2.50', '2.50'], ['1', '2.50', '1'],
  ] as const)('cappedBudget(%s, %s) = %s', (own, remaining, capped) => {
    expect(cappedBudget(own, remaining)).toBe(capped);
  });
});
