// Benchmark (not a test): the operator's memory and CPU with many finished
// ClaudeTasks in the cluster.
//
//   node test/bench/operator-memory.ts [--tasks 10000] [--resyncs 12] [--resync-seconds 60] [--concurrency 32]
//     [--node-options "..."] [--malloc-arena-max N]   (default: the chart's operator.nodeOptions, mallocArenaMax)
//
// It restarts the operator it measures, so it brings up a bed of its own (control
// plane, local node, Postgres, Redis, the CRDs) and runs operator/src/main.ts as
// `up` does, as a process of its own:
// 1. creates --tasks ClaudeTasks straight at the apiserver (the API would allow a
//    caller 600 requests a minute), each with spec.cancel: true, which the
//    operator finishes (Cancelled) without a Job, so no pod runs; waits until
//    every task is Cancelled.
// 2. stops that operator and starts another: its initial list holds every task;
//    waits until it has reconciled them all.
// 3. waits for --resyncs resyncs, in which the informer queues every cached task
//    again. The period is the operator's OPERATOR_RESYNC_SECONDS (300 by
//    default, so 12 are an hour); the script sets --resync-seconds, so an
//    hour's worth of real resyncs takes minutes. A
//    resync shows as --tasks more reconciles in claude_operator_reconcile_total,
//    then an empty queue.
// RSS (VmRSS), peak RSS (VmHWM) and CPU time (utime + stime) come from
// /proc/<pid> of the operator process, after each step.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CustomObjectsApi, loadYaml, type KubeConfig } from '@kubernetes/client-node';
import { installCrds } from '../../crds/src/install.ts';
import { startBed, type BedSettings } from '../bed/bed.ts';
import { repoRoot } from '../bed/binaries.ts';
import { freePort } from '../bed/ports.ts';
import { startSupervised, waitFor } from '../bed/process.ts';
import {
  createNamespace, fixed, inParallel, kubeConfigOf, log, machineLines, metricTotal, printTable, runBench, sampleProcess,
  scrapeMetrics, sleep, type Cleanups, type ProcessSample,
} from './support.ts';

const { values: args } = parseArgs({
  options: {
    tasks: { type: 'string', default: '10000' },
    resyncs: { type: 'string', default: '12' },
    'resync-seconds': { type: 'string', default: '60' },
    /** The operator's NODE_OPTIONS and MALLOC_ARENA_MAX; the chart's values by default ('' for none). */
    'node-options': { type: 'string' },
    'malloc-arena-max': { type: 'string' },
    concurrency: { type: 'string', default: '32' },
  },
});
const taskCount = Number(args.tasks);
const resyncs = Number(args.resyncs);
const concurrency = Number(args.concurrency);
if (!(taskCount >= 1) || !(resyncs >= 0) || !(concurrency >= 1)) throw new Error('--tasks and --concurrency take positive integers, --resyncs 0 or more');

const taskApi = { group: 'claude-operator.io', version: 'v1alpha1', plural: 'claudetasks' };
const namespace = 'bench-memory';
const resyncPeriodMs = Number(args['resync-seconds']) * 1000;
if (!(resyncPeriodMs >= 10_000)) throw new Error('--resync-seconds takes 10 or more');
const goalMB = 200;
// The operator runs as the chart runs it.
const chartValues = loadYaml<{ operator: { nodeOptions?: string; mallocArenaMax?: number } }>(
  fs.readFileSync(path.join(repoRoot, 'charts/claude-operator/values.yaml'), 'utf8'));
const nodeOptions = args['node-options'] ?? chartValues.operator.nodeOptions ?? '';
const mallocArenaMax = args['malloc-arena-max'] ?? String(chartValues.operator.mallocArenaMax ?? '');

interface RunningOperator {
  pid: number;
  metricsUrl: string;
  stop(): Promise<void>;
}

/** operator/src/main.ts with the bed's admin kubeconfig, watching every namespace, as `up` runs it. */
async function startOperator(settings: BedSettings, name: string, cleanups: Cleanups): Promise<RunningOperator> {
  const port = await freePort();
  const operator = startSupervised({
    name, command: path.join(repoRoot, 'node_modules/.bin/node'), args: [path.join(repoRoot, 'operator/src/main.ts')],
    logFile: path.join(settings.BED_DIR, 'logs', `${name}.log`),
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin', KUBECONFIG: settings.KUBECONFIG, DATABASE_URL: settings.DATABASE_URL,
      REDIS_URL: settings.REDIS_URL, RUNNER_IMAGE: 'ghcr.io/claude-operator/runner:dev',
      RUNNER_REDIS_ACL_SECRET: crypto.randomBytes(32).toString('hex'), METRICS_PORT: String(port),
      OPERATOR_RESYNC_SECONDS: String(resyncPeriodMs / 1000),
      NODE_OPTIONS: nodeOptions, MALLOC_ARENA_MAX: mallocArenaMax,
    },
  });
  cleanups.add(name, () => operator.stop(10_000));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${name} ready`, async () => (await fetch(`${url}/readyz`)).ok, { timeoutMs: 180_000, intervalMs: 100 })
    .catch((error: Error) => { throw new Error(`${error.message}\n${operator.logTail(30)}`); });
  return { pid: operator.pid, metricsUrl: `${url}/metrics`, stop: () => operator.stop(10_000) };
}

async function reconcileCount(operator: RunningOperator): Promise<{ reconciles: number; depth: number }> {
  const metrics = await scrapeMetrics(operator.metricsUrl);
  return { reconciles: metricTotal(metrics, 'claude_operator_reconcile_total'), depth: metricTotal(metrics, 'claude_operator_queue_depth') };
}

/** Waits until at least `atLeast` reconciles more than `from` are done and the queue stays empty; the count then. */
async function untilSettled(operator: RunningOperator, from: number, atLeast: number, timeoutMs: number): Promise<number | undefined> {
  const deadline = Date.now() + timeoutMs;
  let previous = -1;
  while (Date.now() < deadline) {
    const { reconciles, depth } = await reconcileCount(operator);
    if (reconciles - from >= atLeast && depth === 0 && reconciles === previous) return reconciles;
    previous = reconciles;
    await sleep(2_000);
  }
  return undefined;
}

async function createTasks(kubeConfig: KubeConfig): Promise<number> {
  const custom = kubeConfig.makeApiClient(CustomObjectsApi);
  const started = performance.now();
  await inParallel(Array.from({ length: taskCount }, (_, i) => `done-${String(i).padStart(5, '0')}`), concurrency, async (name, i) => {
    const body = { apiVersion: `${taskApi.group}/${taskApi.version}`, kind: 'ClaudeTask', metadata: { name },
      spec: { prompt: `finished task ${i}`, engine: 'api', cancel: true } };
    for (let attempt = 1; ; attempt++) {
      try {
        await custom.createNamespacedCustomObject({ ...taskApi, namespace, body });
        break;
      } catch (error) {
        if (attempt >= 5) throw error;
        await sleep(500 * attempt);
      }
    }
    if ((i + 1) % 1000 === 0) log(`${i + 1} tasks created`);
  });
  return (performance.now() - started) / 1000;
}

/** How many tasks are Cancelled, from a paged list. */
async function cancelledTasks(kubeConfig: KubeConfig): Promise<number> {
  const custom = kubeConfig.makeApiClient(CustomObjectsApi);
  let count = 0;
  let continueToken: string | undefined;
  do {
    const page = await custom.listNamespacedCustomObject({ ...taskApi, namespace, limit: 500, _continue: continueToken }) as {
      items: Array<{ status?: { phase?: string } }>; metadata?: { _continue?: string; continue?: string } };
    count += page.items.filter((task) => task.status?.phase === 'Cancelled').length;
    continueToken = page.metadata?.continue ?? page.metadata?._continue;
  } while (continueToken);
  return count;
}

interface Row {
  step: string;
  sample: ProcessSample;
  /** The V8 heap (used, total) and memory outside it, MB, from the operator's own /metrics. */
  heapUsedMB: number;
  heapTotalMB: number;
  externalMB: number;
  /** CPU seconds since the previous row of the same process. */
  cpuInStep: number;
  note: string;
}

await runBench('operator-memory', async (cleanups) => {
  log('starting a bed (control plane, local node, Postgres, Redis)...');
  const bed = await startBed();
  cleanups.add('the bed', () => bed.stop());
  const kubeConfig = kubeConfigOf(bed.settings);
  await installCrds(kubeConfig);
  await createNamespace(kubeConfig, namespace);

  const rows: Row[] = [];
  let last: ProcessSample | undefined;
  const record = async (operator: RunningOperator, step: string, note = '', fresh = false) => {
    const sample = sampleProcess(operator.pid);
    const metrics = await scrapeMetrics(operator.metricsUrl);
    const mb = (name: string) => metricTotal(metrics, name) / 1e6;
    rows.push({
      step, sample, cpuInStep: sample.cpuSeconds - (fresh || !last ? 0 : last.cpuSeconds), note,
      heapUsedMB: mb('nodejs_heap_size_used_bytes'), heapTotalMB: mb('nodejs_heap_size_total_bytes'), externalMB: mb('nodejs_external_memory_bytes'),
    });
    last = sample;
    log(`${step}: RSS ${fixed(sample.rssMB)} MB, CPU ${fixed(sample.cpuSeconds)} s ${note}`);
  };

  const first = await startOperator(bed.settings, 'operator-1', cleanups);
  await record(first, 'operator 1 ready, no tasks', '', true);
  const createSeconds = await createTasks(kubeConfig);
  log(`${taskCount} tasks created in ${fixed(createSeconds)} s; waiting for the operator to finish them...`);
  const finishStarted = Date.now();
  for (;;) {
    await untilSettled(first, 0, taskCount, 60 * 60_000);
    const cancelled = await cancelledTasks(kubeConfig);
    if (cancelled >= taskCount) break;
    log(`${cancelled} of ${taskCount} Cancelled; waiting...`);
    if (Date.now() - finishStarted > 60 * 60_000) throw new Error(`only ${cancelled} of ${taskCount} tasks Cancelled after an hour`);
    await sleep(5_000);
  }
  await record(first, `operator 1: ${taskCount} created and finished`,
    `(${fixed(createSeconds)} s to create, ${fixed((Date.now() - finishStarted) / 1000)} s more until all Cancelled)`);
  await first.stop();

  const second = await startOperator(bed.settings, 'operator-2', cleanups);
  const listedAt = Date.now();
  await record(second, `operator 2 ready: initial list of ${taskCount}`, '', true);
  let reconciles = await untilSettled(second, 0, taskCount, 60 * 60_000);
  if (reconciles === undefined) throw new Error('operator 2 did not get through its initial reconciles within an hour');
  await record(second, 'operator 2: initial list reconciled', `(${reconciles} reconciles in ${fixed((Date.now() - listedAt) / 1000)} s)`);

  let seen = 0;
  for (let pass = 1; pass <= resyncs; pass++) {
    const waitStarted = Date.now();
    const settled = await untilSettled(second, reconciles, taskCount, resyncPeriodMs * 2 + 5 * 60_000);
    if (settled === undefined) {
      log(`no resync within ${fixed((Date.now() - waitStarted) / 60_000)} min: stopping here`);
      break;
    }
    seen = pass;
    await record(second, `after resync ${pass}`, `(+${settled - reconciles} reconciles, ${fixed((Date.now() - listedAt) / 60_000)} min after the list)`);
    reconciles = settled;
  }

  console.log(`operator-memory: the operator process with ${taskCount} finished ClaudeTasks (spec.cancel: true, no Jobs) in the cluster`);
  for (const line of machineLines()) console.log(line);
  console.log(`operator process: NODE_OPTIONS=${JSON.stringify(nodeOptions)} MALLOC_ARENA_MAX=${JSON.stringify(mallocArenaMax)} (the chart's values unless --node-options/--malloc-arena-max)`);
  console.log(`resync period: ${resyncPeriodMs / 1000} s (OPERATOR_RESYNC_SECONDS); waited for ${resyncs} real resyncs, saw ${seen} ` +
    `(as many as ${fixed((seen * 300) / 60, 0)} min of resyncs at the default 300 s)`);
  printTable('RSS and CPU of the operator process (/proc/<pid>: VmRSS, VmHWM, utime + stime; heap and external: its /metrics)',
    ['step', 'RSS MB', 'peak MB', 'heap used/total MB', 'external MB', 'CPU s', 'CPU s in step', 'note'],
    rows.map((r) => [r.step, fixed(r.sample.rssMB), fixed(r.sample.peakRssMB), `${fixed(r.heapUsedMB)} / ${fixed(r.heapTotalMB)}`, fixed(r.externalMB),
      fixed(r.sample.cpuSeconds), fixed(r.cpuInStep), r.note]));
  const listed = rows.find((r) => r.step.endsWith('initial list reconciled'))!;
  const end = rows.at(-1)!;
  printTable(`goal: RSS < ${goalMB} MB`, ['when', 'RSS MB', 'peak MB', 'goal'], [
    ['after the initial list', fixed(listed.sample.rssMB), fixed(listed.sample.peakRssMB), listed.sample.rssMB < goalMB ? 'met' : 'missed'],
    [`after ${seen} resyncs`, fixed(end.sample.rssMB), fixed(end.sample.peakRssMB), end.sample.rssMB < goalMB ? 'met' : 'missed'],
  ]);
});
