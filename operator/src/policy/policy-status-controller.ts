// Keeps each ClaudePolicy's status (namespaces, running, spend: policy-status.ts)
// current. Gather: the namespaces and tasks from the caches, the spend from the
// usage ledger. Decide: policySummary, pure. Write: a merge patch of the status
// subresource, only when it differs. Tasks start and end and money is spent
// without the policy changing, so each policy is looked at again every 15 s.
//
// An operator that watches one namespace (WATCH_NAMESPACE) sees only that
// namespace's tasks: it writes the status only of the policies that select that
// namespace alone, so that several such operators do not overwrite each other.
import { PatchStrategy, setHeaderOptions, type KubernetesObject } from '@kubernetes/client-node';
import type { ClaudeTask } from '../../../crds/src/claude-task.ts';
import { claudePolicyPlural, type ClaudePolicy } from '../../../crds/src/claude-policy.ts';
import { group, terminalPhases, version } from '../../../crds/src/claude-task.ts';
import type { UsageQuery, UsageRow } from '../../../packages/database/src/usage-ledger.ts';
import type { ClusterCache } from '../cluster-cache.ts';
import type { KubeClients } from '../kube-clients.ts';
import { asPermanentApiError } from '../kube-clients.ts';
import type { ReconcileResult, ControllerDefinition } from '../manager.ts';
import { jobNameFor } from '../names.ts';
import { micros, formatUSD, periodStart } from './budget.ts';
import { selectorMatches } from './label-selector.ts';
import { firstUsdBudget, policySummary, summaryPatch } from './policy-status.ts';

export const policyStatusControllerName = 'claudepolicies-status';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const resyncMs = 15_000;

export interface PolicyStatusDeps {
  clients: Pick<KubeClients, 'custom'>;
  cache: Pick<ClusterCache, 'policy' | 'namespaces' | 'tasks' | 'job'>;
  /** The usage ledger, summed (sumUsage). */
  usage(query: UsageQuery): Promise<UsageRow[]>;
  /** Set when the operator watches one namespace. */
  watchNamespace?: string | undefined;
  now(): Date;
}

export class PolicyStatusReconciler {
  private readonly deps: PolicyStatusDeps;

  constructor(deps: PolicyStatusDeps) {
    this.deps = deps;
  }

  async reconcile(name: string): Promise<ReconcileResult> {
    const policy = this.deps.cache.policy(name);
    if (!policy) return {};
    const namespaces = new Set(this.deps.cache.namespaces.list()
      .filter((namespace) => selectorMatches(policy.spec.namespaceSelector, namespace.metadata?.labels))
      .map((namespace) => namespace.metadata?.name ?? ''));
    const { watchNamespace } = this.deps;
    if (watchNamespace !== undefined && !(namespaces.size === 1 && namespaces.has(watchNamespace))) return {};
    const running = (this.deps.cache.tasks.list() as unknown as ClaudeTask[]).filter((task) => namespaces.has(task.metadata.namespace ?? '')
      && !(task.status?.phase && terminalPhases.has(task.status.phase))
      && this.deps.cache.job(task.metadata.namespace ?? '', jobNameFor(task.metadata.name ?? '', task.metadata.uid ?? '')) !== undefined).length;
    const spentUSD = await this.spentUSD(policy, namespaces);
    const patch = summaryPatch(policy.status, policySummary(policy, { namespaces: namespaces.size, running, ...(spentUSD ? { spentUSD } : {}) }));
    if (patch) {
      await this.deps.clients.custom.patchClusterCustomObjectStatus({ group, version, plural: claudePolicyPlural, name, body: { status: patch } }, mergePatch)
        .catch((error: unknown) => { throw asPermanentApiError(error, `writing the status of ClaudePolicy ${name}`); });
    }
    return { requeueAfterMs: resyncMs };
  }

  /** The first USD budget's spend this period: its namespaces' largest, or (User scope) the largest user's anywhere. */
  private async spentUSD(policy: ClaudePolicy, namespaces: ReadonlySet<string>): Promise<string | undefined> {
    const budget = firstUsdBudget(policy);
    if (!budget) return undefined;
    const from = periodStart(budget.period, this.deps.now());
    const rows = budget.scope === 'Namespace'
      ? (await this.deps.usage({ from, groupBy: ['namespace'] })).filter((row) => namespaces.has(row.namespace ?? ''))
      : (await this.deps.usage({ from, groupBy: ['user'] })).filter((row) => row.user);
    const largest = rows.reduce((most, row) => (micros(row.costUSD) > most ? micros(row.costUSD) : most), 0n);
    return formatUSD(largest);
  }
}

export function policyStatusController(cache: ClusterCache, reconciler: Pick<PolicyStatusReconciler, 'reconcile'>): ControllerDefinition {
  return {
    name: policyStatusControllerName,
    workers: 1,
    reconcile: (key) => reconciler.reconcile(key),
    watches: [{ source: cache.policies, keysOf: (object: KubernetesObject) => (object.metadata?.name ? [object.metadata.name] : []) }],
  };
}
