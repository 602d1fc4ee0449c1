// What `kubectl get cpol` shows: how many namespaces a ClaudePolicy selects,
// the tasks running in them against its limit, and the spend of its first USD
// budget in the current period against that budget. Gathered from the caches
// and the usage ledger by PolicyStatusReconciler; decided here, purely.
import type { ClaudePolicy, ClaudePolicyStatus } from '../../../crds/src/claude-policy.ts';
import { formatUSD, micros } from './budget.ts';

export type PolicySummary = Required<Pick<ClaudePolicyStatus, 'namespaces' | 'running'>> & Pick<ClaudePolicyStatus, 'spend'>;

export interface PolicyObservation {
  /** Namespaces the policy selects. */
  namespaces: number;
  /** Tasks with a Job that have not ended, in those namespaces. */
  running: number;
  /** The first USD budget's spend this period (the largest namespace's or user's, by its scope), when it has one. */
  spentUSD?: string;
}

/** The budget `spend` is about: the first with maxCostUSD. */
export function firstUsdBudget(policy: ClaudePolicy): NonNullable<ClaudePolicy['spec']['budgets']>[number] | undefined {
  return policy.spec.budgets?.find((budget) => budget.maxCostUSD !== undefined);
}

export function policySummary(policy: ClaudePolicy, observed: PolicyObservation): PolicySummary {
  const limit = policy.spec.concurrency?.maxTasksPerNamespace;
  const budget = firstUsdBudget(policy);
  return {
    namespaces: observed.namespaces,
    running: limit === undefined ? String(observed.running) : `${observed.running}/${limit}`,
    ...(budget?.maxCostUSD !== undefined
      ? { spend: `${formatUSD(micros(observed.spentUSD ?? '0'), 2)}/${formatUSD(micros(budget.maxCostUSD), 2)}` }
      : {}),
  };
}

/** The merge patch that brings the status to `wanted`, or undefined when it is there already (no write). */
export function summaryPatch(current: ClaudePolicyStatus | undefined, wanted: PolicySummary): Record<string, unknown> | undefined {
  const changed = current?.namespaces !== wanted.namespaces || current?.running !== wanted.running || current?.spend !== wanted.spend;
  if (!changed) return undefined;
  // null removes a spend a policy no longer has a USD budget for.
  return { namespaces: wanted.namespaces, running: wanted.running, spend: wanted.spend ?? null };
}
