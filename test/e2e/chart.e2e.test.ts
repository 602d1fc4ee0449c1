// The Helm chart as a user installs it: lint clean, renders with the required
// values, refuses to render without them or with values its schema refuses
// (charts/src/values.ts), and its manifests pass the
// apiserver's validation (server-side dry run).
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { loadYaml, type KubernetesObject, type V1ClusterRole, type V1Deployment, type V1Service } from '@kubernetes/client-node';
import { repoRoot } from '../bed/binaries.ts';
import { bedSetting, createTestNamespace, kubectl, runTool, type TestNamespace } from '../support/cluster.ts';

const chart = path.join(repoRoot, 'charts/claude-operator');
const required = ['--set', 'operator.databaseUrl=postgres://db/claude', '--set', 'operator.redisUrl=redis://redis:6379'];
let ns: TestNamespace;

beforeAll(async () => {
  ns = await createTestNamespace('chart');
});
afterAll(async () => {
  await ns?.delete();
});

function helm(...args: string[]) {
  return runTool(bedSetting('HELM'), args);
}

test('helm lint passes', async () => {
  const linted = await helm('lint', chart, ...required);
  expect(linted.code).toBe(0);
  expect(linted.stdout).toContain('0 chart(s) failed');
});

test('without a database or Redis the chart refuses to render, saying which value is missing', async () => {
  const rendered = await helm('template', 'x', chart);
  expect(rendered.code).not.toBe(0);
  expect(rendered.stderr).toContain('operator.databaseUrl or operator.databaseUrlSecret is required');
});

test.each([
  ['a misspelt key', ['--set', 'operator.replicass=3'], /operator.*replicass/],
  ['a word where a number goes', ['--set-string', 'operator.replicas=two'], /operator\.replicas|\/operator\/replicas/],
  ['an unknown Redis user mode', ['--set', 'operator.runnerRedisUsers=some'], /runnerRedisUsers/],
])('values.schema.json: helm refuses %s before rendering anything, naming the value', async (_case, values, named) => {
  const rendered = await helm('template', 'x', chart, ...required, ...values);
  expect(rendered.code).not.toBe(0);
  expect(rendered.stdout).toBe('');
  expect(rendered.stderr).toContain('values don\'t meet the specifications of the schema');
  expect(rendered.stderr).toMatch(named);
});

test('after an install helm prints what to do next, with the release\'s names', async () => {
  const installed = await helm('install', 'notes', chart, '--dry-run=client', '--namespace', 'claude-system', ...required,
    '--set', 'api.impersonation.enabled=true', '--set', 'postgres.enabled=true', '--set', 'postgres.image=postgres:17');
  expect(installed.code).toBe(0);
  const notes = installed.stdout.slice(installed.stdout.indexOf('NOTES:'));
  expect(notes).toContain('kubectl -n claude-system rollout status deployment/notes');
  expect(notes).toContain('kubectl create secret generic anthropic-api-key -n <namespace> --from-literal=api-key=<your key>');
  expect(notes).toContain('kubectl -n claude-system port-forward service/notes-api 8080:80');
  expect(notes).toContain('--clusterrole=notes-submitter --group=claude-api:tenant:<tenant>');
  expect(notes).toContain('the evaluation Postgres keeps its data in an emptyDir');
  const plain = await helm('install', 'plain', chart, '--dry-run=client', '--namespace', 'claude-system', ...required, '--set', 'api.enabled=false');
  expect(plain.stdout).not.toContain('port-forward');
  expect(plain.stdout).not.toContain('emptyDir');
});

test('the rendered manifests are accepted by the apiserver (server-side dry run)', async () => {
  const rendered = await helm('template', `chart-${ns.name}`, chart, '--namespace', ns.name, ...required);
  expect(rendered.code).toBe(0);
  const file = path.join(bedSetting('BED_DIR'), `${ns.name}-chart.yaml`);
  await fs.writeFile(file, rendered.stdout);
  const applied = await ns.kubectl('apply', '--dry-run=server', '-f', file);
  expect(applied.stderr).toBe('');
  for (const kind of ['serviceaccount', 'clusterrole.rbac.authorization.k8s.io', 'clusterrolebinding.rbac.authorization.k8s.io',
    'role.rbac.authorization.k8s.io', 'rolebinding.rbac.authorization.k8s.io', 'deployment.apps']) {
    expect(applied.stdout).toContain(`${kind}/chart-${ns.name}`);
  }
});

const containerOf = (map: Map<string, KubernetesObject>, name: string) => (map.get(`Deployment/${name}`) as V1Deployment).spec!.template.spec!.containers[0]!;

/** The objects `helm template` renders, by kind and name (read by kubectl, as a client-side dry run). */
async function renderedObjects(...values: string[]): Promise<Map<string, KubernetesObject>> {
  const rendered = await helm('template', 'sys', chart, '--namespace', 'claude-system', ...required, ...values);
  expect(rendered.stderr).toBe('');
  const file = path.join(bedSetting('BED_DIR'), `${ns.name}-rendered-${values.length}-${Date.now()}.yaml`);
  await fs.writeFile(file, rendered.stdout);
  const read = await kubectl('create', '--dry-run=client', '-o', 'json', '-f', file);
  expect(read.stderr).toBe('');
  // One pretty-printed JSON object per document, each starting at a line's start.
  const objects = read.stdout.split(/^(?=\{)/m).filter((text) => text.trim() !== '').map((text) => JSON.parse(text) as KubernetesObject);
  return new Map(objects.map((object) => [`${object.kind}/${object.metadata?.name}`, object]));
}

test('the API: a Deployment and Service, its own ServiceAccount and ClusterRole, and a generated HS256 key; a JWKS URL replaces the key; api.enabled=false leaves it out', async () => {
  const objects = await renderedObjects();
  for (const kind of ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Secret', 'Deployment', 'Service']) {
    expect(objects.has(`${kind}/sys-api${kind === 'Secret' ? '-jwt' : ''}`)).toBe(true);
  }
  const container = containerOf(objects, 'sys-api');
  expect(container.args).toEqual(['api/src/main.ts']);
  const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));
  expect(env).toMatchObject({ DATABASE_URL: 'postgres://db/claude', REDIS_URL: 'redis://redis:6379', JWT_ISSUER: 'claude-operator',
    JWT_AUDIENCE: 'claude-operator-api', JWT_HS256_SECRET: { secretKeyRef: { name: 'sys-api-jwt', key: 'hs256-secret' } } });
  expect((objects.get('Service/sys-api') as V1Service).spec?.ports).toEqual([{ name: 'http', port: 80, targetPort: 'http' }]);

  const withJwks = await renderedObjects('--set', 'api.jwt.jwksUrl=https://idp.example.com/jwks.json');
  expect(withJwks.has('Secret/sys-api-jwt')).toBe(false);
  const jwksEnv = (containerOf(withJwks, 'sys-api').env ?? []).map((e) => e.name);
  expect(jwksEnv).toContain('JWT_JWKS_URL');
  expect(jwksEnv).not.toContain('JWT_HS256_SECRET');

  const off = await renderedObjects('--set', 'api.enabled=false');
  expect([...off.keys()].filter((key) => key.includes('sys-api'))).toEqual([]);

  const both = await helm('template', 'sys', chart, ...required, '--set', 'api.jwt.jwksUrl=https://idp.example.com/jwks.json', '--set', 'api.jwt.hs256SecretName=mine');
  expect(both.code).not.toBe(0);
  expect(both.stderr).toContain('api.jwt: set at most one of jwksUrl and hs256SecretName');
});

test('each component runs its own image (a target of the Dockerfile), tagged the chart\'s appVersion unless given a tag; the operator names the runner\'s in task Jobs', async () => {
  const { appVersion } = loadYaml<{ appVersion: string }>(await fs.readFile(path.join(chart, 'Chart.yaml'), 'utf8'));
  const imagesOf = (objects: Map<string, KubernetesObject>) => {
    const operator = containerOf(objects, 'sys');
    const api = containerOf(objects, 'sys-api');
    return { operator: [operator.image, operator.imagePullPolicy], api: [api.image, api.imagePullPolicy],
      runner: operator.env?.find((e) => e.name === 'RUNNER_IMAGE')?.value };
  };
  expect(imagesOf(await renderedObjects())).toEqual({
    operator: [`ghcr.io/claude-operator/operator:${appVersion}`, 'IfNotPresent'],
    api: [`ghcr.io/claude-operator/api:${appVersion}`, 'IfNotPresent'],
    runner: `ghcr.io/claude-operator/runner:${appVersion}`,
  });
  expect(imagesOf(await renderedObjects('--set', 'operator.image.repository=registry.example/op', '--set', 'operator.image.tag=v1',
    '--set-string', 'api.image.tag=2', '--set', 'api.image.pullPolicy=Always', '--set', 'runner.image.repository=registry.example/run',
    '--set', 'runner.image.tag=v3'))).toEqual({
    operator: ['registry.example/op:v1', 'IfNotPresent'], api: ['ghcr.io/claude-operator/api:2', 'Always'], runner: 'registry.example/run:v3',
  });
  const before = await helm('template', 'sys', chart, ...required, '--set', 'image.repository=ghcr.io/claude-operator/operator');
  expect(before.code).not.toBe(0);
  expect(before.stderr).toMatch(/additional properties 'image' not allowed/);
});

test('api.impersonation: off by default (the API writes as itself); on, the API may only read and impersonate, and a <release>-submitter ClusterRole is there to bind', async () => {
  const rulesOf = (objects: Map<string, KubernetesObject>, name: string) => (objects.get(`ClusterRole/${name}`) as V1ClusterRole).rules;
  const envOf = (objects: Map<string, KubernetesObject>) => Object.fromEntries((containerOf(objects, 'sys-api').env ?? []).map((e) => [e.name, e.value]));
  const off = await renderedObjects();
  expect(envOf(off)).toMatchObject({ API_IMPERSONATION: 'off', API_IMPERSONATION_USER_PREFIX: 'claude-api:' });
  expect(rulesOf(off, 'sys-api')?.some((rule) => rule.verbs.includes('impersonate'))).toBe(false);
  expect(rulesOf(off, 'sys-api')?.some((rule) => rule.verbs.includes('create'))).toBe(true);

  const on = await renderedObjects('--set', 'api.impersonation.enabled=true');
  expect(envOf(on)).toMatchObject({ API_IMPERSONATION: 'on', API_IMPERSONATION_USER_PREFIX: 'claude-api:' });
  expect(rulesOf(on, 'sys-api')).toEqual([
    { apiGroups: ['claude-operator.io'], resources: ['claudetasks', 'claudesessions', 'claudetasktemplates'], verbs: ['get', 'list'] },
    { apiGroups: [''], resources: ['users', 'groups'], verbs: ['impersonate'] },
  ]);
  expect(rulesOf(on, 'sys-submitter')).toEqual([
    { apiGroups: ['claude-operator.io'], resources: ['claudetasks', 'claudesessions'], verbs: ['create', 'get', 'list', 'watch', 'patch', 'delete'] },
    { apiGroups: ['claude-operator.io'], resources: ['claudetasktemplates'], verbs: ['get', 'list', 'watch'] },
  ]);

  for (const prefix of ['', 'system:claude-api:']) {
    const refused = await helm('template', 'sys', chart, ...required, '--set', 'api.impersonation.enabled=true', '--set-string', `api.impersonation.userPrefix=${prefix}`);
    expect(refused.code).not.toBe(0);
    // values.schema.json refuses it first (the template's own check stays for a schema-less install).
    expect(refused.stderr).toContain('/api/impersonation/userPrefix');
  }
});
