// What the benchmarks share (they print figures; they are not tests): the system
// they measure (a stack of their own, or a running `up` through its settings
// file), stopping on Ctrl-C, figures from /proc and from a Prometheus endpoint,
// percentiles and aligned tables. Imports stay few (the bed, client-node), so
// the benchmarks do not care where the code they measure lives.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { waitFor } from '../bed/process.ts';
import { startStack, type Stack } from '../bed/stack.ts';

export type StackSettings = Stack['settings'];

let benchName = 'bench';

const recentLines: string[] = [];

/** Progress goes to stderr; stdout carries only the figures. */
export function log(message: string): void {
  const line = `[${benchName}] ${message}`;
  recentLines.push(`${new Date().toISOString()} ${line}`);
  if (recentLines.length > 50) recentLines.shift();
  console.error(line);
}

/** The last progress lines, timestamped: what a run that overran its time was doing. */
export function recentLog(count = 20): string[] {
  return recentLines.slice(-count);
}

export function errorText(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

/** What a run started, stopped in reverse order, once, also on Ctrl-C. */
export class Cleanups {
  private readonly steps: Array<{ what: string; run: () => Promise<void> }> = [];
  private running: Promise<void> | undefined;

  add(what: string, run: () => Promise<void>): void {
    this.steps.push({ what, run });
  }

  runAll(): Promise<void> {
    this.running ??= (async () => {
      for (const step of this.steps.reverse()) {
        try {
          await step.run();
        } catch (error) {
          log(`cleanup: ${step.what} failed: ${errorText(error)}`);
        }
      }
    })();
    return this.running;
  }
}

/** Runs a benchmark's body; whatever it started is stopped at the end, on an error
 * and on SIGINT/SIGTERM. Exits 0 when the body finished, 1 when it threw. */
export async function runBench(name: string, body: (cleanups: Cleanups) => Promise<void>): Promise<never> {
  benchName = name;
  const cleanups = new Cleanups();
  const onSignal = (signal: NodeJS.Signals) => {
    log(`${signal}: stopping what this run started (again to force)...`);
    void cleanups.runAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let code = 0;
  try {
    await body(cleanups);
  } catch (error) {
    log(`failed: ${errorText(error)}`);
    code = 1;
  }
  await cleanups.runAll();
  // Clients of stopped servers may still hold timers; the figures are out.
  process.exit(code);
}

/** The settings `bash test/up.sh --local-node` wrote (KEY=value lines): the benchmarks measure the operator's own process. */
export function readSettingsFile(file: string): StackSettings {
  const settings: Record<string, string> = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const at = line.indexOf('=');
    if (at > 0) settings[line.slice(0, at)] = line.slice(at + 1);
  }
  for (const key of ['KUBECONFIG', 'DATABASE_URL', 'REDIS_URL', 'OPERATOR_METRICS_URL', 'API_URL', 'API_TOKEN', 'API_JWT_SECRET', 'API_JWT_ISSUER', 'API_JWT_AUDIENCE']) {
    if (!settings[key]) throw new Error(`${file} has no ${key}: give the settings file \`bash test/up.sh --local-node\` wrote`);
  }
  return settings as StackSettings;
}

export interface System {
  settings: StackSettings;
  /** A running `up` (true) or a stack this run started (false). */
  reused: boolean;
  /** Only for a stack this run started: a running `up`'s control plane is not this process's to restart. */
  restartApiserver?: (downMs: number) => Promise<void>;
}

/** The running `up` behind settingsFile, or else a stack of our own, stopped by the cleanups. */
export async function bringUpStack(settingsFile: string | undefined, cleanups: Cleanups): Promise<System> {
  if (settingsFile) {
    log(`using the running stack of ${settingsFile}`);
    return { settings: readSettingsFile(settingsFile), reused: true };
  }
  log('starting a stack (control plane, local node, Postgres, Redis, operator, API)...');
  const stack = await startStack();
  cleanups.add('the stack', () => stack.stop());
  return { settings: stack.settings, reused: false, restartApiserver: (downMs) => stack.restartApiserver(downMs) };
}

export function kubeConfigOf(settings: { KUBECONFIG: string }): KubeConfig {
  const config = new KubeConfig();
  config.loadFromFile(settings.KUBECONFIG);
  return config;
}

/** Creates a namespace and waits for its default ServiceAccount, without which no pod may be created. */
export async function createNamespace(kubeConfig: KubeConfig, name: string): Promise<void> {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name, labels: { 'claude-operator.io/bench': 'true' } } } });
  await waitFor(`ServiceAccount default in ${name}`, async () => {
    await core.readNamespacedServiceAccount({ name: 'default', namespace: name });
    return true;
  }, { timeoutMs: 60_000, intervalMs: 100 });
}

/** Deletes namespaces and waits until they are gone (finalizers included). */
export async function deleteNamespaces(kubeConfig: KubeConfig, names: string[], timeoutMs = 900_000): Promise<void> {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  await Promise.all(names.map((name) => core.deleteNamespace({ name }).catch(() => undefined)));
  await waitFor(`namespaces ${names.join(', ')} gone`, async () => {
    const left = await Promise.all(names.map((name) => core.readNamespace({ name }).then(() => true, () => false)));
    return !left.includes(true);
  }, { timeoutMs, intervalMs: 1_000 });
}

/** Runs work over items with at most `limit` in flight. */
export async function inParallel<T>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      await work(items[index]!, index);
    }
  }));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---- the machine ----

const loadAtStart = os.loadavg();

/** nproc, memory, load and date, printed with every table: figures mean little without them. */
export function machineLines(): string[] {
  const load = (values: number[]) => values.map((v) => v.toFixed(2)).join(' ');
  return [
    `machine: ${os.availableParallelism()} CPUs (nproc), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB memory, ${os.cpus()[0]?.model ?? 'unknown CPU'}`,
    `load average (1/5/15 min): ${load(loadAtStart)} at the start, ${load(os.loadavg())} at the end (shared with other work)`,
    `date: ${new Date().toISOString()}; node ${process.version}; ${os.type()} ${os.release()}`,
  ];
}

// ---- processes, from /proc ----

const clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

export interface ProcessSample {
  /** VmRSS, in MB (10^6 bytes, as the goals are written). */
  rssMB: number;
  /** VmHWM: the largest RSS so far, MB. */
  peakRssMB: number;
  /** utime + stime */
  cpuSeconds: number;
  /** Date.now() */
  at: number;
}

export function sampleProcess(pid: number): ProcessSample {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const megabytes = (field: string) => (Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024) / 1e6;
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // After the command name (in parentheses, which may hold spaces) come fields 3, 4, ... of proc(5); utime and stime are 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return {
    rssMB: megabytes('VmRSS'),
    peakRssMB: megabytes('VmHWM'),
    cpuSeconds: (Number(fields[11]) + Number(fields[12])) / clockTicks,
    at: Date.now(),
  };
}

/** The one process whose argv and environment match; by its own settings (a port, a
 * kubeconfig), so another developer's process of the same program never matches. */
export function findProcess(what: string, matches: (argv: string[], env: string[]) => boolean): number {
  const found: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      const env = fs.readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (matches(argv, env)) found.push(Number(entry));
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  if (found.length !== 1) throw new Error(`expected one process for ${what}, found ${found.length} (${found.join(', ')})`);
  return found[0]!;
}

/** The pid of `node <script>` started with `<envEntry>` (e.g. METRICS_PORT=1234) in its environment. */
export function findNodeScript(script: string, envEntry: string): number {
  return findProcess(`${script} with ${envEntry}`, (argv, env) => argv[1]?.endsWith(script) === true && env.includes(envEntry));
}

// ---- Prometheus text ----

/** Series → value, e.g. `claude_operator_reconcile_total{outcome="success"}` → 12. */
export type Metrics = Map<string, number>;

export async function scrapeMetrics(url: string): Promise<Metrics> {
  // A process that hangs must not hang its scraper (the chaos faults scrape while they break things).
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!response.ok) throw new Error(`GET ${url}: ${response.status}`);
  const metrics: Metrics = new Map();
  for (const line of (await response.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    metrics.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return metrics;
}

/** The sum of every series of a metric (all label sets). */
export function metricTotal(metrics: Metrics, name: string): number {
  let total = 0;
  for (const [series, value] of metrics) {
    if (series === name || series.startsWith(`${name}{`)) total += value;
  }
  return total;
}

export interface HistogramDelta {
  name: string;
  count: number;
  sumSeconds: number;
  /** Estimated from the buckets, as Prometheus' histogram_quantile does. */
  p50: number;
  p99: number;
}

/** Every histogram whose name starts with `prefix`, as observed between two scrapes (labels summed). */
export function histogramDeltas(before: Metrics, after: Metrics, prefix: string): HistogramDelta[] {
  const names = [...after.keys()].filter((s) => s.startsWith(prefix) && /_count(\{|$)/.test(s)).map((s) => s.replace(/_count(\{.*)?$/, ''));
  return [...new Set(names)].map((name) => {
    const buckets = new Map<number, number>();
    for (const [series, value] of after) {
      const le = new RegExp(`^${name}_bucket\\{.*le="([^"]+)"`).exec(series)?.[1];
      if (le !== undefined) buckets.set(Number(le), (buckets.get(Number(le)) ?? 0) + value - (before.get(series) ?? 0));
    }
    const sorted = [...buckets.entries()].sort((a, b) => a[0] - b[0]);
    const count = metricTotal(after, `${name}_count`) - metricTotal(before, `${name}_count`);
    return {
      name, count, sumSeconds: metricTotal(after, `${name}_sum`) - metricTotal(before, `${name}_sum`),
      p50: bucketQuantile(sorted, 0.5), p99: bucketQuantile(sorted, 0.99),
    };
  }).filter((h) => h.count > 0);
}

function bucketQuantile(buckets: Array<[number, number]>, q: number): number {
  const total = buckets.at(-1)?.[1] ?? 0;
  if (total <= 0) return NaN;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (le === Infinity) return lowerBound;
      return lowerBound + (le - lowerBound) * ((rank - lowerCount) / Math.max(1e-9, count - lowerCount));
    }
    lowerBound = le;
    lowerCount = count;
  }
  return lowerBound;
}

// ---- figures ----

export interface Spread {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentiles. */
export function spread(values: ArrayLike<number>): Spread {
  const sorted = Float64Array.from(values).sort();
  const at = (q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]! : NaN);
  return { count: sorted.length, p50: at(0.5), p99: at(0.99), max: at(1) };
}

export function fixed(value: number, digits = 1): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '-';
}

/** A table with a title; every column but the first is right-aligned. */
export function printTable(title: string, header: string[], rows: Array<Array<string | number>>): void {
  const cells = [header, ...rows.map((row) => row.map(String))];
  const widths = header.map((_, column) => Math.max(...cells.map((row) => (row[column] ?? '').length)));
  console.log(`\n${title}`);
  for (const row of cells) {
    console.log(row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  '));
  }
}
