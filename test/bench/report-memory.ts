// Benchmark (not a test): the API's memory while it renders run reports of 1,000
// and 10,000 events in every format, to show that a report is streamed (memory
// stays near the idle figure) rather than built in memory (it would grow with
// the run).
//
//   node_modules/.bin/node test/bench/report-memory.ts [--formats=json,md,html,pdf] [--api-heap-mb=N] [events...]
//
// --api-heap-mb caps the API's V8 heap (--max-old-space-size): a report built in
// memory would fail under a cap smaller than itself; a streamed one does not.
//
// Starts its own Postgres database and redis-server (or uses DATABASE_URL /
// REDIS_URL), stores tasks of N events (half Bash tool calls with a 200-byte
// command, half their 500-byte results), then for each size and format starts
// a fresh API process (node api/src/main.ts), downloads the report once, and
// prints that process's peak RSS (VmHWM) next to its peak after an idle request.
// For pdf the API streams the HTML to a file and Chromium prints it: Chromium's
// memory is its own process's, not the API's.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { migrate } from '../../packages/database/src/migrate.ts';
import { writeEvents } from '../../packages/database/src/task-records.ts';
import type { TaskEventRecord } from '../../packages/contracts/src/task-events.ts';
import { provisionPostgres } from '../bed/postgres.ts';
import { provisionRedis } from '../bed/redis.ts';
import { freePort } from '../bed/ports.ts';
import { waitFor } from '../bed/process.ts';
import { log, printTable, runBench, sampleProcess } from './support.ts';

const allFormats = ['json', 'md', 'html', 'pdf'] as const;
const formatsArg = process.argv.find((arg) => arg.startsWith('--formats='))?.slice('--formats='.length);
const formats = formatsArg ? allFormats.filter((f) => formatsArg.split(',').includes(f)) : allFormats;
const heapMb = process.argv.find((arg) => arg.startsWith('--api-heap-mb='))?.slice('--api-heap-mb='.length);
const sizes = process.argv.slice(2).filter((arg) => !arg.startsWith('--')).map(Number).filter((n) => n > 0);
const eventCounts = sizes.length ? sizes : [1_000, 10_000];
const namespace = 'bench';
const secret = 'report-bench-secret-of-at-least-32-chars';

function eventsOf(count: number): TaskEventRecord[] {
  const time = new Date().toISOString();
  const events: TaskEventRecord[] = [{ seq: 1, type: 'system', time, data: { type: 'system', subtype: 'init', cwd: '/workspace', model: 'bench' } }];
  for (let seq = 2; events.length < count - 1; seq++) {
    const id = `tu${seq}`;
    events.push({ seq, type: 'assistant', time, data: { type: 'assistant', message: { content: [{ type: 'tool_use', id, name: 'Bash', input: { command: `echo ${'x'.repeat(195)}` } }] } } });
    seq++;
    events.push({ seq, type: 'user', time, data: { type: 'user', message: { content: [{ type: 'tool_result', tool_use_id: id, content: 'y'.repeat(500) }] } } });
  }
  events.push({ seq: events.length + 1, type: 'runner.completed', time, data: {
    type: 'runner.completed', outcome: 'succeeded', exitCode: 0, message: 'ok', reason: null, result: 'The bench answer.', usage: null, sessionId: 's', model: 'bench',
  } });
  return events;
}

/** HS256 JWT for the API, made here (jose is the API's; a few lines keep the bench's imports few). */
async function bearer(): Promise<string> {
  const { SignJWT } = await import('jose');
  return new SignJWT({ tenant: 'bench', namespaces: [namespace], role: 'viewer' }).setProtectedHeader({ alg: 'HS256' })
    .setIssuer('https://issuer.bench').setAudience('claude-operator-api').setSubject('bench').setIssuedAt().setExpirationTime('1h')
    .sign(new TextEncoder().encode(secret));
}

async function startApi(env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const child = spawn(process.execPath, [...(heapMb ? [`--max-old-space-size=${Number(heapMb)}`] : []), 'api/src/main.ts'], { env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  await waitFor('the API', async () => (await fetch(`${url}/healthz`).catch(() => undefined))?.ok === true, { timeoutMs: 60_000, intervalMs: 100 });
  return { child, url };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

await runBench('report-memory', async (cleanups) => {
  const logDir = path.join(os.tmpdir(), 'claude-operator-bench-logs');
  const postgres = await provisionPostgres({ logDir });
  cleanups.add('postgres', () => postgres.close());
  const redis = await provisionRedis({ logDir });
  cleanups.add('redis', () => redis.close());
  await migrate(postgres.url);
  const pool = new pg.Pool({ connectionString: postgres.url, max: 2 });
  cleanups.add('pool', () => pool.end());
  const kubeconfig = path.join(logDir, `report-bench-kubeconfig-${process.pid}.yaml`);
  await fs.mkdir(logDir, { recursive: true });
  await fs.writeFile(kubeconfig, 'apiVersion: v1\nkind: Config\nclusters: [{name: none, cluster: {server: "https://127.0.0.1:1"}}]\nusers: [{name: none, user: {}}]\ncontexts: [{name: none, context: {cluster: none, user: none}}]\ncurrent-context: none\n');
  cleanups.add('kubeconfig', () => fs.rm(kubeconfig, { force: true }));
  const env = {
    DATABASE_URL: postgres.url, REDIS_URL: redis.url, JWT_HS256_SECRET: secret, JWT_ISSUER: 'https://issuer.bench', JWT_AUDIENCE: 'claude-operator-api',
    KUBECONFIG: kubeconfig, RATE_LIMIT_REQUESTS: '100000', REPORT_PDF_TIMEOUT_SECONDS: '600',
  };
  const token = await bearer();
  const rows: Array<Array<string | number>> = [];
  for (const count of eventCounts) {
    const name = `report-${count}`;
    const uid = randomUUID();
    await pool.query(
      `INSERT INTO claude_tasks (uid, namespace, name, spec, status, phase, result, created_at, completed_at, finalized_at)
       VALUES ($1, $2, $3, $4, $5, 'Succeeded', 'The bench answer.', now(), now(), now())`,
      [uid, namespace, name, JSON.stringify({ prompt: 'bench prompt' }), JSON.stringify({ phase: 'Succeeded', usage: { turns: count / 2, costUSD: '1.00' } })]);
    await writeEvents(pool, uid, eventsOf(count));
    log(`stored ${count} events as ${name}`);
    for (const format of formats) {
      const api = await startApi(env);
      try {
        await fetch(`${api.url}/api/v1/namespaces/${namespace}/tasks/${name}/result`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.arrayBuffer());
        const idle = sampleProcess(api.child.pid!);
        const started = performance.now();
        let peakDuring = idle.rssMB;
        const sampler = setInterval(() => { peakDuring = Math.max(peakDuring, sampleProcess(api.child.pid!).rssMB); }, 50);
        const response = await fetch(`${api.url}/api/v1/namespaces/${namespace}/tasks/${name}/report?format=${format}`, { headers: { authorization: `Bearer ${token}` } });
        let bytes = 0;
        for await (const chunk of response.body!) bytes += (chunk as Uint8Array).byteLength;
        clearInterval(sampler);
        const after = sampleProcess(api.child.pid!);
        if (response.status !== 200) throw new Error(`${format} of ${count}: HTTP ${response.status}`);
        rows.push([count, format, (bytes / 1e6).toFixed(1), ((performance.now() - started) / 1000).toFixed(1), idle.peakRssMB.toFixed(0), after.peakRssMB.toFixed(0),
          (after.peakRssMB - idle.peakRssMB).toFixed(0)]);
        log(`${count} ${format}: ${bytes} bytes`);
      } finally {
        await stop(api.child);
      }
    }
  }
  console.log(`report memory: a fresh API process per report (${os.cpus().length} CPUs)${heapMb ? `, its V8 heap capped at ${heapMb} MB` : ''}; MB = 10^6 bytes; RSS from /proc (VmHWM)`);
  printTable('API peak RSS while rendering one report', ['events', 'format', 'report MB', 'seconds', 'peak RSS idle MB', 'peak RSS after MB', 'growth MB'], rows);
});
