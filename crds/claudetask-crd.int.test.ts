// The generated CRD on a real apiserver, seen through kubectl as a user sees it.
// The CRD is cluster-scoped and shared with other test files: it is installed
// idempotently and never deleted.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { createTestNamespace, kubeConfig, kubectl, type TestNamespace } from '../test/support/cluster.ts';
import { maxPromptLength } from './src/agent-spec.ts';
import { crdFile } from './src/files.ts';
import { crdName, crdOf } from './src/generate.ts';
import { installCrds } from './src/install.ts';
import { claudeTask } from './src/kinds.ts';

let ns: TestNamespace;
let manifests: string;

beforeAll(async () => {
  manifests = mkdtempSync(path.join(os.tmpdir(), 'claudetask-crd-'));
  // Twice at once: concurrent installers (other test files) must not trip each other.
  await Promise.all([installCrds(kubeConfig()), installCrds(kubeConfig())]);
  ns = await createTestNamespace('crd');
});
afterAll(async () => {
  await ns?.delete();
  rmSync(manifests, { recursive: true, force: true });
});

function task(name: string, spec: Record<string, unknown>): Record<string, unknown> {
  return { apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudeTask', metadata: { name }, spec };
}

/** `kubectl create -f` of a manifest (JSON is YAML). */
async function create(manifest: Record<string, unknown>) {
  const file = path.join(manifests, `${(manifest.metadata as { name: string }).name}.json`);
  writeFileSync(file, JSON.stringify(manifest));
  return ns.kubectl('create', '-f', file);
}

const mergePatch = (name: string, patch: unknown, ...more: string[]) =>
  ns.kubectl('patch', 'ctask', name, '--type', 'merge', '-p', JSON.stringify(patch), ...more);

const fullSpec = {
  prompt: 'Summarise {{topic}}.',
  variables: { topic: 'the README' },
  engine: 'cli',
  model: 'claude-sonnet-4-5',
  maxTurns: 5,
  permissionMode: 'acceptEdits',
  allowedTools: ['Read', 'Bash(git log:*)'],
  mcpServers: { docs: { command: 'npx', args: ['-y', 'docs-mcp'], env: { LEVEL: 'info' } } },
  workspace: { git: { url: 'https://github.com/example/repo.git', ref: 'main' } },
  env: [{ name: 'A', value: 'a' }, { name: 'B', valueFrom: { secretKeyRef: { name: 'creds', key: 'b' } } }],
  envFrom: [{ configMapRef: { name: 'settings' }, prefix: 'APP_' }],
  apiKeySecretRef: { name: 'anthropic' },
  timeoutSeconds: 600,
  resources: { requests: { cpu: '500m', memory: '1Gi' } },
  settings: { permissions: { deny: ['WebFetch'] }, env: { DEBUG: '1' } },
  allowProjectSettings: true,
  addDirs: ['/data'],
  fallbackModel: 'claude-sonnet-4-5,claude-haiku-4-5',
  effort: 'high',
  maxBudgetUSD: '5.00',
  jsonSchema: { type: 'object', properties: { summary: { type: 'string' } }, required: ['summary'] },
};

test('the apiserver stores the schema exactly as generated, and kubectl applies the committed file as it is', async () => {
  const stored = await kubectl('get', 'crd', crdName(claudeTask), '-o', 'json');
  expect(stored.stderr).toBe('');
  const crd = JSON.parse(stored.stdout) as { spec: { versions: { schema: unknown }[] } };
  const generated = crdOf(claudeTask) as { spec: { versions: { schema: unknown }[] } };
  expect(crd.spec.versions[0]!.schema).toEqual(generated.spec.versions[0]!.schema);

  const apply = await kubectl('apply', '--server-side', '--dry-run=server', '-f', crdFile(claudeTask).pathname);
  expect(apply.stderr).toBe('');
  expect(apply.stdout).toContain(`customresourcedefinition.apiextensions.k8s.io/${crdName(claudeTask)} serverside-applied (server dry run)`);
});

test('a valid task is accepted and kept whole, MCP server configuration included', async () => {
  const result = await create(task('valid', fullSpec));
  expect(result.stderr).toBe('');
  expect(result.stdout.trim()).toBe('claudetask.claude-operator.io/valid created');
  const stored = JSON.parse((await ns.kubectl('get', 'ctask', 'valid', '-o', 'json')).stdout) as { spec: unknown };
  expect(stored.spec).toEqual(fullSpec);
});

test.each([
  ['neither prompt nor templateRef', { model: 'x' }, /spec: Required value: spec\.prompt is required unless spec\.templateRef names a template/],
  ['an unknown permissionMode', { prompt: 'p', permissionMode: 'yolo' },
    /spec\.permissionMode: Unsupported value: "yolo": supported values: "default", "manual", "acceptEdits", "plan", "auto", "dontAsk", "bypassPermissions"/],
  ['a budget of nothing', { prompt: 'p', maxBudgetUSD: '0.00' }, /spec\.maxBudgetUSD: Invalid value: "0\.00": spec\.maxBudgetUSD in body should match/],
  ['a budget that is not a decimal', { prompt: 'p', maxBudgetUSD: '1e3' }, /spec\.maxBudgetUSD: Invalid value: "1e3"/],
  ['an allowed tool the CLI would read as an option', { prompt: 'p', allowedTools: ['Read', '--dangerously-skip-permissions'] },
    /spec\.allowedTools\[1\]: Invalid value: "--dangerously-skip-permissions"/],
  ['a relative addDir', { prompt: 'p', addDirs: ['data'] }, /spec\.addDirs\[0\]: Invalid value: "data"/],
  ['an unknown effort', { prompt: 'p', effort: 'extreme' }, /spec\.effort: Unsupported value: "extreme"/],
  ['a prompt over 100 KiB', { prompt: 'x'.repeat(maxPromptLength + 1) }, /spec\.prompt: Too long: may not be (more|longer) than 102400/],
  ['env with both value and valueFrom', { prompt: 'p', env: [{ name: 'A', value: 'a', valueFrom: { configMapKeyRef: { name: 'c', key: 'k' } } }] },
    /spec\.env\[0\]: Invalid value: value and valueFrom are mutually exclusive/],
  ['env valueFrom naming two sources', { prompt: 'p', env: [{ name: 'A', valueFrom: {
    secretKeyRef: { name: 's', key: 'k' }, configMapKeyRef: { name: 'c', key: 'k' } } }] },
  /spec\.env\[0\]\.valueFrom: Invalid value: exactly one of secretKeyRef and configMapKeyRef must be set/],
  ['envFrom naming no source', { prompt: 'p', envFrom: [{ prefix: 'X_' }] },
    /spec\.envFrom\[0\]: Invalid value: exactly one of secretRef and configMapRef must be set/],
  ['a workspace git URL that is a local path', { prompt: 'p', workspace: { git: { url: '/etc' } } },
    /spec\.workspace\.git\.url: Invalid value: must be an https:\/\/, http:\/\/, ssh:\/\/ or git:\/\/ URL, or user@host:path/],
  ['a git ref git would read as an option', { prompt: 'p', workspace: { git: { url: 'git@github.com:a/b.git', ref: '--upload-pack=x' } } },
    /spec\.workspace\.git\.ref: Invalid value: must not start with '-'/],
  ['too many variables', { prompt: 'p', variables: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`v${i}`, 'x'])) },
    /spec\.variables: Too many: 65: must have at most 64 items/],
])('rejected, saying why: %s', async (_case, spec, message) => {
  const name = `bad-${Math.random().toString(36).slice(2, 8)}`;
  const result = await create(task(name, spec));
  expect(result.code).not.toBe(0);
  expect(result.stderr).toContain(`The ClaudeTask "${name}" is invalid`);
  expect(result.stderr).toMatch(message);
});

test.each([
  ['https://github.com/example/repo.git', true],
  ['ssh://git@git.example.com:2222/team/repo.git', true],
  ['git@github.com:example/repo.git', true],
  ['git://example.com/repo', true],
  ['file:///var/lib/kubelet', false],
  ['-oProxyCommand=touch@x:y', false],
  ['https://example.com/repo with space', false],
])('workspace git URL %s accepted: %s', async (url, accepted) => {
  const name = `url-${Math.random().toString(36).slice(2, 8)}`;
  const file = path.join(manifests, `${name}.json`);
  writeFileSync(file, JSON.stringify(task(name, { prompt: 'p', workspace: { git: { url } } })));
  const result = await ns.kubectl('create', '--dry-run=server', '-f', file);
  expect(result.stderr).toBe(accepted ? '' : `The ClaudeTask "${name}" is invalid: spec.workspace.git.url: Invalid value: `
    + 'must be an https://, http://, ssh:// or git:// URL, or user@host:path\n');
});

const immutable = /The ClaudeTask "edited" is invalid: spec: Forbidden: spec is immutable after creation; only spec.cancel may change/;

test('the spec cannot be edited after creation: not changed, added to or removed from', async () => {
  expect((await create(task('edited', fullSpec))).stderr).toBe('');
  for (const patch of [
    { prompt: 'Something else.' },
    { model: 'claude-opus-4-1' },
    { retries: 2 }, // absent before
    { maxTurns: null }, // present before
    { mcpServers: { docs: { command: 'npx', args: ['-y', 'other-mcp'] } } }, // inside preserved, schemaless values
    { env: [{ name: 'A', value: 'changed' }] },
  ]) {
    const result = await mergePatch('edited', { spec: patch });
    expect(`${JSON.stringify(patch)}: ${result.stderr}`).toMatch(immutable);
  }
});

// Known gap, pinned so a fix upstream is noticed: the apiserver compares objects
// kept by x-kubernetes-preserve-unknown-fields key by key from one side only
// (k8s.io/apiserver/pkg/cel/common/valuesunstructured.go, unstructuredMap.Equal),
// so replacing one key of an MCP server's configuration by another of the same
// count slips past the immutability rule. Changed values are caught (above).
test.failing('known gap: swapping a key inside an mcpServers entry is not caught', async () => {
  expect((await create(task('swapped', { prompt: 'p', mcpServers: { docs: { command: 'a' } } }))).stderr).toBe('');
  const result = await mergePatch('swapped', { spec: { mcpServers: { docs: { command: null, url: 'a' } } } });
  expect(result.stderr).toMatch(/spec is immutable after creation/);
});

test('spec.cancel may be set after creation, but not unset', async () => {
  expect((await create(task('cancelled', { prompt: 'p' }))).stderr).toBe('');
  const cancel = await mergePatch('cancelled', { spec: { cancel: true } });
  expect(cancel.stderr).toBe('');
  expect(cancel.stdout.trim()).toBe('claudetask.claude-operator.io/cancelled patched');

  const forbidden = /The ClaudeTask "cancelled" is invalid: spec.cancel: Forbidden: a cancelled task stays cancelled: spec.cancel cannot go from true back to false/;
  expect((await mergePatch('cancelled', { spec: { cancel: false } })).stderr).toMatch(forbidden);
  expect((await mergePatch('cancelled', { spec: { cancel: null } })).stderr).toMatch(forbidden);
  // Setting it true again changes nothing and is fine.
  expect((await mergePatch('cancelled', { spec: { cancel: true } })).stderr).toBe('');
});

test('kubectl get shows phase, model, turns, cost, age and duration; the claude category lists tasks', async () => {
  expect((await create(task('shown', { prompt: 'p', model: 'claude-haiku-4-5' }))).stderr).toBe('');
  const status = await mergePatch('shown',
    // The Model column shows status.model, the model the CLI reported.
    { status: { phase: 'Succeeded', model: 'claude-haiku-4-5', usage: { turns: 3, costUSD: '0.0123' }, duration: '1m32s' } }, '--subresource=status');
  expect(status.stderr).toBe('');

  const table = await ns.kubectl('get', 'ctask', 'shown');
  expect(table.stderr).toBe('');
  const [header, row] = table.stdout.trim().split('\n').map((line) => line.trim().split(/\s+/));
  expect(header).toEqual(['NAME', 'PHASE', 'MODEL', 'TURNS', 'COST', 'AGE', 'DURATION']);
  expect(row).toEqual(['shown', 'Succeeded', 'claude-haiku-4-5', '3', '0.0123', expect.stringMatching(/^\d+s$/), '1m32s']);

  const category = await ns.kubectl('get', 'claude');
  expect(category.stderr).toBe('');
  // The category spans several kinds (tasks, templates, cron tasks): kubectl names each row with its resource.
  expect(category.stdout).toMatch(/^claudetask\.claude-operator\.io\/shown\s+Succeeded\s+claude-haiku-4-5\s+3\s+0\.0123\s/m);
});

test('the status cannot be written through the main resource', async () => {
  expect((await create(task('status-ignored', { prompt: 'p' }))).stderr).toBe('');
  expect((await mergePatch('status-ignored', { status: { phase: 'Succeeded' } })).stderr).toBe('');
  const phase = await ns.kubectl('get', 'ctask', 'status-ignored', '-o', 'jsonpath={.status.phase}');
  expect(phase.stdout).toBe('');
});
