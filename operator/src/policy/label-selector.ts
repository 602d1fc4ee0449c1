// Does a metav1.LabelSelector select these labels? As the apiserver reads one:
// every matchLabels entry and every matchExpressions requirement must hold, and
// an empty (or absent) selector selects everything. Pure.
import type { V1Namespace } from '@kubernetes/client-node';
import type { ClaudePolicy, LabelSelector } from '../../../crds/src/claude-policy.ts';

export function selectorMatches(selector: LabelSelector | undefined, labels: Readonly<Record<string, string>> | undefined): boolean {
  const have = labels ?? {};
  for (const [key, value] of Object.entries(selector?.matchLabels ?? {})) if (have[key] !== value) return false;
  for (const requirement of selector?.matchExpressions ?? []) {
    const present = Object.hasOwn(have, requirement.key);
    const values = requirement.values ?? [];
    switch (requirement.operator) {
      case 'In': if (!present || !values.includes(have[requirement.key]!)) return false; break;
      case 'NotIn': if (present && values.includes(have[requirement.key]!)) return false; break;
      case 'Exists': if (!present) return false; break;
      case 'DoesNotExist': if (present) return false; break;
    }
  }
  return true;
}

/** Does the policy's namespaceSelector select this namespace, read from the cache? A namespace not in the
 * cache yet has unknown labels: only its name label is sure, so only a selector-less policy (or one on that
 * label) selects it. */
export function policySelects(policy: ClaudePolicy, namespace: string, cached: V1Namespace | undefined): boolean {
  return selectorMatches(policy.spec.namespaceSelector, cached?.metadata?.labels ?? { 'kubernetes.io/metadata.name': namespace });
}
