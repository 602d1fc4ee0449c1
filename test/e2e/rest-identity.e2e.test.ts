// REST users are the identity (issue 11): the API runs as the chart's own
// ServiceAccount with api.impersonation.enabled (its RBAC rendered from the
// chart by the real helm), and writes as the JWT's subject. A task bob posts
// over REST is recorded as claude-api:bob on the object and in the apiserver's
// audit log, one alice makes with kubectl as alice; under maxTasksPerUser 1 each
// waits for its own limit; and a tenant without a RoleBinding in a namespace
// its token names is refused there by Kubernetes RBAC (403 with the apiserver's
// words), as kubectl is, and so are its messages and interrupts to a session.
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { CoreV1Api, CustomObjectsApi, KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { callApi, startTestApi, token } from '../../api/src/test-support.ts';
import type { ApiServer } from '../../api/src/server.ts';
import { createdByAnnotation, terminalPhases, type ClaudeTask } from '../../crds/src/claude-task.ts';
import { admissionObjectName } from '../../operator/src/policy/admission-objects.ts';
import { repoRoot } from '../bed/binaries.ts';
import { writeKubeconfig } from '../bed/kubeconfig.ts';
import { bedSetting, createTestNamespace, kubeConfig, kubectl, runTool, waitFor, type TestNamespace } from '../support/cluster.ts';
import { useTaskFixture } from './support/task-fixture.ts';

const fixture = useTaskFixture('rest-identity');
const release = `rest-identity-${crypto.randomBytes(3).toString('hex')}`;
const releaseNamespace = release;
const custom = () => kubeConfig().makeApiClient(CustomObjectsApi);
const policies: string[] = [];
let api: ApiServer;
/** A namespace bob's and carol's tokens name, where no RoleBinding lets their tenants do anything. */
let unbound: TestNamespace;

/** The chart's API RBAC and submitter ClusterRole, as helm renders them with impersonation on, applied. */
async function installApiRbac(): Promise<void> {
  const rendered = await runTool(bedSetting('HELM'), ['template', release, path.join(repoRoot, 'charts/claude-operator'),
    '--namespace', releaseNamespace, '--set', 'operator.databaseUrl=postgres://unused', '--set', 'operator.redisUrl=redis://unused',
    '--set', 'api.impersonation.enabled=true',
    '--show-only', 'templates/api-rbac.yaml', '--show-only', 'templates/submitter-clusterrole.yaml']);
  expect(rendered.stderr).toBe('');
  const file = path.join(bedSetting('BED_DIR'), `${release}-api-rbac.yaml`);
  await fs.writeFile(file, rendered.stdout);
  const applied = await kubectl('apply', '-f', file);
  expect(applied.stderr).toBe('');
}

/** A kubeconfig of the chart's API ServiceAccount: the API talks to the apiserver as the chart would run it. */
async function apiServiceAccountConfig(): Promise<KubeConfig> {
  const core = kubeConfig().makeApiClient(CoreV1Api);
  const issued = await core.createNamespacedServiceAccountToken({
    name: `${release}-api`, namespace: releaseNamespace, body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const cluster = kubeConfig().getCurrentCluster()!;
  const file = await writeKubeconfig(path.join(bedSetting('BED_DIR'), `${release}-api.kubeconfig`), {
    server: cluster.server, caCertFile: cluster.caFile!, user: `system:serviceaccount:${releaseNamespace}:${release}-api`, token: issued.status?.token ?? '',
  });
  const config = new KubeConfig();
  config.loadFromFile(file);
  return config;
}

beforeAll(async () => {
  const { ns } = fixture();
  await kubeConfig().makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: releaseNamespace } } });
  await installApiRbac();
  ({ api } = await startTestApi({ API_IMPERSONATION: 'on' }, { kubeConfig: await apiServiceAccountConfig() }));
  // The platform team's bindings: the submitter role for tenant t1's REST callers and for alice, in this namespace only.
  const rbac = kubeConfig().makeApiClient(RbacAuthorizationV1Api);
  await rbac.createNamespacedRoleBinding({ namespace: ns.name, body: { metadata: { name: 'submitters' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `${release}-submitter` },
    subjects: [
      { apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'claude-api:tenant:t1' },
      { apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'alice' },
    ] } });
  unbound = await createTestNamespace('rest-identity-unbound');
});
afterAll(async () => {
  await api?.close();
  await unbound?.delete();
  for (const name of policies) {
    await custom().deleteClusterCustomObject({ group: 'claude-operator.io', version: 'v1alpha1', plural: 'claudepolicies', name }).catch(() => undefined);
  }
  await kubectl('delete', 'clusterrole,clusterrolebinding', `${release}-api`, '--ignore-not-found');
  await kubectl('delete', 'clusterrole', `${release}-submitter`, '--ignore-not-found');
  await kubectl('delete', 'namespace', releaseNamespace, '--ignore-not-found', '--wait=false');
});

const bobToken = () => token({ sub: 'bob', tenant: 't1', namespaces: [fixture().ns.name, unbound.name], role: 'submitter' });
const carolToken = () => token({ sub: 'carol', tenant: 't2', namespaces: [fixture().ns.name, unbound.name], role: 'submitter' });

/** `kubectl create -f` of a task as someone (kubectl's --as and --as-group), in a namespace. */
async function kubectlCreateAs(as: string[], namespace: TestNamespace, name: string, spec: Record<string, unknown>) {
  const file = path.join(bedSetting('BED_DIR'), `${namespace.name}-${name}.json`);
  await fs.writeFile(file, JSON.stringify({ apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudeTask', metadata: { name }, spec }));
  let created = await namespace.kubectl('create', '-f', file, ...as);
  // A bed just started may not serve the kind yet (the apiserver says so with a 503): retry as a person would.
  for (let attempt = 0; attempt < 30 && created.code !== 0 && created.stderr.includes('There can be a delay'); attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    created = await namespace.kubectl('create', '-f', file, ...as);
  }
  return created;
}

async function aliceCreates(name: string, spec: Record<string, unknown>): Promise<void> {
  const created = await kubectlCreateAs(['--as=alice'], fixture().ns, name, spec);
  expect({ code: created.code, stderr: created.stderr }).toEqual({ code: 0, stderr: '' });
}

async function bobPosts(name: string, spec: Record<string, unknown>): Promise<void> {
  const posted = await callApi(api.url, 'POST', `/api/v1/namespaces/${fixture().ns.name}/tasks`, { token: await bobToken(), body: { name, spec } });
  expect({ status: posted.status, body: posted.json }).toMatchObject({ status: 202 });
}

interface AuditEvent { verb: string; user?: { username?: string }; impersonatedUser?: { username?: string; groups?: string[] };
  objectRef?: { resource?: string; namespace?: string; name?: string }; responseStatus?: { code?: number } }

/** The apiserver's audit events of creating this task (Metadata level: who asked, as whom). */
async function auditedCreates(namespace: string, name: string): Promise<AuditEvent[]> {
  return (await fs.readFile(bedSetting('AUDIT_LOG'), 'utf8')).split('\n').filter(Boolean).map((line) => JSON.parse(line) as AuditEvent)
    .filter((event) => event.verb === 'create' && event.objectRef?.resource === 'claudetasks' && event.objectRef.namespace === namespace
      && event.objectRef.name === name && event.responseStatus?.code === 201);
}

test('bob\'s REST task is recorded as claude-api:bob (object and audit log), alice\'s kubectl task as alice; bob cancels and deletes as himself', async () => {
  const { ns, tasks } = fixture();
  await bobPosts('by-bob', { prompt: 'bob over REST [[scenario:answer {"text":"bob"}]]' });
  await aliceCreates('by-alice', { prompt: 'alice with kubectl [[scenario:answer {"text":"alice"}]]' });
  const byBob = await tasks.taskWhen('by-bob', 'Succeeded', (t) => t.status?.phase === 'Succeeded', 180_000);
  const byAlice = await tasks.taskWhen('by-alice', 'Succeeded', (t) => t.status?.phase === 'Succeeded', 180_000);
  expect(byBob.metadata.annotations).toMatchObject({
    [createdByAnnotation]: 'claude-api:bob', 'claude-operator.io/submitted-by': 'bob', 'claude-operator.io/tenant': 't1',
  });
  expect(byAlice.metadata.annotations?.[createdByAnnotation]).toBe('alice');

  // The audit log: the API's ServiceAccount asked, as claude-api:bob in the tenant's group (the apiserver adds system:authenticated).
  await waitFor('the audit log to hold bob\'s create', async () => (await auditedCreates(ns.name, 'by-bob')).some((e) => e.impersonatedUser), { timeoutMs: 30_000 });
  const audited = (await auditedCreates(ns.name, 'by-bob')).filter((e) => e.impersonatedUser);
  expect(audited.map((e) => ({ user: e.user?.username, as: e.impersonatedUser?.username, groups: e.impersonatedUser?.groups }))).toEqual([{
    user: `system:serviceaccount:${releaseNamespace}:${release}-api`, as: 'claude-api:bob', groups: ['claude-api:tenant:t1', 'system:authenticated'],
  }]);

  // A session is stamped the same way.
  const session = await callApi(api.url, 'POST', `/api/v1/namespaces/${ns.name}/sessions`, { token: await bobToken(), body: { name: 'bob-session', spec: {} } });
  expect(session.status).toBe(202);
  const stored = await custom().getNamespacedCustomObject({ group: 'claude-operator.io', version: 'v1alpha1', namespace: ns.name, plural: 'claudesessions', name: 'bob-session' }) as ClaudeTask;
  expect(stored.metadata.annotations?.[createdByAnnotation]).toBe('claude-api:bob');
  expect((await callApi(api.url, 'DELETE', `/api/v1/namespaces/${ns.name}/sessions/bob-session`, { token: await bobToken() })).status).toBe(202);

  // Cancel (a patch) and delete go through the submitter role too.
  expect((await callApi(api.url, 'POST', `/api/v1/namespaces/${ns.name}/tasks/by-bob/cancel`, { token: await bobToken() })).status).toBe(202);
  expect((await callApi(api.url, 'DELETE', `/api/v1/namespaces/${ns.name}/tasks/by-bob`, { token: await bobToken() })).status).toBe(202);
});

/** Each takes seconds (a slowly streamed answer), so the second of a user is seen waiting. */
const slowSpec = (text: string) => ({ prompt: `${text} [[scenario:slow {"tokens":40,"delayMs":150}]]` });

test('under maxTasksPerUser 1, alice (kubectl) and bob (REST) each get one running and one Queued, counted per user; all succeed', async () => {
  const { ns, tasks } = fixture();
  const name = `per-user-${crypto.randomBytes(3).toString('hex')}`;
  policies.push(name);
  await custom().createClusterCustomObject({ group: 'claude-operator.io', version: 'v1alpha1', plural: 'claudepolicies', body: {
    apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudePolicy', metadata: { name },
    spec: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns.name } }, concurrency: { maxTasksPerUser: 1 } },
  } });
  await waitFor(`the operator has rendered ${name}`, async () =>
    (await kubectl('get', 'validatingadmissionpolicy', admissionObjectName(name))).code === 0, { timeoutMs: 60_000 });

  const users = { alice: ['alice-1', 'alice-2'], 'claude-api:bob': ['bob-1', 'bob-2'] };
  await aliceCreates('alice-1', slowSpec('alice one'));
  await aliceCreates('alice-2', slowSpec('alice two'));
  await bobPosts('bob-1', slowSpec('bob one'));
  await bobPosts('bob-2', slowSpec('bob two'));

  // For each user: one of the two waits Queued for that user's own limit while the other one has been admitted.
  const queuedSeen = new Map<string, ClaudeTask>();
  await waitFor('one task of each user Queued by maxTasksPerUser', async () => {
    for (const [user, names] of Object.entries(users)) {
      if (queuedSeen.has(user)) continue;
      const both = await Promise.all(names.map((taskName) => tasks.getTask(taskName)));
      const queued = both.filter((t) => t.status?.phase === 'Queued');
      const admitted = both.filter((t) => t.status?.phase !== undefined && t.status.phase !== 'Queued' && t.status.phase !== 'Pending');
      if (queued.length === 1 && admitted.length === 1) queuedSeen.set(user, queued[0]!);
    }
    return queuedSeen.size === 2;
  }, { timeoutMs: 120_000, intervalMs: 100 });
  for (const [user, queued] of queuedSeen) {
    expect(queued.metadata.annotations?.[createdByAnnotation]).toBe(user);
    expect(queued.status).toMatchObject({ reason: 'QuotaExceeded', message: expect.stringContaining(`allows 1 running tasks per user (maxTasksPerUser), ${user} has 1`) });
  }

  let ended: ClaudeTask[] = [];
  await waitFor('all four ended', async () => {
    ended = await Promise.all(Object.values(users).flat().map((taskName) => tasks.getTask(taskName)));
    return ended.every((t) => t.status?.phase !== undefined && terminalPhases.has(t.status.phase));
  }, { timeoutMs: 300_000, intervalMs: 500 });
  expect(ended.map((t) => `${t.metadata.name}: ${t.status?.phase}`)).toEqual(Object.values(users).flat().map((taskName) => `${taskName}: Succeeded`));
});

test('a tenant with no RoleBinding in a namespace its token names is refused there: 403 with the apiserver\'s message over REST, forbidden with kubectl; its messages to a session too', async () => {
  const posted = await callApi(api.url, 'POST', `/api/v1/namespaces/${unbound.name}/tasks`, { token: await carolToken(), body: { name: 'by-carol', spec: { prompt: 'p' } } });
  expect(posted.status).toBe(403);
  expect(posted.json).toMatchObject({
    type: 'https://claude-operator.io/problems/refused-by-cluster',
    detail: expect.stringContaining(`User "claude-api:carol" cannot create resource "claudetasks" in API group "claude-operator.io" in the namespace "${unbound.name}"`),
  });
  // bob's tenant is bound in the fixture's namespace only.
  const bobThere = await callApi(api.url, 'POST', `/api/v1/namespaces/${unbound.name}/tasks`, { token: await bobToken(), body: { name: 'by-bob', spec: { prompt: 'p' } } });
  expect({ status: bobThere.status, detail: bobThere.json.detail }).toEqual({ status: 403, detail: expect.stringContaining('User "claude-api:bob" cannot create resource "claudetasks"') });
  // carol's tenant has no binding in the fixture's namespace either, although the API lets its token see it.
  const carolInFixture = await callApi(api.url, 'POST', `/api/v1/namespaces/${fixture().ns.name}/tasks`, { token: await carolToken(), body: { spec: { prompt: 'p' } } });
  expect(carolInFixture.status).toBe(403);

  const byKubectl = await kubectlCreateAs(['--as=claude-api:carol', '--as-group=claude-api:tenant:t2'], unbound, 'by-carol', { prompt: 'p' });
  expect(byKubectl.code).not.toBe(0);
  expect(byKubectl.stderr).toContain('forbidden');
  expect(byKubectl.stderr).toContain('User "claude-api:carol" cannot create resource "claudetasks"');
  // Nothing was made, by either path.
  expect((await unbound.kubectl('get', 'claudetasks', '-o', 'name')).stdout).toBe('');

  // A message or an interrupt changes a session without writing it: the caller must be allowed to patch it.
  const { ns } = fixture();
  expect((await callApi(api.url, 'POST', `/api/v1/namespaces/${ns.name}/sessions`, { token: await bobToken(), body: { name: 'bobs', spec: {} } })).status).toBe(202);
  const carolWrites = [
    await callApi(api.url, 'POST', `/api/v1/namespaces/${ns.name}/sessions/bobs/messages?async=true`, { token: await carolToken(), body: { text: 'hi' } }),
    await callApi(api.url, 'POST', `/api/v1/namespaces/${ns.name}/sessions/bobs/interrupt`, { token: await carolToken() }),
  ];
  for (const refused of carolWrites) {
    expect({ status: refused.status, detail: refused.json.detail }).toEqual({ status: 403, detail: expect.stringContaining('User "claude-api:carol" cannot patch resource "claudesessions"') });
  }
  expect((await callApi(api.url, 'GET', `/api/v1/namespaces/${ns.name}/sessions/bobs/messages`, { token: await bobToken() })).json.items).toEqual([]);
  expect((await callApi(api.url, 'POST', `/api/v1/namespaces/${ns.name}/sessions/bobs/interrupt`, { token: await bobToken() })).status).toBe(202);
  expect((await callApi(api.url, 'DELETE', `/api/v1/namespaces/${ns.name}/sessions/bobs`, { token: await bobToken() })).status).toBe(202);
});
