// The Helm chart as a user installs it: lint clean, renders with the required
// values, refuses to render without them, and its manifests pass the
// apiserver's validation (server-side dry run).
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { repoRoot } from '../bed/binaries.ts';
import { bedSetting, createTestNamespace, runTool, type TestNamespace } from '../support/cluster.ts';

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
