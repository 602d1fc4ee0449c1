// ClaudePolicy admission on the whole system: the operator renders each policy's
// ValidatingAdmissionPolicy and binding, and the apiserver then refuses
// violating tasks from kubectl and from REST alike, naming the policy and the
// rule; a compliant task runs. The operator runs under the chart's RBAC.
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { CustomObjectsApi, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { startTestApi, token, callApi } from '../../api/src/test-support.ts';
import type { ApiServer } from '../../api/src/server.ts';
import type { ClaudePolicy, ClaudePolicySpec } from '../../crds/src/claude-policy.ts';
import { admissionObjectName, admissionObjectsFor } from '../../operator/src/policy/admission-objects.ts';
import { createdByAnnotation } from '../../operator/src/policy/identity-objects.ts';
import { bedSetting, kubeConfig, kubectl, waitFor } from '../support/cluster.ts';
import { useTaskFixture } from './support/task-fixture.ts';

const fixture = useTaskFixture('policy');
const custom = () => kubeConfig().makeApiClient(CustomObjectsApi);
const policies: string[] = [];
let api: ApiServer;

beforeAll(async () => {
  ({ api } = await startTestApi());
});
afterAll(async () => {
  await api?.close();
  for (const name of policies) {
    await custom().deleteClusterCustomObject({ group: 'claude-operator.io', version: 'v1alpha1', plural: 'claudepolicies', name }).catch(() => undefined);
  }
});

/** A ClaudePolicy selecting the fixture's namespace alone. */
async function createPolicy(prefix: string, spec: Omit<ClaudePolicySpec, 'namespaceSelector'>): Promise<string> {
  const name = `${prefix}-${crypto.randomBytes(3).toString('hex')}`;
  policies.push(name);
  await custom().createClusterCustomObject({
    group: 'claude-operator.io', version: 'v1alpha1', plural: 'claudepolicies',
    body: { apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudePolicy', metadata: { name },
      spec: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': fixture().ns.name } }, ...spec } },
  });
  return name;
}

/** `kubectl apply` of a task; not thrown on refusal. */
async function kubectlApply(name: string, spec: Record<string, unknown>) {
  const { ns } = fixture();
  const file = path.join(bedSetting('BED_DIR'), `${ns.name}-${name}.json`);
  await fs.writeFile(file, JSON.stringify({ apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudeTask', metadata: { name }, spec }));
  return ns.kubectl('apply', '-f', file);
}

/** Applies until refused: the operator renders the policy, then the apiserver's admission sees it through a watch. */
async function refusedByKubectl(spec: Record<string, unknown>): Promise<string> {
  let stderr = '';
  await waitFor('kubectl apply refused by the policy', async () => {
    const name = `refused-${crypto.randomBytes(3).toString('hex')}`;
    const applied = await kubectlApply(name, spec);
    stderr = applied.stderr;
    if (applied.code === 0) await fixture().ns.kubectl('delete', 'ctask', name, '--wait=false');
    // Not any failure: right after a CRD is installed, admission may not know its kind for a moment.
    return applied.code !== 0 && stderr.includes('denied request');
  }, { timeoutMs: 60_000 }).catch(async (error: Error) => { throw new Error(`${error.message}\n${await fixture().tasks.operatorLog()}`); });
  return stderr;
}

test('a policy forbidding bypassPermissions and limiting models: kubectl apply and REST POST of violating tasks fail at the apiserver with its message; a compliant task runs', async () => {
  const { ns, tasks } = fixture();
  const policy = await createPolicy('team', { admission: { forbiddenPermissionModes: ['bypassPermissions'], allowedModels: ['claude-sonnet-4-5'] } });

  expect(await refusedByKubectl({ prompt: 'p', permissionMode: 'bypassPermissions' }))
    .toContain(`ClaudePolicy ${policy} (forbiddenPermissionModes): permissionMode bypassPermissions is forbidden`);

  const bearer = await token({ tenant: 'team-a', namespaces: [ns.name], role: 'submitter' });
  const posted = await callApi(api.url, 'POST', `/api/v1/namespaces/${ns.name}/tasks`,
    { token: bearer, body: { name: 'rest-refused', spec: { prompt: 'p', model: 'claude-opus-4-1' } } });
  expect(posted.status).toBe(403);
  expect(posted.json).toMatchObject({ type: 'https://claude-operator.io/problems/refused-by-cluster' });
  expect(posted.json.detail).toContain(`ClaudePolicy ${policy} (allowedModels): model claude-opus-4-1 is not allowed; allowed: claude-sonnet-4-5`);

  const compliant = await kubectlApply('compliant', { prompt: 'compliant', model: 'claude-sonnet-4-5', permissionMode: 'acceptEdits' });
  expect(compliant.stderr).toBe('');
  await tasks.taskWhen('compliant', 'Succeeded', (t) => t.status?.phase === 'Succeeded');
});

test('with two policies on one namespace the stricter rule and default win; a deleted policy refuses no more', async () => {
  const loose = await createPolicy('loose', { admission: { maxTurns: 50 } });
  const strict = await createPolicy('strict', { admission: { maxTurns: 10 } });
  // kubectl finds it by its short name and category, with its columns (filled in by later work).
  const table = await kubectl('get', 'cpol', strict);
  expect(table.stdout).toMatch(/^NAME\s+NAMESPACES\s+RUNNING\s+SPEND\s+AGE\s*$/m);
  expect((await kubectl('get', 'claude', '-A')).stdout).toContain(`claudepolicy.claude-operator.io/${strict}`);
  expect(await refusedByKubectl({ prompt: 'p', maxTurns: 20 })).toContain(`ClaudePolicy ${strict} (maxTurns): maxTurns 20 is above the limit of 10`);
  expect(await refusedByKubectl({ prompt: 'p', maxTurns: 60 })).toMatch(new RegExp(`ClaudePolicy (${loose}|${strict}) \\(maxTurns\\)`));
  // The default is the lower limit too. The apiserver sees the mutating policies through a watch of their own, so
  // for a moment after the validating ones refuse, neither default or only loose's may be there yet: a task
  // admitted then (without maxTurns, or with loose's 50, which strict refuses) is deleted and another one tried.
  let seen: unknown;
  let stderr = '';
  await waitFor('a task without maxTurns admitted with the stricter default', async () => {
    const name = `defaulted-${crypto.randomBytes(3).toString('hex')}`;
    const applied = await kubectlApply(name, { prompt: 'p', cancel: true });
    stderr = applied.stderr;
    if (applied.code !== 0) return false;
    seen = (await fixture().tasks.getTask(name)).spec.maxTurns;
    if (seen === 10) return true;
    await fixture().ns.kubectl('delete', 'ctask', name, '--wait=false');
    return false;
  }, { timeoutMs: 60_000 }).catch((error: Error) => { throw new Error(`${error.message}: last maxTurns ${String(seen)}; ${stderr}`); });

  // The rendered objects name the policy as owner: the garbage collector deletes them with it.
  await custom().deleteClusterCustomObject({ group: 'claude-operator.io', version: 'v1alpha1', plural: 'claudepolicies', name: strict });
  await waitFor('the strict policy\'s binding garbage-collected', async () =>
    (await kubectl('get', 'validatingadmissionpolicybinding', admissionObjectName(strict))).stderr.includes('NotFound'), { timeoutMs: 60_000 });
  await waitFor('maxTurns 20 admitted again', async () => {
    const name = `again-${crypto.randomBytes(3).toString('hex')}`;
    const applied = await kubectlApply(name, { prompt: 'p', maxTurns: 20, cancel: true });
    return applied.code === 0;
  }, { timeoutMs: 30_000 });
});

test('kubectl --as alice: the apiserver records alice as the creator, through the stamp the operator applied', async () => {
  const { ns, tasks } = fixture();
  const rbac = kubeConfig().makeApiClient(RbacAuthorizationV1Api);
  await rbac.createNamespacedRole({ namespace: ns.name, body: { metadata: { name: 'task-creator' },
    rules: [{ apiGroups: ['claude-operator.io'], resources: ['claudetasks'], verbs: ['create', 'get', 'patch'] }] } });
  await rbac.createNamespacedRoleBinding({ namespace: ns.name, body: { metadata: { name: 'alice' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'task-creator' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'alice' }] } });
  const file = path.join(bedSetting('BED_DIR'), `${ns.name}-by-alice.json`);
  await fs.writeFile(file, JSON.stringify({ apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudeTask',
    metadata: { name: 'by-alice', annotations: { [createdByAnnotation]: 'bob' } }, spec: { prompt: 'by alice' } }));
  const created = await ns.kubectl('create', '-f', file, '--as=alice');
  expect(created.stderr).toBe('');
  const task = await tasks.taskWhen('by-alice', 'Succeeded', (t) => t.status?.phase === 'Succeeded');
  expect(task.metadata.annotations?.[createdByAnnotation]).toBe('alice');
});

test('the operator uses every permission of the chart\'s policies role, and is refused none', async () => {
  const { operator } = fixture();
  const user = `system:serviceaccount:${operator.namespace}:${operator.serviceAccount}`;
  const permission = (group: string | undefined, resource: string, verb: string) => `${group ?? ''}/${resource}:${verb}`;
  type AuditEvent = { user?: { username?: string }; verb: string; objectRef?: { apiGroup?: string; resource?: string; subresource?: string };
    responseStatus?: { code?: number } };
  // As RBAC names it: a subresource (claudepolicies/status) is a resource of its own.
  const resourceOf = (event: AuditEvent) => `${event.objectRef!.resource}${event.objectRef?.subresource ? `/${event.objectRef.subresource}` : ''}`;
  const audit = (await fs.readFile(bedSetting('AUDIT_LOG'), 'utf8')).split('\n').filter(Boolean)
    .map((line) => JSON.parse(line) as AuditEvent).filter((event) => event.user?.username === user && event.objectRef?.resource);
  expect(audit.filter((e) => e.responseStatus?.code === 403).map((e) => permission(e.objectRef?.apiGroup, resourceOf(e), e.verb))).toEqual([]);
  const used = new Set(audit.map((e) => permission(e.objectRef?.apiGroup, resourceOf(e), e.verb)));
  const role = await kubeConfig().makeApiClient(RbacAuthorizationV1Api).readClusterRole({ name: `${operator.release}-policies` });
  const granted = (role.rules ?? []).flatMap((rule) => (rule.apiGroups ?? []).flatMap((group) =>
    (rule.resources ?? []).flatMap((resource) => rule.verbs.map((verb) => permission(group, resource, verb)))));
  // Checked by the apiserver inside other requests, never requested themselves: get on the ClaudePolicy a
  // binding's paramRef names, and create when a server-side apply (a patch) makes the object.
  const checkedInside = new Set([permission('claude-operator.io', 'claudepolicies', 'get'),
    ...['validatingadmissionpolicies', 'validatingadmissionpolicybindings', 'mutatingadmissionpolicies', 'mutatingadmissionpolicybindings'].map((resource) => permission('admissionregistration.k8s.io', resource, 'create'))]);
  expect(granted.filter((p) => !used.has(p) && !checkedInside.has(p)).sort()).toEqual([]);
  expect([...used].filter((p) => /admissionregistration|claudepolicies/.test(p) && !granted.includes(p))).toEqual([]);
});

test.each([
  ['create on validatingadmissionpolicies', 'validatingadmissionpolicies', 'create', 'policy'],
  ['get on claudepolicies', 'claudepolicies', 'get', 'binding'],
] as const)('%s is needed: without it, the server-side apply that creates the object is refused (%s)', async (_what, resource, verb, object) => {
  const { operator, ns } = fixture();
  const rbac = kubeConfig().makeApiClient(RbacAuthorizationV1Api);
  const chartRole = await rbac.readClusterRole({ name: `${operator.release}-policies` });
  const reduced = `${operator.release}-no-${verb}`;
  await rbac.createClusterRole({ body: { metadata: { name: reduced }, rules: (chartRole.rules ?? []).map((rule) =>
    (rule.resources?.includes(resource) ? { ...rule, verbs: rule.verbs.filter((v) => v !== verb) } : rule)) } });
  await ns.core.createNamespacedServiceAccount({ namespace: ns.name, body: { metadata: { name: `no-${verb}` } } });
  await rbac.createClusterRoleBinding({ body: { metadata: { name: reduced }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: reduced },
    subjects: [{ kind: 'ServiceAccount', name: `no-${verb}`, namespace: ns.name }] } });
  try {
    const name = await createPolicy('rbac', { admission: { maxTurns: 5 } });
    const claudePolicy = await custom().getClusterCustomObject({ group: 'claude-operator.io', version: 'v1alpha1', plural: 'claudepolicies', name }) as ClaudePolicy;
    // New objects (a create), the binding pointing at the policy the operator rendered.
    const rendered = admissionObjectsFor(claudePolicy);
    await waitFor('the operator\'s ValidatingAdmissionPolicy', async () => (await kubectl('get', 'validatingadmissionpolicy', admissionObjectName(name))).code === 0);
    const probe = (o: typeof rendered.policy | typeof rendered.binding) => ({ ...o, metadata: { ...o.metadata, name: `${o.metadata!.name}-probe` } });
    const file = path.join(bedSetting('BED_DIR'), `${ns.name}-${verb}-probe.json`);
    await fs.writeFile(file, JSON.stringify(object === 'policy' ? probe(rendered.policy) : probe(rendered.binding)));
    const as = (account: string) => kubectl('apply', '--server-side', '--dry-run=server', '-f', file, `--as=system:serviceaccount:${account}`);
    const without = await as(`${ns.name}:no-${verb}`);
    expect(without.code).not.toBe(0);
    expect(without.stderr).toMatch(/forbidden/i);
    const withChart = await as(`${operator.namespace}:${operator.serviceAccount}`);
    expect(withChart.stderr).toBe('');
  } finally {
    await rbac.deleteClusterRoleBinding({ name: reduced }).catch(() => undefined);
    await rbac.deleteClusterRole({ name: reduced }).catch(() => undefined);
  }
});
