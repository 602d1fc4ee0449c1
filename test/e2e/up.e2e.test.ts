// The README's "up" command, as a person uses it: start it, point kubectl at the
// settings file it writes, run a Job, press Ctrl-C, and nothing is left running.
import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs/promises';
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
let dir: string | undefined;

afterAll(async () => {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

async function readSettings(file: string): Promise<Record<string, string>> {
  const text = await fs.readFile(file, 'utf8');
  return Object.fromEntries(text.trim().split('\n').map((line) => {
    const at = line.indexOf('=');
    return [line.slice(0, at), line.slice(at + 1)];
  }));
}

test('up: kubectl sees a Ready node, a Job runs to Complete, the example task Succeeds, and Ctrl-C stops everything', async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'up-e2e-'));
  const envFile = path.join(dir, 'bed.env');
  const log = await fs.open(path.join(dir, 'up.log'), 'w');
  const up = spawn('bash', [path.join(repoRoot, 'test/up.sh'), '--settings', envFile], {
    cwd: repoRoot, detached: true, stdio: ['ignore', log.fd, log.fd],
  });
  const exited = new Promise<number | null>((resolve) => up.on('exit', (code) => resolve(code)));
  try {
    await waitFor('the settings file', async () => (await fs.stat(envFile)).size > 0, { timeoutMs: 180_000 })
      .catch(async (error: Error) => {
        throw new Error(`${error.message}\n${await fs.readFile(path.join(dir!, 'up.log'), 'utf8')}`);
      });
    const settings = await readSettings(envFile);
    expect(Object.keys(settings)).toEqual(expect.arrayContaining(['KUBECONFIG', 'DATABASE_URL', 'REDIS_URL', 'KUBECTL', 'API_URL', 'API_TOKEN']));
    const kubectl = (...args: string[]) => run(settings.KUBECTL!, ['--kubeconfig', settings.KUBECONFIG!, ...args]);

    const nodes = await kubectl('get', 'nodes');
    expect(nodes.stdout).toMatch(/^local-node\s+Ready\s/m);

    await kubectl('create', 'job', 'hello', '--image=busybox', '--', 'sh', '-c', 'echo hello from a job');
    await kubectl('wait', '--for=condition=Complete', 'job/hello', '--timeout=90s');
    const job = await kubectl('get', 'job', 'hello', '-o', 'jsonpath={.status.succeeded}');
    expect(job.stdout).toBe('1');

    // The operator came up with the stack: the example task runs to Succeeded.
    await kubectl('apply', '-f', path.join(repoRoot, 'examples/task.yaml'));
    await kubectl('wait', '--for=jsonpath={.status.phase}=Succeeded', 'ctask/hello-file', '--timeout=120s');
    // And the API came up too, with the admin token in the settings file.
    const listed = await fetch(`${settings.API_URL}/api/v1/namespaces/default/tasks`, { headers: { authorization: `Bearer ${settings.API_TOKEN}` } });
    expect(listed.status).toBe(200);
    expect(JSON.stringify(await listed.json())).toContain('hello-file');

    const client = new pg.Client({ connectionString: settings.DATABASE_URL });
    await client.connect();
    expect((await client.query('select 1 as one')).rows[0]).toEqual({ one: 1 });
    await client.end();
    const redis = new Redis(settings.REDIS_URL!, { lazyConnect: true, maxRetriesPerRequest: 0 });
    await redis.connect();
    expect(await redis.ping()).toBe('PONG');
    redis.disconnect();

    const started = descendantsOf(up.pid!);
    expect(stillRunning(started).join('\n')).toMatch(/kube-apiserver/);
    process.kill(-up.pid!, 'SIGINT'); // Ctrl-C reaches the terminal's foreground process group.
    expect(await exited).toBe(0);
    await waitFor('every process of up to end', async () => stillRunning(started).length === 0, { timeoutMs: 15_000 })
      .catch(() => { throw new Error(`left behind:\n${stillRunning(started).join('\n')}`); });
    await expect(fs.stat(envFile)).rejects.toThrow();
  } finally {
    try {
      process.kill(-up.pid!, 'SIGKILL');
    } catch {
      // Ended already.
    }
    await log.close();
  }
});
