// Tests only: the real runner in session mode as the operator starts it, `node
// runner/src/main.ts` with CLAUDE_RUNNER_MODE=session and the session's pod
// environment, against a scripted Messages API, the real claude CLI and the test
// bed's Redis. A session's volume is a directory of the "pod's" rootfs that the
// test keeps across runner processes (or not, to lose it). With no operator in
// these tests, the harness plays its part in Redis: it SETs the persisted key to
// the highest seq in the stream and HSETs the answered hash for each turn's
// runner.turn_completed, as the operator does once it has them in Postgres.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';
import type { ClaudeSessionSpec } from '../../../crds/src/claude-session.ts';
import { parseStreamEntry, type StreamEntry, workloadStreamKeys } from '../../../packages/contracts/src/event-stream.ts';
import { sessionVolume } from '../../../packages/contracts/src/pod-contract.ts';
import { inboxEntryFields, sessionAnsweredKey, sessionControlChannel, sessionInboxKey, sessionTranscriptKey } from '../../../packages/contracts/src/session-stream.ts';
import { TaskEventSchema } from '../../../packages/contracts/src/task-events.ts';
import { waitFor } from '../../../test/bed/process.ts';
import type { RecordedRequest } from '../../../test/scripted-api/server.ts';
import { repoRoot, startRunnerHarness, type RunnerHarness } from './run-runner.ts';

const nodeBin = path.join(repoRoot, 'node_modules/.bin/node');

export interface TestSession {
  namespace: string;
  name: string;
  /** The session's uid, which is also the CLI's session id. */
  uid: string;
  keys: { events: string; inbox: string; answered: string; transcript: string; persisted: string; control: string };
}

export interface SessionRunner {
  pid: number;
  /** The rootfs of the "pod"; the session's volume is under it. */
  rootfs: string;
  exited: Promise<{ exitCode: number | null; signal: NodeJS.Signals | null }>;
  /** The runner's log so far. */
  output(): string;
}

export interface SessionRunnerOptions {
  spec?: ClaudeSessionSpec;
  /** Default: a fresh one (a new, empty volume). */
  rootfs?: string;
  idleTimeoutSeconds?: number;
  env?: Record<string, string>;
}

export interface SessionHarness {
  runner: RunnerHarness;
  redis: Redis;
  newSession(): TestSession;
  startRunner(session: TestSession, options?: SessionRunnerOptions): Promise<SessionRunner>;
  /** XADDs a message to the inbox as the API does; its messageId. */
  send(session: TestSession, text: string): Promise<string>;
  interrupt(session: TestSession): Promise<void>;
  events(session: TestSession): Promise<StreamEntry[]>;
  /** Polls the stream until `check` holds for its events. */
  waitForEvents(session: TestSession, what: string, check: (events: StreamEntry[]) => boolean, timeoutMs?: number): Promise<StreamEntry[]>;
  /** The scripted API's requests of the session's CLI conversation (each turn's requests, in order). */
  requestsOf(session: TestSession): RecordedRequest[];
  /** Stops (false) or resumes (true) playing the operator: the persisted key and the answered hash stay as they are meanwhile. */
  setOperator(running: boolean): void;
  close(): Promise<void>;
}

export async function startSessionHarness(namespace: string): Promise<SessionHarness> {
  const runner = await startRunnerHarness(namespace);
  const { redis, api, apiKey } = runner;
  const sessions: TestSession[] = [];
  const children = new Set<ReturnType<typeof spawn>>();

  // The operator's part: persisted key and answered hash, from the stream.
  let stopped = false;
  let operatorRunning = true;
  const operatorPass = async () => {
    for (const session of operatorRunning ? sessions : []) {
      const events = await readEvents(redis, session);
      const last = events.at(-1)?.seq;
      if (last === undefined) continue;
      await redis.set(session.keys.persisted, String(last));
      for (const event of events) {
        if (event.type === 'runner.turn_completed') await redis.hset(session.keys.answered, event.messageId!, String(event.seq));
      }
    }
  };
  const operator = (async () => {
    while (!stopped) {
      await operatorPass().catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();

  function newSession(): TestSession {
    const name = `session-${crypto.randomBytes(4).toString('hex')}`;
    const session = {
      namespace, name, uid: crypto.randomUUID(),
      keys: {
        events: workloadStreamKeys('session', namespace, name).events, inbox: sessionInboxKey(namespace, name), answered: sessionAnsweredKey(namespace, name),
        transcript: sessionTranscriptKey(namespace, name), persisted: workloadStreamKeys('session', namespace, name).persisted,
        control: sessionControlChannel(namespace, name),
      },
    };
    sessions.push(session);
    return session;
  }

  async function startRunner(session: TestSession, options: SessionRunnerOptions = {}): Promise<SessionRunner> {
    const rootfs = options.rootfs ?? (await runner.newRootfs());
    await fs.mkdir(path.join(rootfs, 'etc/claude-session'), { recursive: true });
    await fs.mkdir(path.join(rootfs, 'etc/anthropic'), { recursive: true });
    await fs.mkdir(path.join(rootfs, 'dev'), { recursive: true });
    await fs.writeFile(path.join(rootfs, 'etc/claude-session/spec.json'), JSON.stringify(options.spec ?? {}));
    await fs.writeFile(path.join(rootfs, 'etc/anthropic/api-key'), `${apiKey}\n`);
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      LOCAL_NODE_ROOTFS: rootfs,
      CLAUDE_RUNNER_MODE: 'session',
      CLAUDE_SESSION_NAMESPACE: session.namespace,
      CLAUDE_SESSION_NAME: session.name,
      CLAUDE_SESSION_UID: session.uid,
      CLAUDE_SESSION_ID: session.uid,
      CLAUDE_SESSION_IDLE_TIMEOUT_SECONDS: String(options.idleTimeoutSeconds ?? 3),
      CLAUDE_TASK_SPEC_FILE: '/etc/claude-session/spec.json',
      ANTHROPIC_API_KEY_FILE: '/etc/anthropic/api-key',
      REDIS_URL: process.env.REDIS_URL!,
      WORKSPACE_DIR: sessionVolume.workspace,
      CLAUDE_HOME: sessionVolume.home,
      ANTHROPIC_BASE_URL: api.url,
      CLAUDE_CLI_PATH: path.join(repoRoot, 'node_modules/.bin/claude'),
      RUNNER_CLI_STOP_GRACE_MS: '5000',
      RUNNER_PERSIST_WAIT_MS: '2000',
      ...options.env,
    };
    const child = spawn(nodeBin, [path.join(repoRoot, 'runner/src/main.ts')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const exited = new Promise<{ exitCode: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (exitCode, signal) => {
      children.delete(child);
      resolve({ exitCode, signal });
    }));
    return { pid: child.pid!, rootfs, exited, output: () => output };
  }

  async function events(session: TestSession): Promise<StreamEntry[]> {
    const entries = await readEvents(redis, session);
    // Every event the runner wrote has the shape the contract declares.
    for (const entry of entries) TaskEventSchema.parse(entry.data);
    return entries;
  }

  return {
    runner, redis, newSession, startRunner, events,
    async send(session, text) {
      const messageId = `msg_${crypto.randomBytes(16).toString('hex')}`;
      await redis.xadd(session.keys.inbox, '*', ...inboxEntryFields({ messageId, text, acceptedAt: new Date().toISOString() }));
      return messageId;
    },
    async interrupt(session) {
      await redis.publish(session.keys.control, JSON.stringify({ type: 'interrupt' }));
    },
    async waitForEvents(session, what, check, timeoutMs = 60_000) {
      let seen: StreamEntry[] = [];
      await waitFor(what, async () => check((seen = await events(session))), { timeoutMs, intervalMs: 100 });
      return seen;
    },
    requestsOf(session) {
      return api.requests.filter((request) => request.headers['x-claude-code-session-id'] === session.uid && request.body?.tools !== undefined);
    },
    setOperator(running) {
      operatorRunning = running;
    },
    async close() {
      stopped = true;
      await operator;
      for (const child of children) child.kill('SIGKILL');
      await runner.close();
    },
  };
}

async function readEvents(redis: Redis, session: TestSession): Promise<StreamEntry[]> {
  return (await redis.xrange(session.keys.events, '-', '+')).map(([id, fields]) => parseStreamEntry(id, fields));
}
