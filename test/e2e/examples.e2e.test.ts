// The manifests in examples/ as a user applies them: every one passes the
// apiserver's validation (the CRD's schema and CEL rules) in a server-side dry
// run, and those the test bed can run do what their comments say. The bed has no
// network and its local node no volumes from claims: the git example clones from
// a git server on the bed instead of github.com, the PVC example only dry-runs.
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, test } from '@jest/globals';
import { loadAllYaml } from '@kubernetes/client-node';
import type pg from 'pg';
import type { ClaudeTask } from '../../crds/src/claude-task.ts';
import { startGitHttpServer } from '../../runner/src/testing/git-http-server.ts';
import { makeOrigin } from '../../runner/src/testing/git-origin.ts';
import { repoRoot } from '../bed/binaries.ts';
import { bedSetting, waitFor, type TestNamespace } from '../support/cluster.ts';
import { useTaskFixture } from './support/task-fixture.ts';
import { kubectlGet, kubectlWaitTimeout as waitTimeout } from './support/tasks.ts';

const examplesDir = path.join(repoRoot, 'examples');
const exampleFiles = fs.readdirSync(examplesDir).filter((file) => file.endsWith('.yaml')).sort();

interface Manifest { apiVersion: string; kind: string; metadata: { name: string }; data?: Record<string, string>; stringData?: Record<string, string>; spec?: Record<string, unknown> }
const manifestsOf = (file: string) => loadAllYaml(fs.readFileSync(path.join(examplesDir, file), 'utf8')) as Manifest[];
const taskOf = (manifests: Manifest[]) => manifests.find((m) => m.kind === 'ClaudeTask') as unknown as ClaudeTask;

const fixture = useTaskFixture('examples');
let ns: TestNamespace;
let db: pg.Client;
beforeAll(() => {
  ({ ns, db } = fixture());
});

/** `kubectl apply -f <file>` and the task `name` it holds, once finished (Succeeded expected). */
async function applyAndFinish(file: string, name: string): Promise<ClaudeTask> {
  const applied = await ns.kubectl('apply', '-f', file);
  expect({ code: applied.code, stderr: applied.stderr }).toEqual({ code: 0, stderr: '' });
  const finished = await ns.kubectl('wait', '--for=condition=Finished', `ctask/${name}`, waitTimeout);
  expect(finished.code).toBe(0);
  const task = await kubectlGet<ClaudeTask>(ns, 'ctask', name);
  expect({ phase: task.status?.phase, message: task.status?.message }).toEqual({ phase: 'Succeeded', message: 'the agent finished' });
  return task;
}

/** The task's events as Postgres holds them once its record is final. */
async function storedEvents(task: ClaudeTask): Promise<Array<{ type: string; data: Record<string, unknown> }>> {
  await waitFor(`the final record of ${task.metadata.name}`, async () =>
    (await db.query('SELECT finalized_at FROM claude_tasks WHERE uid = $1', [task.metadata.uid])).rows[0]?.finalized_at != null);
  return (await db.query('SELECT type, data FROM claude_task_events WHERE task_uid = $1 ORDER BY seq', [task.metadata.uid])).rows;
}

describe('every example passes the apiserver\'s validation', () => {
  test.each(exampleFiles)('kubectl apply --dry-run=server -f examples/%s', async (file) => {
    const manifests = manifestsOf(file);
    const applied = await ns.kubectl('apply', '--dry-run=server', '-f', path.join(examplesDir, file));
    expect({ code: applied.code, stderr: applied.stderr }).toEqual({ code: 0, stderr: '' });
    const lines = applied.stdout.trim().split('\n');
    expect(lines).toHaveLength(manifests.length);
    expect(lines.every((line) => line.endsWith('(server dry run)'))).toBe(true);
  });
});

describe('the examples the bed can run', () => {
  test('configmap-prompt.yaml: the agent reads its instructions from the ConfigMap', async () => {
    const instructions = manifestsOf('configmap-prompt.yaml').find((m) => m.kind === 'ConfigMap')?.data?.instructions ?? '';
    expect(instructions).not.toBe('');
    const task = await applyAndFinish(path.join(examplesDir, 'configmap-prompt.yaml'), taskOf(manifestsOf('configmap-prompt.yaml')).metadata.name!);
    // The scripted model ran `printenv TASK_INSTRUCTIONS` and quotes its output.
    expect(task.status?.result).toContain(instructions.trim());
  });

  test('mcp-server.yaml: the CLI connects to the inline stdio server and the agent calls its tool', async () => {
    const task = await applyAndFinish(path.join(examplesDir, 'mcp-server.yaml'), taskOf(manifestsOf('mcp-server.yaml')).metadata.name!);
    expect(task.status?.result).toMatch(/^mcp__clock__utc_time returned:\n\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const init = (await storedEvents(task)).find((e) => e.type === 'system' && e.data.subtype === 'init');
    expect(init?.data.mcp_servers).toEqual([expect.objectContaining({ name: 'clock', status: 'connected' })]);
    expect(init?.data.tools).toContain('mcp__clock__utc_time');
  });

  test('git-workspace.yaml, pointed at a git server on the bed: its Secret\'s credentials clone the repository for the agent', async () => {
    const root = await fsp.mkdtemp(path.join(bedSetting('BED_DIR'), 'git-example-'));
    const readme = 'Hello from the git server on the test bed.\n';
    await makeOrigin(path.join(root, 'repos/hello.git'), path.join(root, 'work'), { 'README.md': readme });
    const manifests = manifestsOf('git-workspace.yaml');
    const secret = manifests.find((m) => m.kind === 'Secret');
    const username = secret?.stringData?.username ?? '';
    const password = `pw-${crypto.randomBytes(9).toString('hex')}`;
    const server = await startGitHttpServer({ projectRoot: path.join(root, 'repos'), username, password });
    try {
      // What a user changes for a private repository: the password, the URL and the branch.
      secret!.stringData!.password = password;
      const { workspace } = taskOf(manifests).spec;
      Object.assign(workspace?.git ?? {}, { url: `${server.url}/hello.git`, ref: 'main' });
      const file = path.join(root, 'git-workspace.json');
      await fsp.writeFile(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: manifests }));

      const task = await applyAndFinish(file, taskOf(manifests).metadata.name!);
      expect(task.status?.result).toContain(readme.trim());
      expect(server.authorizations).toContain(`Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`);
      const ready = (await storedEvents(task)).find((e) => e.type === 'runner.workspace_ready');
      expect(ready?.data).toMatchObject({ ref: 'main' });
    } finally {
      await server.close();
    }
  });
});
