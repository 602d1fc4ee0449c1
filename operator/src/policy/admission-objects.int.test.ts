// The rules rendered from a ClaudePolicy, on the bed's real apiserver: applied
// as the operator would (here by the admin, without the operator), then tasks
// created with `kubectl create --dry-run=server` are refused or admitted by the
// apiserver itself. Each test uses policies and namespaces of its own.
import crypto from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { AdmissionregistrationV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { installCrds } from '../../../crds/src/install.ts';
import type { ClaudePolicySpec } from '../../../crds/src/claude-policy.ts';
import { createTestNamespace, kubeConfig, waitFor, type TestNamespace } from '../../../test/support/cluster.ts';
import { admissionObjectsFor, admissionObjectName } from './admission-objects.ts';
import type { ClaudePolicy } from '../../../crds/src/claude-policy.ts';

let manifests: string;
const namespaces: TestNamespace[] = [];
const policies: string[] = [];
const custom = () => kubeConfig().makeApiClient(CustomObjectsApi);
const admissionApi = () => kubeConfig().makeApiClient(AdmissionregistrationV1Api);

beforeAll(async () => {
  manifests = mkdtempSync(path.join(os.tmpdir(), 'policy-admission-'));
  await installCrds(kubeConfig());
});
afterAll(async () => {
  for (const name of policies) {
    await custom().deleteClusterCustomObject({ group: 'claude-operator.io', version: 'v1alpha1', plural: 'claudepolicies', name }).catch(() => undefined);
    await admissionApi().deleteValidatingAdmissionPolicyBinding({ name: admissionObjectName(name) }).catch(() => undefined);
    await admissionApi().deleteValidatingAdmissionPolicy({ name: admissionObjectName(name) }).catch(() => undefined);
    await admissionApi().deleteMutatingAdmissionPolicyBinding({ name: admissionObjectName(name) }).catch(() => undefined);
    await admissionApi().deleteMutatingAdmissionPolicy({ name: admissionObjectName(name) }).catch(() => undefined);
  }
  for (const ns of namespaces) await ns.delete();
  rmSync(manifests, { recursive: true, force: true });
});

/** A ClaudePolicy selecting namespaces labelled `team: <team>`, with what the operator renders from it, in force. */
async function policyInForce(team: string, spec: Omit<ClaudePolicySpec, 'namespaceSelector'>): Promise<string> {
  const name = `${team}-${crypto.randomBytes(3).toString('hex')}`;
  policies.push(name);
  const created = await custom().createClusterCustomObject({
    group: 'claude-operator.io', version: 'v1alpha1', plural: 'claudepolicies',
    body: { apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudePolicy', metadata: { name }, spec: { namespaceSelector: { matchLabels: { team } }, ...spec } },
  }) as ClaudePolicy;
  const { policy, binding, defaults, defaultsBinding } = admissionObjectsFor(created);
  await admissionApi().createMutatingAdmissionPolicy({ body: defaults });
  await admissionApi().createMutatingAdmissionPolicyBinding({ body: defaultsBinding });
  await admissionApi().createValidatingAdmissionPolicy({ body: policy });
  await admissionApi().createValidatingAdmissionPolicyBinding({ body: binding });
  // The CEL is type-checked against the CRD's schema: a rule that does not compile would only warn there.
  await waitFor(`ValidatingAdmissionPolicy ${policy.metadata!.name} type-checked`, async () =>
    (await admissionApi().readValidatingAdmissionPolicy({ name: policy.metadata!.name! })).status?.observedGeneration === 1, { timeoutMs: 30_000 });
  const status = (await admissionApi().readValidatingAdmissionPolicy({ name: policy.metadata!.name! })).status;
  expect(status?.typeChecking?.expressionWarnings ?? []).toEqual([]);
  return name;
}

async function teamNamespace(team: string): Promise<TestNamespace> {
  const ns = await createTestNamespace(`pol-${team}`, { team });
  namespaces.push(ns);
  return ns;
}

async function createTask(ns: TestNamespace, spec: Record<string, unknown>, annotations: Record<string, string> = {}) {
  const name = `t-${crypto.randomBytes(3).toString('hex')}`;
  const file = path.join(manifests, `${name}.json`);
  writeFileSync(file, JSON.stringify({ apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudeTask', metadata: { name, annotations }, spec: { prompt: 'p', ...spec } }));
  return ns.kubectl('create', '--dry-run=server', '-f', file, '-o', 'json');
}

/** Waits until the binding is in force (the apiserver's admission sees policies through a watch), then returns the refusal of `spec`. */
async function refusal(ns: TestNamespace, spec: Record<string, unknown>): Promise<string> {
  let stderr = '';
  await waitFor('the policy in force', async () => {
    const created = await createTask(ns, spec);
    stderr = created.stderr;
    // Not any failure: right after a CRD is installed, admission may not know its kind for a moment.
    return created.code !== 0 && stderr.includes('denied request');
  }, { timeoutMs: 30_000 });
  return stderr;
}

describe('one policy', () => {
  let ns: TestNamespace;
  let policy: string;
  beforeAll(async () => {
    policy = await policyInForce('a', {
      admission: {
        allowedModels: ['claude-sonnet-4-5'], forbiddenPermissionModes: ['bypassPermissions'], maxTurns: 50, maxTimeoutSeconds: 3600,
        maxBudgetUSD: '5.00', requireRuntimeClassName: 'gvisor', allowedGitHosts: ['github.com'], allowMcpServers: false,
      },
    });
    ns = await teamNamespace('a');
  });

  const compliant = { runtimeClassName: 'gvisor' };
  test.each([
    ['allowedModels', { model: 'claude-opus-4-1' }, 'model claude-opus-4-1 is not allowed; allowed: claude-sonnet-4-5'],
    ['forbiddenPermissionModes', { permissionMode: 'bypassPermissions' }, 'permissionMode bypassPermissions is forbidden'],
    ['maxTurns', { maxTurns: 51 }, 'maxTurns 51 is above the limit of 50'],
    ['maxTimeoutSeconds', { timeoutSeconds: 3601 }, 'timeoutSeconds 3601 is above the limit of 3600'],
    ['maxBudgetUSD', { maxBudgetUSD: '5.01' }, 'maxBudgetUSD 5.01 is above the limit of 5.00'],
    ['requireRuntimeClassName', { runtimeClassName: 'runc' }, 'runtimeClassName must be gvisor'],
    ['allowedGitHosts', { workspace: { git: { url: 'https://githubXcom/x/y.git' } } }, 'workspace.git.url https://githubXcom/x/y.git is not on an allowed host; allowed: github.com'],
    ['allowedGitHosts', { workspace: { git: { url: 'git@gitlab.com:x/y.git' } } }, 'workspace.git.url git@gitlab.com:x/y.git is not on an allowed host'],
    ['allowMcpServers', { mcpServers: { fs: { command: 'mcp-fs' } } }, 'MCP servers are not allowed'],
  ])('%s: %j is refused, naming the policy and the rule', async (rule, spec, message) => {
    const stderr = await refusal(ns, { ...compliant, ...spec });
    expect(stderr).toContain(`ClaudePolicy ${policy} (${rule}): ${message}`);
  });

  test.each([
    ['nothing the policy limits', {}],
    ['every limit met exactly', {
      model: 'claude-sonnet-4-5', permissionMode: 'acceptEdits', maxTurns: 50, timeoutSeconds: 3600, maxBudgetUSD: '5',
      workspace: { git: { url: 'https://github.com/x/y.git' } },
    }],
    ['an ssh clone from the allowed host', { workspace: { git: { url: 'git@github.com:x/y.git' } } }],
  ])('%s: admitted', async (_what, spec) => {
    await refusal(ns, { runtimeClassName: 'runc' }); // in force
    const created = await createTask(ns, { ...compliant, ...spec });
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
  });

  test('a namespace the policy does not select is not limited', async () => {
    const other = await teamNamespace('unselected');
    await refusal(ns, { runtimeClassName: 'runc' });
    expect((await createTask(other, { permissionMode: 'bypassPermissions', maxTurns: 1000 })).code).toBe(0);
  });
});

test('two policies on one namespace: each refuses on its own, so the stricter value of each rule wins', async () => {
  const loose = await policyInForce('b', { admission: { maxTurns: 50, maxBudgetUSD: '1.00' } });
  const strict = await policyInForce('b', { admission: { maxTurns: 10, maxBudgetUSD: '5.00' } });
  const ns = await teamNamespace('b');
  expect(await refusal(ns, { maxTurns: 20 })).toContain(`ClaudePolicy ${strict} (maxTurns): maxTurns 20 is above the limit of 10`);
  expect(await refusal(ns, { maxBudgetUSD: '2.00' })).toContain(`ClaudePolicy ${loose} (maxBudgetUSD): maxBudgetUSD 2.00 is above the limit of 1.00`);
  expect((await createTask(ns, { maxTurns: 10, maxBudgetUSD: '1.00' })).code).toBe(0);
});

test('defaults: a task without maxTurns or maxBudgetUSD gets the lowest limit of the policies on its namespace; a value it gave is judged, not lowered', async () => {
  const loose = await policyInForce('c', { admission: { maxTurns: 50, maxBudgetUSD: '1.00' } });
  const strict = await policyInForce('c', { admission: { maxTurns: 10, maxBudgetUSD: '5.00' } });
  const ns = await teamNamespace('c');
  await refusal(ns, { maxTurns: 20 }); // both in force
  let created: { spec: Record<string, unknown>; metadata: { annotations?: Record<string, string> } } | undefined;
  await waitFor('both defaults applied', async () => {
    const answer = await createTask(ns, {});
    created = answer.code === 0 ? JSON.parse(answer.stdout) : undefined;
    return created?.spec.maxTurns === 10 && created.spec.maxBudgetUSD === '1.00';
  }, { timeoutMs: 30_000 });
  expect(created!.metadata.annotations).toMatchObject({ 'claude-operator.io/defaulted-maxTurns': strict, 'claude-operator.io/defaulted-maxBudgetUSD': loose });
  // Given, not defaulted: maxTurns 3 stays 3.
  expect(JSON.parse((await createTask(ns, { maxTurns: 3 })).stdout).spec).toMatchObject({ maxTurns: 3, maxBudgetUSD: '1.00' });
});
