// May this task start under the ClaudePolicies' budgets, and with how much left
// to spend? Pure: the gate reads the spend of each scope and period from the
// usage ledger (packages/database/src/usage-ledger.ts) and passes it in, with the
// clock.
//
// Every budget of every policy selecting the task's namespace applies (the
// strictest wins): a task waits while any of them is spent, and a task that
// starts gets the smallest remaining USD as its cap (--max-budget-usd), so the
// CLI stops it before it spends past the budget. Periods are UTC: Daily from
// 00:00 today, Monthly from 00:00 on the 1st. A User budget applies to tasks
// that have a creator (claude-operator.io/created-by) and counts what that user
// spent anywhere.
//
// Money is counted in millionths of a dollar (the ledger's 6 places), as
// bigint: never a float.
import type { ClaudePolicy } from '../../../crds/src/claude-policy.ts';

export type BudgetScope = 'Namespace' | 'User';
export type BudgetPeriod = 'Daily' | 'Monthly';

export interface BudgetRule {
  policy: string;
  scope: BudgetScope;
  period: BudgetPeriod;
  maxCostUSD?: string;
  maxTokens?: number;
}

/** What a scope spent in a period, as readSpend returns it. */
export interface Spend {
  costUSD: string;
  tokens: number;
}

export interface BudgetQuestion {
  rules: readonly BudgetRule[];
  namespace: string;
  /** The task's creator; User budgets do not apply without one. */
  user?: string | undefined;
  /** The spend of the task's scope in the current period of `period`; called only for the rules that apply. */
  spend(scope: BudgetScope, period: BudgetPeriod): Spend;
  now: Date;
}

export type BudgetDecision =
  | { admit: true; /** The smallest USD left across the USD budgets that apply; undefined when none does. */ remainingUSD?: string }
  | { admit: false; reason: 'BudgetExhausted'; message: string };

/** The budgets of these policies (the ones selecting a task's namespace), in order. */
export function budgetRules(policies: readonly ClaudePolicy[]): BudgetRule[] {
  return policies.flatMap((policy) => (policy.spec.budgets ?? []).map((budget): BudgetRule => ({
    policy: policy.metadata.name ?? '', scope: budget.scope, period: budget.period,
    ...(budget.maxCostUSD !== undefined ? { maxCostUSD: budget.maxCostUSD } : {}),
    ...(budget.maxTokens !== undefined ? { maxTokens: budget.maxTokens } : {}),
  })));
}

/** Where the current period began (UTC). */
export function periodStart(period: BudgetPeriod, now: Date): Date {
  return period === 'Daily'
    ? new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()))
    : new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
}

/** When the current period ends and the budget resets (UTC). */
export function periodReset(period: BudgetPeriod, now: Date): Date {
  return period === 'Daily'
    ? new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1))
    : new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
}

/** The rules that apply to this task: User ones only when it has a creator. */
export function applicableRules(rules: readonly BudgetRule[], user: string | undefined): BudgetRule[] {
  return rules.filter((rule) => (rule.maxCostUSD !== undefined || rule.maxTokens !== undefined) && (rule.scope === 'Namespace' || user !== undefined));
}

export function decideBudget(question: BudgetQuestion): BudgetDecision {
  const { namespace, user, now } = question;
  let remaining: bigint | undefined;
  const spent: Array<{ rule: BudgetRule; what: string }> = [];
  for (const rule of applicableRules(question.rules, user)) {
    const spend = question.spend(rule.scope, rule.period);
    const who = rule.scope === 'Namespace' ? `namespace ${namespace}` : `user ${user}`;
    if (rule.maxCostUSD !== undefined) {
      const left = micros(rule.maxCostUSD) - micros(spend.costUSD);
      if (left <= 0n) spent.push({ rule, what: `${who} has spent ${formatUSD(micros(spend.costUSD))}/${formatUSD(micros(rule.maxCostUSD))} USD` });
      else if (remaining === undefined || left < remaining) remaining = left;
    }
    if (rule.maxTokens !== undefined && spend.tokens >= rule.maxTokens) {
      spent.push({ rule, what: `${who} has used ${spend.tokens}/${rule.maxTokens} tokens` });
    }
  }
  if (spent.length > 0) {
    // Named: the spent budget that holds the task longest.
    const holding = spent.reduce((a, b) => (periodReset(b.rule.period, now) > periodReset(a.rule.period, now) ? b : a));
    const { rule } = holding;
    return {
      admit: false, reason: 'BudgetExhausted',
      message: `ClaudePolicy ${rule.policy}: the ${rule.period} ${rule.scope} budget is spent (${holding.what} since ${periodStart(rule.period, now).toISOString()}); `
        + `the task waits until it resets at ${periodReset(rule.period, now).toISOString()} or the budget is raised`,
    };
  }
  return remaining === undefined ? { admit: true } : { admit: true, remainingUSD: formatUSD(remaining) };
}

/** The cap a started task runs with: the smaller of its own spec.maxBudgetUSD and what is left. */
export function cappedBudget(own: string | undefined, remainingUSD: string | undefined): string | undefined {
  if (remainingUSD === undefined) return own;
  if (own === undefined) return remainingUSD;
  return micros(own) <= micros(remainingUSD) ? own : remainingUSD;
}

/** A decimal string of dollars in millionths; places past the sixth are dropped. */
export function micros(usd: string): bigint {
  const [whole = '0', fraction = ''] = usd.trim().split('.');
  return BigInt(whole || '0') * 1_000_000n + BigInt((fraction + '000000').slice(0, 6));
}

/** Millionths of a dollar as a decimal string: at least 2 places, more only when they are not zero ("12.30", "0.123456");
 * with `places`, rounded (half up) to exactly that many, for a display ("12.35"). */
export function formatUSD(value: bigint, places?: number): string {
  const negative = value < 0n;
  let abs = negative ? -value : value;
  if (places !== undefined) {
    const unit = 10n ** BigInt(6 - places);
    abs = ((abs + unit / 2n) / unit) * unit;
  }
  const digits = (abs % 1_000_000n).toString().padStart(6, '0');
  const fraction = places !== undefined ? digits.slice(0, places) : digits.replace(/0{1,4}$/, '');
  return `${negative ? '-' : ''}${abs / 1_000_000n}${fraction ? `.${fraction}` : ''}`;
}
