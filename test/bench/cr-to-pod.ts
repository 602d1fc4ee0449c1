// Benchmark (not a test): from creating a ClaudeTask to its pod existing, against
// a bare Job to its pod, in one run, on one bed, with the operator running.
//
//   node test/bench/cr-to-pod.ts [--sizes 1,100,500] [--concurrency 50] [--run-pods] [--settings FILE]
//
// For each size N: N bare Jobs (busybox `true`) in a namespace of their own, then
// N ClaudeTasks (engine api, a short prompt) in another, each burst sent as fast
// as the client can (at most --concurrency requests in flight, the same for
// both). An object's time runs from its create request to the ADDED watch event
// of its pod, which the job controller creates (for a task: once the operator
// made its Job). Both namespaces are deleted before the next size.
//
// The local node would start every pod as host processes (for a task: the
// runner) on the cores the control plane and the operator share. With a stack
// of its own the script pauses it (SIGSTOP) during the bursts, so pods stay
// Pending and only creation is measured; --run-pods lets them run, and so do
// they with --settings (that local node belongs to `up`).
//
// Where the operator's time goes: its /metrics before and after each task burst
// (every claude_operator_* histogram and counter), its queue depth sampled every
// 250 ms, and its calls in the apiserver's audit log (user admin, in the burst's
// namespace), with the server's time for each.
import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import {
  BatchV1Api, CoreV1Api, CustomObjectsApi, Watch, type KubeConfig, type KubernetesObject, type V1Job,
} from '@kubernetes/client-node';
import {
  bringUpStack, createNamespace, deleteNamespaces, findProcess, fixed, histogramDeltas, inParallel, kubeConfigOf, log,
  machineLines, metricTotal, printTable, runBench, scrapeMetrics, sleep, spread, type HistogramDelta, type Metrics,
  type Spread, type StackSettings,
} from './support.ts';

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1,100,500' },
    concurrency: { type: 'string', default: '50' },
    'run-pods': { type: 'boolean', default: false },
    settings: { type: 'string' },
    'timeout-seconds': { type: 'string', default: '900' },
  },
});
const sizes = args.sizes.split(',').map(Number);
const concurrency = Number(args.concurrency);
const burstTimeoutMs = Number(args['timeout-seconds']) * 1000;
if (sizes.some((n) => !Number.isInteger(n) || n < 1) || !(concurrency >= 1)) {
  throw new Error('--sizes takes positive integers separated by commas (e.g. 1,100,500); --concurrency a positive integer');
}

const taskApi = { group: 'claude-operator.io', version: 'v1alpha1', plural: 'claudetasks' };
const jobNameLabels = ['batch.kubernetes.io/job-name', 'job-name'];
const ratioGoal = 1.1;

type Kind = 'Job' | 'ClaudeTask';

interface OperatorWork {
  /** From the first create to the scrape after the burst. */
  windowSeconds: number;
  metrics: HistogramDelta[];
  counters: Array<{ series: string; delta: number }>;
  maxQueueDepth: number;
  calls: AuditCalls;
}

interface BurstResult {
  kind: Kind;
  size: number;
  namespace: string;
  /** Create request sent → its pod's ADDED event, ms. */
  toPod: Spread;
  /** ClaudeTask only: create → its Job's ADDED event, and Job → pod. */
  toJob?: Spread;
  jobToPod?: Spread;
  /** First create sent → last pod seen, s. */
  burstSeconds: number;
  /** First create sent → last create answered, s. */
  createSeconds: number;
  operator?: OperatorWork;
}

/** Calls onAdded(object, when it arrived) for each object added under `path` from now on; a watch that ends is resumed where it stopped. */
async function watchAdditions(kubeConfig: KubeConfig, path: string, onAdded: (object: KubernetesObject, at: number) => void) {
  // Any list's resourceVersion is the store's current revision: the watch starts from now, with nothing replayed.
  const list = await kubeConfig.makeApiClient(CoreV1Api).listNamespacedPod({ namespace: 'default', limit: 1 });
  let resourceVersion = list.metadata?.resourceVersion;
  let stopped = false;
  let abort: AbortController | undefined;
  const start = async (): Promise<void> => {
    abort = await new Watch(kubeConfig).watch(path, { allowWatchBookmarks: true, resourceVersion }, (type, object: KubernetesObject) => {
      const at = performance.now();
      if (type === 'ERROR') return;
      resourceVersion = object.metadata?.resourceVersion ?? resourceVersion;
      if (type === 'ADDED') onAdded(object, at);
    }, () => {
      if (!stopped) void sleep(200).then(start);
    });
  };
  await start();
  return () => {
    stopped = true;
    abort?.abort();
  };
}

function jobNameOfPod(pod: KubernetesObject): string | undefined {
  for (const label of jobNameLabels) {
    const name = pod.metadata?.labels?.[label];
    if (name) return name;
  }
  return undefined;
}

function bareJob(name: string): V1Job {
  return {
    metadata: { name },
    spec: {
      backoffLimit: 0,
      template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox', command: ['sh', '-c', 'true'] }] } },
    },
  };
}

function claudeTask(name: string): KubernetesObject & { spec: object } {
  return {
    apiVersion: `${taskApi.group}/${taskApi.version}`, kind: 'ClaudeTask', metadata: { name },
    spec: { prompt: 'bench [[scenario:answer {"text":"ok"}]]', engine: 'api' },
  };
}

// ---- the operator's side: queue depth and its calls in the audit log ----

async function sampleQueueDepth(metricsUrl: string, until: Promise<unknown>): Promise<number> {
  let done = false;
  void until.finally(() => { done = true; });
  let max = 0;
  while (!done) {
    const metrics = await scrapeMetrics(metricsUrl).catch(() => undefined);
    if (metrics) max = Math.max(max, metricTotal(metrics, 'claude_operator_queue_depth'));
    await sleep(250);
  }
  return max;
}

type AuditCalls = Array<{ call: string; count: number; serverMs: number }>;

interface AuditEvent {
  stage?: string;
  verb?: string;
  user?: { username?: string };
  objectRef?: { resource?: string; subresource?: string; namespace?: string };
  requestReceivedTimestamp?: string;
  stageTimestamp?: string;
}

/** Requests the benchmark itself makes (and, with pods running, the local node) as admin, not the operator. */
function isBenchOrNode(event: AuditEvent): boolean {
  const ref = event.objectRef ?? {};
  if (event.verb === 'watch') return true;
  if (event.verb === 'create' && ref.resource === 'claudetasks' && !ref.subresource) return true;
  if (ref.resource === 'pods' && (ref.subresource === 'binding' || ref.subresource === 'status')) return true;
  if (ref.resource === 'serviceaccounts' && ref.subresource === 'token') return true;
  return event.verb === 'get' && (ref.resource === 'secrets' || ref.resource === 'configmaps');
}

/** The operator's requests in `namespace` from the audit log's bytes after `offset`, by verb and resource, with the server's time. */
function operatorCalls(auditLog: string | undefined, offset: number, namespace: string, username: string): AuditCalls {
  if (!auditLog || !fs.existsSync(auditLog) || fs.statSync(auditLog).size < offset) return [];
  const fd = fs.openSync(auditLog, 'r');
  const length = fs.fstatSync(fd).size - offset;
  const buffer = Buffer.alloc(length);
  fs.readSync(fd, buffer, 0, length, offset);
  fs.closeSync(fd);
  const calls = new Map<string, { count: number; serverMs: number }>();
  for (const line of buffer.toString('utf8').split('\n')) {
    if (!line.includes(namespace)) continue;
    let event: AuditEvent;
    try {
      event = JSON.parse(line) as AuditEvent;
    } catch {
      continue; // the last line, while the apiserver is still writing it
    }
    if (event.stage !== 'ResponseComplete' || event.user?.username !== username || event.objectRef?.namespace !== namespace) continue;
    if (isBenchOrNode(event)) continue;
    const ref = event.objectRef;
    const call = `${event.verb} ${ref.resource}${ref.subresource ? `/${ref.subresource}` : ''}`;
    const entry = calls.get(call) ?? { count: 0, serverMs: 0 };
    entry.count++;
    entry.serverMs += (microseconds(event.stageTimestamp) - microseconds(event.requestReceivedTimestamp)) / 1000;
    calls.set(call, entry);
  }
  return [...calls.entries()].map(([call, v]) => ({ call, ...v })).sort((a, b) => b.serverMs - a.serverMs);
}

/** Audit timestamps (2026-01-02T03:04:05.123456Z) have microseconds, which Date.parse drops. */
function microseconds(timestamp: string | undefined): number {
  const fraction = /\.(\d+)Z$/.exec(timestamp ?? '')?.[1] ?? '';
  return Math.floor(Date.parse(timestamp ?? '') / 1000) * 1e6 + Number(fraction.padEnd(6, '0').slice(0, 6));
}

// ---- one burst ----

async function burst(kubeConfig: KubeConfig, settings: StackSettings, kind: Kind, size: number): Promise<BurstResult> {
  const namespace = `bench-${kind === 'Job' ? 'job' : 'task'}-${size}-${randomBytes(3).toString('hex')}`;
  await createNamespace(kubeConfig, namespace);
  if (kind === 'ClaudeTask') {
    // The key a task's pod reads when it runs (--run-pods); the operator does not wait for it.
    await kubeConfig.makeApiClient(CoreV1Api).createNamespacedSecret({ namespace, body: {
      metadata: { name: 'anthropic-api-key' }, stringData: { 'api-key': 'scripted-api-key' } } });
  }
  const names = Array.from({ length: size }, (_, i) => `${kind === 'Job' ? 'job' : 'task'}-${String(i).padStart(4, '0')}`);
  const createdAt = new Map<string, number>();
  const podAt = new Map<string, number>(); // by Job name
  const jobAt = new Map<string, number>(); // by task name
  const jobOfTask = new Map<string, string>();
  let allSeen: () => void = () => undefined;
  const seen = new Promise<void>((resolve) => { allSeen = resolve; });
  const check = () => {
    const done = kind === 'Job' ? podAt.size >= size : jobOfTask.size >= size && [...jobOfTask.values()].every((job) => podAt.has(job));
    if (done) allSeen();
  };
  const stopPods = await watchAdditions(kubeConfig, `/api/v1/namespaces/${namespace}/pods`, (pod, at) => {
    const job = jobNameOfPod(pod);
    if (job && !podAt.has(job)) podAt.set(job, at);
    check();
  });
  const stopJobs = await watchAdditions(kubeConfig, `/apis/batch/v1/namespaces/${namespace}/jobs`, (job, at) => {
    const task = job.metadata?.ownerReferences?.find((ref) => ref.kind === 'ClaudeTask')?.name;
    if (task && !jobAt.has(task)) {
      jobAt.set(task, at);
      jobOfTask.set(task, job.metadata?.name ?? '');
    }
    check();
  });

  const metricsBefore = kind === 'ClaudeTask' ? await scrapeMetrics(`${settings.OPERATOR_METRICS_URL}/metrics`) : undefined;
  const auditOffset = settings.AUDIT_LOG && fs.existsSync(settings.AUDIT_LOG) ? fs.statSync(settings.AUDIT_LOG).size : 0;
  const batch = kubeConfig.makeApiClient(BatchV1Api);
  const custom = kubeConfig.makeApiClient(CustomObjectsApi);
  const timeout = sleep(burstTimeoutMs).then(() => 'timeout' as const);
  const queueDepth = kind === 'ClaudeTask' ? sampleQueueDepth(`${settings.OPERATOR_METRICS_URL}/metrics`, Promise.race([seen, timeout])) : Promise.resolve(0);

  const started = performance.now();
  await inParallel(names, concurrency, async (name) => {
    createdAt.set(name, performance.now());
    if (kind === 'Job') await batch.createNamespacedJob({ namespace, body: bareJob(name) });
    else await custom.createNamespacedCustomObject({ ...taskApi, namespace, body: claudeTask(name) });
  });
  const createSeconds = (performance.now() - started) / 1000;
  if (await Promise.race([seen, timeout]) === 'timeout') {
    stopPods();
    stopJobs();
    throw new Error(`${kind} burst of ${size}: only ${podAt.size} pods after ${burstTimeoutMs / 1000} s`);
  }
  stopPods();
  stopJobs();

  const podOf = (name: string) => podAt.get(kind === 'Job' ? name : jobOfTask.get(name) ?? '')!;
  const result: BurstResult = {
    kind, size, namespace, createSeconds,
    toPod: spread(names.map((name) => podOf(name) - createdAt.get(name)!)),
    burstSeconds: (Math.max(...names.map(podOf)) - started) / 1000,
  };
  if (kind === 'ClaudeTask') {
    result.toJob = spread(names.map((name) => jobAt.get(name)! - createdAt.get(name)!));
    result.jobToPod = spread(names.map((name) => podOf(name) - jobAt.get(name)!));
    // A moment for the reconciles the pods' appearance queued, so they count with this burst.
    await sleep(2_000);
    const metricsAfter = await scrapeMetrics(`${settings.OPERATOR_METRICS_URL}/metrics`);
    result.operator = {
      windowSeconds: (performance.now() - started) / 1000,
      metrics: histogramDeltas(metricsBefore!, metricsAfter, 'claude_operator_'),
      counters: counterDeltas(metricsBefore!, metricsAfter),
      maxQueueDepth: await queueDepth,
      calls: operatorCalls(settings.AUDIT_LOG, auditOffset, namespace, 'admin'),
    };
  }
  return result;
}

function counterDeltas(before: Metrics, after: Metrics): Array<{ series: string; delta: number }> {
  return [...after.entries()]
    .filter(([series]) => series.startsWith('claude_operator_') && /_total(\{|$)/.test(series))
    .map(([series, value]) => ({ series, delta: value - (before.get(series) ?? 0) }))
    .filter((c) => c.delta > 0);
}

// ---- the report ----

function ratio(a: number, b: number): string {
  return b > 0 ? `${(a / b).toFixed(2)}x` : '-';
}

function printResults(results: BurstResult[]): void {
  printTable('create -> pod exists (ms per object; burst: first create -> last pod, s)',
    ['kind', 'N', 'p50 ms', 'p99 ms', 'max ms', 'burst s', 'creates s', 'task->Job p50/p99 ms', 'Job->pod p50/p99 ms'],
    results.map((r) => [r.kind, r.size, fixed(r.toPod.p50, 0), fixed(r.toPod.p99, 0), fixed(r.toPod.max, 0), fixed(r.burstSeconds, 2),
      fixed(r.createSeconds, 2), r.toJob ? `${fixed(r.toJob.p50, 0)} / ${fixed(r.toJob.p99, 0)}` : '',
      r.jobToPod ? `${fixed(r.jobToPod.p50, 0)} / ${fixed(r.jobToPod.p99, 0)}` : '']));
  const rows = sizes.map((size) => {
    const job = results.find((r) => r.kind === 'Job' && r.size === size)!;
    const task = results.find((r) => r.kind === 'ClaudeTask' && r.size === size)!;
    return [size, ratio(task.toPod.p50, job.toPod.p50), ratio(task.toPod.p99, job.toPod.p99), ratio(task.burstSeconds, job.burstSeconds),
      verdict(task, job)];
  });
  printTable(`ratios ClaudeTask / Job (goal: p50 and p99 <= ${ratioGoal}x, burst <= 1.00x)`, ['N', 'p50', 'p99', 'burst', 'goal'], rows);
  for (const task of results.filter((r) => r.kind === 'ClaudeTask')) {
    const job = results.find((r) => r.kind === 'Job' && r.size === task.size)!;
    if (verdict(task, job) !== 'met') printWhereTheTimeGoes(task);
  }
}

function verdict(task: BurstResult, job: BurstResult): string {
  const met = task.toPod.p50 <= ratioGoal * job.toPod.p50 && task.toPod.p99 <= ratioGoal * job.toPod.p99 && task.burstSeconds <= job.burstSeconds;
  return met ? 'met' : 'missed';
}

function printWhereTheTimeGoes(task: BurstResult): void {
  const work = task.operator;
  if (!work) return;
  console.log(`\nwhere the time goes, ${task.size} ClaudeTasks (operator /metrics over the burst; queue depth at most ${work.maxQueueDepth}):`);
  console.log(`  task -> Job p50 ${fixed(task.toJob?.p50 ?? NaN, 0)} ms (watch delivery + queue wait + reconcile), ` +
    `Job -> pod p50 ${fixed(task.jobToPod?.p50 ?? NaN, 0)} ms (the job controller)`);
  for (const h of work.metrics) {
    console.log(`  ${h.name}: ${h.count} (${fixed(h.count / task.size, 1)} per task), mean ${fixed((h.sumSeconds / h.count) * 1000, 1)} ms, ` +
      `p50 ~${fixed(h.p50 * 1000, 0)} ms, p99 ~${fixed(h.p99 * 1000, 0)} ms, ${fixed(h.sumSeconds, 1)} s in all ` +
      `(${fixed(h.sumSeconds / work.windowSeconds, 2)} on average in flight over the ${fixed(work.windowSeconds, 1)} s measured)`);
  }
  for (const c of work.counters) console.log(`  ${c.series}: +${c.delta}`);
  if (work.calls.length === 0) return;
  const reconcile = work.metrics.find((h) => h.name === 'claude_operator_reconcile_duration_seconds');
  const callMs = work.calls.reduce((sum, c) => sum + c.serverMs, 0);
  console.log(`  apiserver calls by the operator for these tasks (audit log; ms are the apiserver's own time): ` +
    `${work.calls.reduce((s, c) => s + c.count, 0)} calls, ${fixed(callMs / 1000, 1)} s` +
    (reconcile ? ` of ${fixed(reconcile.sumSeconds, 1)} s reconciling; the rest is the client side, Postgres and Redis` : ''));
  for (const c of work.calls) {
    console.log(`    ${c.call.padEnd(34)} ${String(c.count).padStart(6)} (${fixed(c.count / task.size, 1)}/task)  mean ${fixed(c.serverMs / c.count, 1)} ms`);
  }
}

await runBench('cr-to-pod', async (cleanups) => {
  const system = await bringUpStack(args.settings, cleanups);
  const kubeConfig = kubeConfigOf(system.settings);
  let podsRun = args['run-pods'] || system.reused;
  if (!podsRun) {
    try {
      const kubeconfigArg = `--kubeconfig=${system.settings.KUBECONFIG}`;
      const localNode = findProcess('the local node', (argv) => argv[1]?.endsWith('test/bed/local-node/main.ts') === true && argv.includes(kubeconfigArg));
      process.kill(localNode, 'SIGSTOP');
      cleanups.add('resume the local node', async () => { process.kill(localNode, 'SIGCONT'); });
      log(`local node (pid ${localNode}) paused: pods are created and stay Pending`);
    } catch (error) {
      log(`could not pause the local node, pods run: ${String(error)}`);
      podsRun = true;
    }
  }

  const results: BurstResult[] = [];
  for (const size of sizes) {
    const namespaces: string[] = [];
    for (const kind of ['Job', 'ClaudeTask'] as const) {
      log(`${kind} burst of ${size}...`);
      const result = await burst(kubeConfig, system.settings, kind, size);
      namespaces.push(result.namespace);
      results.push(result);
      log(`${kind} x${size}: p50 ${fixed(result.toPod.p50, 0)} ms, p99 ${fixed(result.toPod.p99, 0)} ms, burst ${fixed(result.burstSeconds, 2)} s`);
    }
    log(`deleting ${namespaces.join(', ')}...`);
    await deleteNamespaces(kubeConfig, namespaces);
  }

  console.log('cr-to-pod: create -> pod exists, bare Job against ClaudeTask (engine api), same bed, same run');
  for (const line of machineLines()) console.log(line);
  console.log(`bed: ${system.reused ? `the running up (${args.settings})` : 'a stack of its own'}; pods ${podsRun ? 'ran on the local node' : 'stayed Pending (local node paused)'}; ` +
    `at most ${concurrency} creates in flight`);
  printResults(results);
});
