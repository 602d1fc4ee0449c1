// What the operator asked the apiserver for, from the bed's audit log, against
// what the chart's roles grant it: the e2e tests show each granted permission
// is used and nothing is refused.
import fs from 'node:fs/promises';
import { RbacAuthorizationV1Api, type V1PolicyRule } from '@kubernetes/client-node';
import { bedSetting, kubeConfig } from '../../support/cluster.ts';
import type { OperatorUnderTest } from './operator-under-test.ts';

interface AuditEvent { user?: { username?: string }; verb: string; objectRef?: { apiGroup?: string; resource?: string; subresource?: string }; responseStatus?: { code?: number } }

/** `<group>/<resource>[/<subresource>]:<verb>`, the core group as ''. */
export const permission = (group: string | undefined, resource: string, verb: string) => `${group ?? ''}/${resource}:${verb}`;

/** Every permission the chart's ClusterRole and leader-election Role grant the operator. */
export async function grantedByChart(operator: Pick<OperatorUnderTest, 'release' | 'namespace'>): Promise<Set<string>> {
  const rbac = kubeConfig().makeApiClient(RbacAuthorizationV1Api);
  const clusterRole = await rbac.readClusterRole({ name: operator.release });
  const role = await rbac.readNamespacedRole({ name: `${operator.release}-leader-election`, namespace: operator.namespace });
  return permissionsOf([...clusterRole.rules ?? [], ...role.rules ?? []]);
}

/** Every permission the chart's policies ClusterRole (`<release>-policies`) grants the operator. */
export async function grantedForPolicies(operator: Pick<OperatorUnderTest, 'release'>): Promise<Set<string>> {
  const rbac = kubeConfig().makeApiClient(RbacAuthorizationV1Api);
  return permissionsOf((await rbac.readClusterRole({ name: `${operator.release}-policies` })).rules ?? []);
}

function permissionsOf(rules: V1PolicyRule[]): Set<string> {
  return new Set(rules.flatMap((rule) =>
    (rule.apiGroups ?? []).flatMap((group) => (rule.resources ?? []).flatMap((resource) => rule.verbs.map((verb) => permission(group, resource, verb))))));
}

/** The permissions the operator's requests used so far, and those it was refused (403). */
export async function operatorRequests(operator: Pick<OperatorUnderTest, 'namespace' | 'serviceAccount'>): Promise<{ used: Set<string>; refused: string[] }> {
  const user = `system:serviceaccount:${operator.namespace}:${operator.serviceAccount}`;
  const audit = (await fs.readFile(bedSetting('AUDIT_LOG'), 'utf8')).split('\n').filter(Boolean)
    .map((line) => JSON.parse(line) as AuditEvent).filter((event) => event.user?.username === user && event.objectRef?.resource);
  const of = (e: AuditEvent) => permission(e.objectRef?.apiGroup, `${e.objectRef?.resource}${e.objectRef?.subresource ? `/${e.objectRef.subresource}` : ''}`, e.verb);
  return { used: new Set(audit.map(of)), refused: audit.filter((event) => event.responseStatus?.code === 403).map(of) };
}

/** What only a cron task needs: making tasks at its slots and writing its status (claudecrontasks list/watch every operator uses). */
export const cronPermissions = [
  permission('claude-operator.io', 'claudetasks', 'create'),
  permission('claude-operator.io', 'claudecrontasks/status', 'patch'),
  // Checked inside the task create's admission (blockOwnerDeletion on the cron task), never requested itself.
  permission('claude-operator.io', 'claudecrontasks/finalizers', 'update'),
];

/** What only a task made from a template needs. */
export const templatePermissions = [permission('claude-operator.io', 'claudetasktemplates', 'get')];

/** What only a completion webhook with a secretRef needs: reading its HMAC key (webhooks.e2e.test.ts signs with one). */
export const webhookPermissions = [permission('', 'secrets', 'get')];

/** What only a ClaudeSession needs (claudesessions and persistentvolumeclaims list/watch every operator uses, for its caches). */
export const sessionPermissions = [
  permission('claude-operator.io', 'claudesessions', 'patch'),
  permission('claude-operator.io', 'claudesessions/status', 'patch'),
  // Checked inside the admission of what is created with blockOwnerDeletion on the session, never requested itself.
  permission('claude-operator.io', 'claudesessions/finalizers', 'update'),
  permission('', 'persistentvolumeclaims', 'create'),
  permission('', 'persistentvolumeclaims', 'delete'),
  permission('', 'pods', 'delete'),
  permission('batch', 'jobs', 'delete'),
  permission('', 'secrets', 'delete'),
];
