// The real runner as the operator starts it: `node runner/src/main.ts` with the pod's
// environment, the spec and key as files, against the scripted Messages API, the real
// claude CLI and the test bed's Redis. Paths are given as in the pod and resolved under
// LOCAL_NODE_ROOTFS, as on the test bed's local node.
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ClaudeTaskSpec } from '../../crds/src/claude-task.ts';
import { waitFor } from '../../test/bed/process.ts';
import type { ScriptedApi } from '../../test/scripted-api/server.ts';
import { startGitHttpServer } from './testing/git-http-server.ts';
import type { StreamEntry } from '../../packages/contracts/src/event-stream.ts';
import { makeOrigin, makeTwoBranchOrigin } from './testing/git-origin.ts';
import { startRunnerHarness, type RunnerHarness, type RunnerOptions, type RunnerRun } from './testing/run-runner.ts';

const namespace = 'runner-int';

let harness: RunnerHarness;
let api: ScriptedApi;
let apiKey: string;

beforeAll(async () => {
  harness = await startRunnerHarness(namespace);
  ({ api, apiKey } = harness);
});

afterAll(async () => {
  await harness?.close();
});

const runRunner = (options: RunnerOptions) => harness.runRunner(options);
const newRootfs = () => harness.newRootfs();

function expectGapFree(events: StreamEntry[], from = 1): void {
  expect(events.map((e) => e.seq)).toEqual(Array.from({ length: events.length }, (_, i) => from + i));
}

/** Processes whose working directory is inside `dir` (the CLI and its tools run there). */
async function processesIn(dir: string): Promise<number[]> {
  const found: number[] = [];
  const real = await fs.realpath(dir).catch(() => dir);
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cwd = await fs.readlink(`/proc/${entry}/cwd`).catch(() => '');
    if (cwd === real || cwd.startsWith(`${real}/`)) found.push(Number(entry));
  }
  return found;
}

describe('the runner', () => {
  it('runs the CLI in the workspace and streams every event, gap-free, ending with the terminal event', async () => {
    const run = await runRunner({
      spec: {
        prompt: '[[scenario:write-file {"path":"hello.txt","content":"hello {{who}}"}]]',
        variables: { who: 'runner' },
        permissionMode: 'acceptEdits',
      },
    });
    expect(run.exitCode).toBe(0);
    expect(await fs.readFile(path.join(run.workspace, 'hello.txt'), 'utf8')).toBe('hello runner');

    expectGapFree(run.events);
    const types = run.events.map((e) => e.type);
    expect(types[0]).toBe('runner.started');
    expect(types.at(-1)).toBe('runner.completed');
    expect(types.slice(1, -1)).toEqual(['system', 'assistant', 'user', 'assistant', 'result']);
    expect(run.events[0]!.data).toMatchObject({ engine: 'cli', namespace, name: run.name });
    const init = run.events[1]!.data;
    expect(init).toMatchObject({ subtype: 'init', permissionMode: 'acceptEdits' });
    expect(await fs.realpath(init.cwd as string)).toBe(await fs.realpath(run.workspace));

    const sessionId = init.session_id as string;
    expect(run.completed).toEqual({
      type: 'runner.completed', outcome: 'succeeded', exitCode: 0, message: 'Claude finished the task.', reason: null,
      result: 'Wrote hello.txt.', sessionId, model: 'claude-opus-5-5',
      usage: { inputTokens: 320, cacheCreationInputTokens: 1200, cacheReadInputTokens: 1000, outputTokens: expect.any(Number),
        costUSD: expect.stringMatching(/^\d+\.\d+$/), turns: 2 },
    });
    expect(run.termination).toMatchObject({ outcome: 'succeeded', exitCode: 0, result: 'Wrote hello.txt.', sessionId, reason: null,
      model: 'claude-opus-5-5', usage: run.completed.usage, lastSeq: run.events.length, unpublishedEvents: 0 });

    // The key reached the API (the scripted API refuses any other) and nothing else.
    const requests = api.requests.filter((r) => r.headers['x-claude-code-session-id'] === sessionId);
    expect(requests.map((r) => r.status)).toEqual([200, 200]);
    expect(JSON.stringify(run.events)).not.toContain(apiKey);
    expect(run.stdout).not.toContain(apiKey);
    expect(run.stdout).not.toContain('hello.txt'); // the prompt stays out of the logs
  });

  it('fails with a readable message when the API keeps failing', async () => {
    const run = await runRunner({
      spec: { prompt: '[[scenario:server-error]]' },
      env: { CLAUDE_AGENT_ENV_CLAUDE_CODE_MAX_RETRIES: '0' }, // spec.env as the operator renders it
    });
    expect(run.exitCode).toBe(1);
    expectGapFree(run.events);
    expect(run.completed).toMatchObject({ outcome: 'failed', exitCode: 1, result: null, sessionId: expect.any(String) });
    expect(run.completed.message).toMatch(/^Claude failed: API Error: 500/);
    expect(run.termination).toMatchObject({ outcome: 'failed', exitCode: 1, message: run.completed.message });
  });

  it('stops the CLI on SIGTERM, ends cancelled with 143 and leaves no process behind', async () => {
    let cliPids: number[] = [];
    const run = await runRunner({
      spec: { prompt: '[[scenario:slow {"tokens":300,"delayMs":100}]]' },
      whileRunning: async (pid, workspace) => {
        await waitFor('the CLI to ask the API', async () => api.requests.some((r) => r.scenario === 'slow' && r.time > Date.now() - 20_000),
          { timeoutMs: 30_000, intervalMs: 50 });
        cliPids = await processesIn(workspace);
        process.kill(pid, 'SIGTERM');
      },
    });
    expect(cliPids.length).toBeGreaterThan(0);
    expect(run.exitCode).toBe(143);
    expectGapFree(run.events);
    expect(run.completed).toMatchObject({ outcome: 'cancelled', exitCode: 143 });
    expect(run.termination).toMatchObject({ outcome: 'cancelled', exitCode: 143 });
    expect(await processesIn(run.workspace)).toEqual([]);
    for (const pid of cliPids) expect(() => process.kill(pid, 0)).toThrow();
  });

  it('stops the run at an OOM kill in its cgroup: Failed, reason OOMKilled, exit 6, and no process left', async () => {
    // The container's cgroup as the runtime mounts it, under the "pod's" rootfs: here the test is the kernel and counts the kill.
    const rootfs = await harness.newRootfs();
    const cgroup = path.join(rootfs, 'sys/fs/cgroup');
    await fs.mkdir(cgroup, { recursive: true });
    await fs.writeFile(path.join(cgroup, 'memory.events'), 'oom 0\noom_kill 0\n');
    await fs.writeFile(path.join(cgroup, 'memory.max'), `${256 * 2 ** 20}\n`);
    const run = await runRunner({
      rootfs, env: { RUNNER_OOM_POLL_MS: '50' },
      spec: { prompt: 'Run it. [[scenario:bash {"command":"touch started && sleep 120"}]]', allowedTools: ['Bash'] },
      whileRunning: async (_pid, workspace) => {
        await waitFor('the Bash tool to run', () => fs.access(path.join(workspace, 'started')).then(() => true, () => false),
          { timeoutMs: 60_000, intervalMs: 50 });
        await fs.writeFile(path.join(cgroup, 'memory.events'), 'oom 1\noom_kill 1\n');
      },
    });
    expect(run.exitCode).toBe(6);
    expectGapFree(run.events);
    const message = 'The container went past its memory limit (256Mi): the kernel\'s OOM killer took a process in it (e.g. a command the Bash tool ran), ' +
      'and the runner stopped Claude. Raise spec.resources.limits.memory, or ask for less.';
    expect(run.completed).toMatchObject({ outcome: 'failed', exitCode: 6, reason: 'OOMKilled', message });
    expect(run.termination).toMatchObject({ outcome: 'failed', exitCode: 6, reason: 'OOMKilled', message });
    expect(await processesIn(run.workspace)).toEqual([]);
  });

  it('answers with the Messages API for engine api, its stream events kept out of the stream like the CLI\'s', async () => {
    const run = await runRunner({ spec: { prompt: 'Say something.', engine: 'api', systemPrompt: 'Be brief.', model: 'claude-haiku-4-5' } });
    expect(run.exitCode).toBe(0);
    expectGapFree(run.events);
    expect(run.events.map((e) => e.type)).toEqual(['runner.started', 'system', 'assistant', 'result', 'runner.completed']);
    expect(run.completed).toMatchObject({ outcome: 'succeeded', result: 'Scripted side answer.', usage: { inputTokens: expect.any(Number) },
      model: 'claude-haiku-4-5' });
    expect(run.termination).toMatchObject({ result: 'Scripted side answer.', model: 'claude-haiku-4-5' });
    expect(api.requests.at(-1)?.body?.model).toBe('claude-haiku-4-5');
  });

  it('clones spec.workspace.git at the ref before the CLI starts', async () => {
    const repos = await newRootfs();
    const origin = path.join(repos, 'origin.git');
    await makeTwoBranchOrigin(origin, path.join(repos, 'work'));

    const run = await runRunner({
      spec: {
        prompt: '[[scenario:bash {"command":"cat README.md"}]]',
        allowedTools: ['Bash'],
        workspace: { git: { url: `file://${origin}`, ref: 'feature' } },
      },
    });
    expect(run.exitCode).toBe(0);
    expect(run.completed.result).toBe('Ran `cat README.md`. Output:\non feature');
    expect(run.events.map((e) => e.type).slice(0, 2)).toEqual(['runner.started', 'runner.workspace_ready']);
  });

  it('clones over https with the mounted credentialsSecretRef, and the password appears in no event, log or termination message', async () => {
    const repos = await newRootfs();
    await makeOrigin(path.join(repos, 'private.git'), path.join(repos, 'work'), { 'README.md': 'private\n' });
    const password = `pw-${crypto.randomBytes(9).toString('hex')}`;
    const server = await startGitHttpServer({ projectRoot: repos, username: 'robot', password });
    try {
      const attempt = async (given: string) => {
        const rootfs = await newRootfs();
        const credentials = path.join(rootfs, 'var/run/claude-operator/git-credentials');
        await fs.mkdir(credentials, { recursive: true });
        await fs.writeFile(path.join(credentials, 'username'), 'robot', { mode: 0o440 });
        await fs.writeFile(path.join(credentials, 'password'), given, { mode: 0o440 });
        return runRunner({
          rootfs,
          env: { GIT_CREDENTIALS_DIR: '/var/run/claude-operator/git-credentials', RUNNER_LOG_LEVEL: 'trace' },
          spec: {
            prompt: '[[scenario:bash {"command":"cat README.md"}]]',
            allowedTools: ['Bash'],
            workspace: { git: { url: `${server.url}/private.git`, credentialsSecretRef: { name: 'git-basic' } } },
          },
        });
      };
      const everything = (run: RunnerRun) => JSON.stringify([run.stdout, run.events, run.termination]);

      const ok = await attempt(password);
      expect(ok.exitCode).toBe(0);
      expect(ok.completed.result).toBe('Ran `cat README.md`. Output:\nprivate');
      expect(ok.events[1]?.data).toEqual({ type: 'runner.workspace_ready', git: `${server.url}/private.git`, ref: null });
      expect(everything(ok)).not.toContain(password);

      const wrong = await attempt('not-the-password');
      expect(wrong.exitCode).toBe(3);
      expect(wrong.completed.message).toMatch(/git clone failed: authentication failed for http:\/\/127\.0\.0\.1:\d+\/private\.git/);
      expect(wrong.termination.message).toMatch(/authentication failed/);
      expect(everything(wrong)).not.toMatch(new RegExp(`${password}|not-the-password`));
    } finally {
      await server.close();
    }
  });

  it.each([
    ['a CLI that is not there', { prompt: 'x' }, { CLAUDE_CLI_PATH: '/nonexistent/claude' }, 2, /cannot be run/],
    ['a repository that cannot be cloned', { prompt: 'x', workspace: { git: { url: 'file:///nonexistent/repo.git' } } }, {}, 3,
      /git clone file:\/\/\/nonexistent\/repo\.git failed/],
  ] as Array<[string, ClaudeTaskSpec, Record<string, string>, number, RegExp]>)('fails early for %s', async (_name, spec, env, exitCode, message) => {
    const run = await runRunner({ spec, env });
    expect(run.exitCode).toBe(exitCode);
    expect(run.completed).toMatchObject({ outcome: 'failed', exitCode });
    expect(run.completed.message).toMatch(message);
    expect(run.termination).toMatchObject({ outcome: 'failed', exitCode });
  });

  it('rejects a prompt variable that is not given (exit 2), and a retry attempt continues the seq', async () => {
    const name = `task-${crypto.randomBytes(4).toString('hex')}`;
    const spec = { prompt: 'Fix {{issue}} in {{repo}}.', variables: { repo: 'x' } };
    const first = await runRunner({ spec, name, env: { CLAUDE_TASK_ATTEMPT: '1' } });
    expect(first.exitCode).toBe(2);
    expect(first.completed).toMatchObject({ outcome: 'failed', exitCode: 2 });
    expect(first.completed.message).toContain('{{issue}}');

    const second = await runRunner({ spec, name, env: { CLAUDE_TASK_ATTEMPT: '2' } });
    expect(second.events.map((e) => `${e.seq}:${e.type}:${String(e.data.attempt ?? '')}`)).toEqual([
      '1:runner.started:1', '2:runner.completed:', '3:runner.started:2', '4:runner.completed:',
    ]);
    expect(second.termination).toMatchObject({ attempt: 2, lastSeq: 4 });
  });
});
