// The README's "up" command, as a person uses it: start it, point kubectl at the
// settings file it writes, run work, press Ctrl-C, and nothing is left running.
// Twice: the default (the real node, the images built from the Dockerfile, the chart),
// and --local-node (the local node, the operator and API as host processes).
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import { readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, test } from '@jest/globals';
import pg from 'pg';
import { Redis } from 'ioredis';
import { repoRoot } from '../bed/binaries.ts';
import { waitFor } from '../bed/process.ts';
import { descendantsOf, stillRunning } from '../support/processes.ts';

const run = promisify(execFile);
const dirs: string[] = [];

afterAll(async () => {
  for (const dir of dirs) await fs.rm(dir, { recursive: true, force: true });
});

async function readSettings(file: string): Promise<Record<string, string>> {
  const text = await fs.readFile(file, 'utf8');
  return Object.fromEntries(text.trim().split('\n').map((line) => {
    const at = line.indexOf('=');
    return [line.slice(0, at), line.slice(at + 1)];
  }));
}

interface Up {
  settings: Record<string, string>;
  envFile: string;
  process: ChildProcess;
  exited: Promise<number | null>;
  kubectl(...args: string[]): Promise<{ stdout: string; stderr: string }>;
  /** Ctrl-C; resolves once up and every process it started have ended. */
  interrupt(): Promise<void>;
  close(): Promise<void>;
}

/** `bash test/up.sh --settings <file> ...args`, until its settings file is written. */
async function startUp(args: string[], timeoutMs: number): Promise<Up> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'up-e2e-'));
  dirs.push(dir);
  const envFile = path.join(dir, 'bed.env');
  const logFile = path.join(dir, 'up.log');
  const log = await fs.open(logFile, 'w');
  const up = spawn('bash', [path.join(repoRoot, 'test/up.sh'), '--settings', envFile, ...args], {
    cwd: repoRoot, detached: true, stdio: ['ignore', log.fd, log.fd],
  });
  const exited = new Promise<number | null>((resolve) => up.on('exit', (code) => resolve(code)));
  const close = async () => {
    try {
      process.kill(-up.pid!, 'SIGKILL');
    } catch {
      // Ended already.
    }
    await log.close().catch(() => undefined);
  };
  try {
    await waitFor('the settings file', async () => {
      if (up.exitCode !== null) throw new Error(`up exited with ${up.exitCode}`);
      return (await fs.stat(envFile).catch(() => undefined))?.size !== undefined && (await fs.stat(envFile)).size > 0;
    }, { timeoutMs }).catch(async (error: Error) => {
      throw new Error(`${error.message}\n${(await fs.readFile(logFile, 'utf8')).split('\n').slice(-60).join('\n')}`);
    });
  } catch (error) {
    await close();
    throw error;
  }
  const settings = await readSettings(envFile);
  return {
    settings, envFile, process: up, exited, close,
    kubectl: (...kubectlArgs) => run(settings.KUBECTL!, ['--kubeconfig', settings.KUBECONFIG!, ...kubectlArgs]),
    async interrupt() {
      const started = descendantsOf(up.pid!);
      expect(stillRunning(started).join('\n')).toMatch(/kube-apiserver/);
      process.kill(-up.pid!, 'SIGINT'); // Ctrl-C reaches the terminal's foreground process group.
      expect(await exited).toBe(0);
      await waitFor('every process of up to end', async () => stillRunning(started).length === 0, { timeoutMs: 30_000 })
        .catch(() => { throw new Error(`left behind:\n${stillRunning(started).join('\n')}`); });
      await expect(fs.stat(envFile)).rejects.toThrow();
    },
  };
}

/** What a user of the stack checks first: the example task runs, the API lists it, the datastores answer. */
async function exampleTaskRuns(up: Up, timeout: string): Promise<void> {
  await up.kubectl('apply', '-f', path.join(repoRoot, 'examples/task.yaml'));
  await up.kubectl('wait', '--for=jsonpath={.status.phase}=Succeeded', 'ctask/hello-file', `--timeout=${timeout}`);
  const listed = await fetch(`${up.settings.API_URL}/api/v1/namespaces/default/tasks`, { headers: { authorization: `Bearer ${up.settings.API_TOKEN}` } });
  expect(listed.status).toBe(200);
  expect(JSON.stringify(await listed.json())).toContain('hello-file');

  const client = new pg.Client({ connectionString: up.settings.DATABASE_URL });
  await client.connect();
  expect((await client.query('select 1 as one')).rows[0]).toEqual({ one: 1 });
  await client.end();
  const redis = new Redis(up.settings.REDIS_URL!, { lazyConnect: true, maxRetriesPerRequest: 0 });
  await redis.connect();
  expect(await redis.ping()).toBe('PONG');
  redis.disconnect();
}

/** Processes in the real node's cgroup (its daemons, shims and containers), with their command lines. */
function realNodeProcesses(): string[] {
  return readdirSync('/proc').filter((name) => /^\d+$/.test(name)).flatMap((pid) => {
    try {
      if (!readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(':/claude-operator-node/')) return [];
      return [`${pid} ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim()}`];
    } catch {
      return [];
    }
  });
}

test('up refuses --local-node with --real-node, saying why, before it starts anything', async () => {
  const refused = await run('bash', [path.join(repoRoot, 'test/up.sh'), '--local-node', '--real-node'], { cwd: repoRoot })
    .then(() => ({ code: 0, stderr: '' }), (error: { code: number; stderr: string }) => ({ code: error.code, stderr: error.stderr }));
  expect(refused).toEqual({ code: 2, stderr: expect.stringContaining('[up] --local-node and --real-node exclude each other') });
}, 120_000);

test('up --local-node: kubectl sees a Ready node, a Job runs to Complete, the example task Succeeds, and Ctrl-C stops everything', async () => {
  const up = await startUp(['--local-node'], 180_000);
  try {
    expect(Object.keys(up.settings)).toEqual(expect.arrayContaining(['KUBECONFIG', 'DATABASE_URL', 'REDIS_URL', 'KUBECTL', 'API_URL', 'API_TOKEN']));
    const nodes = await up.kubectl('get', 'nodes');
    expect(nodes.stdout).toMatch(/^local-node\s+Ready\s/m);

    await up.kubectl('create', 'job', 'hello', '--image=busybox', '--', 'sh', '-c', 'echo hello from a job');
    await up.kubectl('wait', '--for=condition=Complete', 'job/hello', '--timeout=90s');
    const job = await up.kubectl('get', 'job', 'hello', '-o', 'jsonpath={.status.succeeded}');
    expect(job.stdout).toBe('1');

    // The operator and the API came up with the stack.
    await exampleTaskRuns(up, '120s');
    await up.interrupt();
  } finally {
    await up.close();
  }
});

test('up (the real node, the default): the chart installs the system on the real node; the example task runs in a pod of the runner image; Ctrl-C leaves no node process, interface or dir', async () => {
  const up = await startUp([], 30 * 60_000);
  try {
    expect(Object.keys(up.settings)).toEqual(expect.arrayContaining(['KUBECONFIG', 'DATABASE_URL', 'REDIS_URL', 'KUBECTL', 'HELM', 'API_URL', 'API_TOKEN', 'REGISTRY', 'BED_DIR']));
    const nodes = await up.kubectl('get', 'nodes');
    expect(nodes.stdout).toMatch(/^chart-node\s+Ready\s/m);
    const helm = await run(up.settings.HELM!, ['--kubeconfig', up.settings.KUBECONFIG!, 'status', up.settings.RELEASE!, '--namespace', up.settings.RELEASE_NAMESPACE!]);
    expect(helm.stdout).toMatch(/STATUS: deployed/);

    await exampleTaskRuns(up, '300s');
    const image = await up.kubectl('get', 'pods', '-l', 'claude-operator.io/task=hello-file', '-o', 'jsonpath={.items[0].spec.containers[0].image}');
    expect(image.stdout.startsWith(`${up.settings.REGISTRY}/runner:`)).toBe(true);
    // The evaluation Postgres keeps its data on a PVC of the node's default StorageClass.
    const claims = await up.kubectl('get', 'pvc', '--namespace', up.settings.RELEASE_NAMESPACE!, '-o', 'jsonpath={range .items[*]}{.spec.storageClassName} {.status.phase}{"\\n"}{end}');
    expect(claims.stdout.trim()).toBe('standard Bound');

    expect(realNodeProcesses().length).toBeGreaterThan(0);
    await up.interrupt();
    expect(realNodeProcesses()).toEqual([]);
    await expect(run('ip', ['link', 'show', 'cobed-host'])).rejects.toThrow();
    await expect(fs.stat(up.settings.BED_DIR!)).rejects.toThrow();
  } finally {
    await up.close();
  }
});
