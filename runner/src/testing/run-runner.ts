// Tests only: the real runner as the operator starts it, `node runner/src/main.ts` with
// the pod's environment and the spec and key as files, against a scripted Messages
// API, the real claude CLI and the test bed's Redis. Paths are given as in the pod
// and resolved under LOCAL_NODE_ROOTFS, as on the test bed's local node.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import type { ClaudeTaskSpec } from '../../../crds/src/claude-task.ts';
import { startScriptedApi, type RecordedRequest, type ScriptedApi } from '../../../test/scripted-api/server.ts';
import { parseStreamEntry, type StreamEntry, workloadStreamKeys } from '../../../packages/contracts/src/event-stream.ts';
import { RunnerCompletedEventSchema, TaskEventSchema, type RunnerCompletedEvent } from '../../../packages/contracts/src/task-events.ts';
import { TerminationSummarySchema, type TerminationSummary } from '../../../packages/contracts/src/termination-summary.ts';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const nodeBin = path.join(repoRoot, 'node_modules/.bin/node');

export interface RunnerRun {
  name: string;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** The runner's stdout and stderr (its log). */
  stdout: string;
  events: StreamEntry[];
  completed: RunnerCompletedEvent;
  termination: TerminationSummary;
  /** The rootfs of the "pod" on the host. */
  rootfs: string;
  /** The workspace on the host (under the rootfs). */
  workspace: string;
}

export interface RunnerOptions {
  spec: ClaudeTaskSpec;
  name?: string;
  env?: Record<string, string>;
  /** Called once the runner has started; e.g. to send it SIGTERM. */
  whileRunning?: (pid: number, workspace: string) => Promise<void>;
  /** The pod's rootfs, prepared by the test (e.g. with mounted credentials); a fresh one by default. */
  rootfs?: string;
}

export interface RunnerHarness {
  api: ScriptedApi;
  redis: Redis;
  apiKey: string;
  namespace: string;
  /** What the operator does for one attempt: mount spec and key, set the env, start the runner. */
  runRunner(options: RunnerOptions): Promise<RunnerRun>;
  /** A temporary directory, removed by close(). */
  newRootfs(): Promise<string>;
  /** The scripted API's requests of the CLI session in the run's init event. */
  requestsOf(run: RunnerRun): RecordedRequest[];
  close(): Promise<void>;
}

export async function startRunnerHarness(namespace: string): Promise<RunnerHarness> {
  const redisUrl = process.env.REDIS_URL;
  if (!redisUrl) throw new Error('REDIS_URL is not set: run this through jest, whose global setup starts the test bed');
  const apiKey = `sk-runner-test-${crypto.randomBytes(6).toString('hex')}`;
  const redis = new Redis(redisUrl);
  const api = await startScriptedApi({ apiKey });
  const tempDirs: string[] = [];

  async function newRootfs(): Promise<string> {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'runner-rootfs-'));
    tempDirs.push(dir);
    return dir;
  }

  async function runRunner(options: RunnerOptions): Promise<RunnerRun> {
    const rootfs = options.rootfs ?? (await newRootfs());
    const name = options.name ?? `task-${crypto.randomBytes(4).toString('hex')}`;
    await fs.mkdir(path.join(rootfs, 'etc/claude-task'), { recursive: true });
    await fs.mkdir(path.join(rootfs, 'etc/anthropic'), { recursive: true });
    await fs.mkdir(path.join(rootfs, 'dev'), { recursive: true });
    await fs.writeFile(path.join(rootfs, 'etc/claude-task/spec.json'), JSON.stringify(options.spec));
    await fs.writeFile(path.join(rootfs, 'etc/anthropic/api-key'), `${apiKey}\n`);
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      LOCAL_NODE_ROOTFS: rootfs,
      CLAUDE_TASK_SPEC_FILE: '/etc/claude-task/spec.json',
      ANTHROPIC_API_KEY_FILE: '/etc/anthropic/api-key',
      CLAUDE_TASK_NAMESPACE: namespace,
      CLAUDE_TASK_NAME: name,
      CLAUDE_TASK_UID: crypto.randomUUID(),
      REDIS_URL: redisUrl!,
      WORKSPACE_DIR: '/workspace',
      CLAUDE_HOME: '/claude-home',
      ANTHROPIC_BASE_URL: api.url,
      CLAUDE_CLI_PATH: path.join(repoRoot, 'node_modules/.bin/claude'),
      RUNNER_CLI_STOP_GRACE_MS: '5000',
      ...options.env,
    };
    const child = spawn(nodeBin, [path.join(repoRoot, 'runner/src/main.ts')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (code, sig) => resolve([code, sig])));
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const workspace = path.join(rootfs, 'workspace');
    if (options.whileRunning) await options.whileRunning(child.pid!, workspace);
    const [exitCode, signal] = await exited;
    clearTimeout(killer);

    const events = (await redis.xrange(workloadStreamKeys('task', namespace, name).events, '-', '+')).map(([id, fields]) => parseStreamEntry(id, fields));
    // Every event the runner wrote has the shape the contract declares.
    for (const event of events) TaskEventSchema.parse(event.data);
    const last = events.at(-1)?.data;
    if (last?.type !== 'runner.completed') throw new Error(`no terminal event; runner output:\n${stdout}`);
    const termination = TerminationSummarySchema.parse(JSON.parse(await fs.readFile(path.join(rootfs, 'dev/termination-log'), 'utf8')));
    return { name, exitCode, signal, stdout, events, completed: RunnerCompletedEventSchema.parse(last), termination, rootfs, workspace };
  }

  return {
    api, redis, apiKey, namespace, runRunner, newRootfs,
    requestsOf(run) {
      const init = run.events.find((e) => e.type === 'system' && e.data.subtype === 'init');
      const sessionId = init?.data.session_id;
      if (typeof sessionId !== 'string') throw new Error('the run has no init event with a session id');
      return api.requests.filter((request) => request.headers['x-claude-code-session-id'] === sessionId);
    },
    async close() {
      redis.disconnect();
      await api.close();
      for (const dir of tempDirs) await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
