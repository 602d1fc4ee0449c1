// Fault 5: kube-apiserver stopped and started again (etcd kept) in the middle of a
// burst of tasks, as a control-plane upgrade or a crash does. The operator must
// resume its informers' watches from the resourceVersions it had, not relist
// everything (a relist storm against a server just back), and no task may stick.
// Counted: tasks that never ended (lost), Jobs or terminal transitions twice
// (duplicated), Postgres against the cluster (disagreeing), the operator's relists
// during the fault, and the time from the apiserver's return until a task created
// then has its Job (the operator acting again).
//
// An apiserver away for longer than the leader lease (15 s) costs the operator its
// lease, and it exits for its Deployment to start it again, as client-go's
// controllers do (kube-controller-manager too). The fault does what the
// Deployment would: starts it again when it exits, and counts the restarts. Each
// informer of each operator process lists once when it starts; beyond that, a
// relist storm would show as more than one relist per informer.
import { BatchV1Api, type KubeConfig } from '@kubernetes/client-node';
import pg from 'pg';
import { taskUidLabel } from '../../../operator/src/names.ts';
import { waitFor } from '../../bed/process.ts';
import { inParallel, kubeConfigOf, log, scrapeMetrics, sleep, type Metrics } from '../../bench/support.ts';
import type { Fault, FaultResult, Scale } from '../fault.ts';
import type { RealNodeSystem } from '../real-node-system.ts';
import { startReplica, stopStackOperator } from '../replicas.ts';
import { TaskLoad } from '../task-load.ts';

/** The operator's informers: each has made its first list ("initial") once. */
export function informersOf(metrics: Metrics): number {
  return [...metrics.keys()].filter((series) => series.startsWith('claude_operator_relists_total{') && series.includes('reason="initial"')).length;
}

/** Relists by reason over the operator processes' last scrapes (each process counts from 0), less `before`
 * (the first process's counts when the fault began), leaving out the first list each informer makes. */
export function relistsSince(before: Metrics, lastOfEachProcess: readonly Metrics[]): Map<string, number> {
  const byReason = new Map<string, number>();
  lastOfEachProcess.forEach((metrics, index) => {
    for (const [series, value] of metrics) {
      const reason = /^claude_operator_relists_total\{.*reason="([^"]+)"/.exec(series)?.[1];
      if (!reason || reason === 'initial') continue;
      const delta = value - (index === 0 ? before.get(series) ?? 0 : 0);
      if (delta > 0) byReason.set(reason, (byReason.get(reason) ?? 0) + delta);
    }
  });
  return byReason;
}

/** relistsSince over processes named by key (on the real node, pod@start time): each counts from its
 * own first scrape in `before`, or from 0 when it started during the fault. */
export function relistsOfProcesses(before: ReadonlyMap<string, Metrics>, last: ReadonlyMap<string, Metrics>): Map<string, number> {
  const byReason = new Map<string, number>();
  for (const [process, metrics] of last) {
    for (const [reason, count] of relistsSince(before.get(process) ?? new Map(), [metrics])) byReason.set(reason, (byReason.get(reason) ?? 0) + count);
  }
  return byReason;
}

/** A third of the burst goes in, then the apiserver goes while the rest is being sent and the first run;
 * when it is back, a task created then must get its Job (the operator acting again). */
async function burstAcrossRestart(load: TaskLoad, kubeConfig: KubeConfig, taskCount: number, downMs: number,
  restartApiserver: (downMs: number) => Promise<void>, logs: () => Promise<string>): Promise<{ awaySeconds: number; recoverySeconds: number }> {
  const names = Array.from({ length: taskCount }, (_unused, index) => `burst-${String(index).padStart(3, '0')}`);
  const third = Math.ceil(taskCount / 3);
  await inParallel(names.slice(0, third), 5, (name) => load.createRetrying(name, burstPrompt));
  const creating = inParallel(names.slice(third), 5, async (name) => {
    await load.createRetrying(name, burstPrompt);
    await sleep(200);
  });
  log(`fault 5: stopping kube-apiserver for ${downMs / 1000} s with ${third} of ${taskCount} tasks in`);
  const stopped = performance.now();
  await restartApiserver(downMs);
  const back = performance.now();
  const awaySeconds = (back - stopped) / 1000;
  log(`fault 5: kube-apiserver is back after ${awaySeconds.toFixed(1)} s`);
  await load.createRetrying('after-restart', burstPrompt);
  const batch = kubeConfig.makeApiClient(BatchV1Api);
  const probe = (await load.tasks()).find((task) => task.metadata.name === 'after-restart')!;
  await waitFor('the task created after the restart to get its Job', async () =>
    (await batch.listNamespacedJob({ namespace: load.namespace, labelSelector: `${taskUidLabel}=${probe.metadata.uid}` })).items.length > 0,
  { timeoutMs: 120_000, intervalMs: 100 })
    .catch(async (error: Error) => { throw new Error(`${error.message}\n${await logs()}`); });
  const recoverySeconds = (performance.now() - back) / 1000;
  await creating;
  return { awaySeconds, recoverySeconds };
}

const burstPrompt = 'chaos [[scenario:bash {"command":"sleep 3; echo slept"}]]';

interface BurstFigures {
  taskCount: number;
  downMs: number;
  awaySeconds: number;
  recoverySeconds: number;
  relists: Map<string, number>;
  informerCount: number;
  /** What became of the operator processes, in words. */
  operators: string;
  logs(): Promise<string>;
}

/** Once the burst ended: every task once, Postgres against the cluster, and the relists against the informers. */
async function burstRow(load: TaskLoad, pool: pg.Pool, figures: BurstFigures): Promise<FaultResult> {
  const { taskCount, downMs, awaySeconds, recoverySeconds, relists, informerCount } = figures;
  const relistCount = [...relists.values()].reduce((sum, count) => sum + count, 0);
  const { tasks, unended, doubled, withoutJob, disagreeing, succeeded, notSucceeded } = await load.outcome(pool);
  const expected = taskCount + 1;
  const why = succeeded === expected ? '' : `; not Succeeded: ${notSucceeded.join('; ')}\n${await figures.logs()}`;
  return {
    load: `${expected} tasks, apiserver away ${awaySeconds.toFixed(0)} s`,
    lost: unended + Math.max(0, expected - tasks.length), duplicated: doubled, disagreeing, recoverySeconds,
    detail: `${succeeded}/${expected} Succeeded; tasks without a Job ${withoutJob}; kube-apiserver away ${awaySeconds.toFixed(1)} s `
      + `(${downMs / 1000} s stopped, then its start); ${figures.operators}; `
      + `relists during the fault ${relistCount} (${[...relists].map(([reason, count]) => `${reason} ${count}`).join(', ') || 'none'}; at most ${informerCount}, one per informer); `
      + `a new task's Job ${recoverySeconds.toFixed(1)} s after the apiserver was back${why}`,
    passed: succeeded === expected && withoutJob === 0 && relistCount <= informerCount,
  };
}

export const apiserverRestartFault: Fault = {
  number: 5,
  name: 'kube-apiserver restart mid-burst, etcd kept',
  async run(system, scale: Scale, cleanups): Promise<FaultResult> {
    const { settings, restartApiserver } = system;
    if (!restartApiserver) throw new Error('fault 5 restarts the control plane: it needs a stack of its own (run without --settings)');
    const taskCount = scale === 'full' ? 200 : 12;
    const downMs = scale === 'full' ? 10_000 : 5_000;
    const kubeConfig = kubeConfigOf(settings);
    const load = await TaskLoad.create(kubeConfig, 'chaos-apiserver');

    // An operator of the fault's own, so its metrics are this fault's alone.
    stopStackOperator(settings);
    const operator = await startReplica('operator', system.environments.operator, settings);
    cleanups.add('the fault\'s operator', () => operator.stop());
    const pool = new pg.Pool({ connectionString: settings.DATABASE_URL, max: 2 });
    let watching = true;
    try {
      await operator.waitReady();
      await waitFor('the fault\'s operator leading', () => operator.leads(), { timeoutMs: 120_000 });
      const before = await scrapeMetrics(`${operator.url}/metrics`);
      // Each may relist once after the outage (its resourceVersion older than the new watch cache), no more.
      const informerCount = informersOf(before);
      // The last scrape of each operator process, and the Deployment's part: start it again when it exits.
      const lastScrapes = new Map<number, Metrics>([[operator.process.pid, before]]);
      let restarts = 0;
      const scraping = (async () => {
        while (watching) {
          const pid = operator.process.pid;
          const metrics = await scrapeMetrics(`${operator.url}/metrics`).catch(() => undefined);
          if (metrics) lastScrapes.set(pid, metrics);
          await sleep(1_000);
        }
      })();
      const supervising = (async () => {
        while (watching) {
          const exited = operator.process.exited;
          if (await Promise.race([exited.then(() => true), sleep(1_000).then(() => false)]) && watching) {
            restarts++;
            log(`fault 5: the operator exited (${JSON.stringify(await exited)}); starting it again, as its Deployment would`);
            operator.start();
          }
        }
      })();
      const stopWatching = async () => { watching = false; await Promise.all([scraping, supervising]); };

      const { awaySeconds, recoverySeconds } = await burstAcrossRestart(load, kubeConfig, taskCount, downMs, restartApiserver,
        async () => `--- the operator's log ---\n${operator.process.logTail(60)}`);

      await load.waitEnded(scale === 'full' ? 1_800_000 : 300_000);
      // The history is copied after the phase: give the copier a moment to catch up before comparing.
      await sleep(5_000);
      await stopWatching();
      const relists = relistsSince(before, [...lastScrapes.values()]);
      return await burstRow(load, pool, { taskCount, downMs, awaySeconds, recoverySeconds, relists, informerCount,
        operators: `operator restarts ${restarts} (the lease is 15 s), ${lastScrapes.size} operator processes each listing once at its start`,
        logs: async () => `--- the operator's log ---\n${operator.process.logTail(40)}` });
    } finally {
      watching = false;
      // While the operator runs: the tasks' finalizers need it.
      await load.delete();
      await operator.stop();
      await pool.end();
    }
  },

  // The real node's control plane has its kube-apiserver stopped and started again under the chart's
  // operators (2 replicas, in pods, restarted by kubelet if one exits). Every operator pod is scraped
  // at its IP; a process is a pod and its process_start_time_seconds.
  async runOnRealNode(system: RealNodeSystem, scale: Scale): Promise<FaultResult> {
    const taskCount = scale === 'full' ? 200 : 12;
    const downMs = scale === 'full' ? 10_000 : 5_000;
    const kubeConfig = kubeConfigOf(system.settings);
    const load = await TaskLoad.create(kubeConfig, 'chaos-apiserver');
    const pool = new pg.Pool({ connectionString: system.settings.DATABASE_URL, max: 2 });
    let operatorPods = await system.pods('operator');
    const scrapeAll = async (): Promise<Map<string, Metrics>> => {
      // While the apiserver is away the pods' IPs are the last ones seen: kubelet keeps the pods.
      operatorPods = await system.pods('operator').catch(() => operatorPods);
      const scraped = new Map<string, Metrics>();
      for (const pod of operatorPods) {
        const metrics = pod.status?.podIP ? await scrapeMetrics(`http://${pod.status.podIP}:9090/metrics`).catch(() => undefined) : undefined;
        if (metrics) scraped.set(`${pod.metadata.name}@${metrics.get('process_start_time_seconds')}`, metrics);
      }
      return scraped;
    };
    let watching = true;
    try {
      await waitFor('an operator replica leading', () => system.leaseRenewedSince(Date.now() - 10_000), { timeoutMs: 120_000 });
      const before = await scrapeAll();
      // The leader's informers (the standby starts none until it leads): each may relist once after the outage.
      const informerCount = Math.max(0, ...[...before.values()].map(informersOf));
      const lastScrapes = new Map(before);
      const operatorsBefore = await system.crashSignature('operator');
      const scraping = (async () => {
        while (watching) {
          for (const [process, metrics] of await scrapeAll()) lastScrapes.set(process, metrics);
          await sleep(1_000);
        }
      })();
      const { awaySeconds, recoverySeconds } = await burstAcrossRestart(load, kubeConfig, taskCount, downMs,
        (ms) => system.stack.bed.controlPlane.restartApiserver(ms), async () => `--- the operators' logs ---\n${await system.logs('operator', 60)}`);
      await load.waitEnded(scale === 'full' ? 1_800_000 : 300_000);
      await sleep(5_000);
      watching = false;
      await scraping;
      const relists = relistsOfProcesses(before, lastScrapes);
      const operatorsAfter = await system.crashSignature('operator');
      return await burstRow(load, pool, { taskCount, downMs, awaySeconds, recoverySeconds, relists, informerCount,
        operators: `operator pods ${operatorsBefore === operatorsAfter ? 'unchanged' : `${operatorsBefore} -> ${operatorsAfter}`}, ${lastScrapes.size} operator processes seen`,
        logs: async () => `--- the operators' logs ---\n${await system.logs('operator')}` });
    } finally {
      watching = false;
      await load.delete();
      await pool.end();
    }
  },
};
