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
import { BatchV1Api } from '@kubernetes/client-node';
import pg from 'pg';
import { taskUidLabel } from '../../../operator/src/names.ts';
import { waitFor } from '../../bed/process.ts';
import { inParallel, kubeConfigOf, log, scrapeMetrics, sleep, type Metrics } from '../../bench/support.ts';
import type { Fault, FaultResult, Scale } from '../fault.ts';
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
      const names = Array.from({ length: taskCount }, (_unused, index) => `burst-${String(index).padStart(3, '0')}`);
      const prompt = 'chaos [[scenario:bash {"command":"sleep 3; echo slept"}]]';
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

      // A third of the burst goes in, then the apiserver goes while the rest is being sent and the first run.
      const third = Math.ceil(taskCount / 3);
      await inParallel(names.slice(0, third), 5, (name) => load.createRetrying(name, prompt));
      const creating = inParallel(names.slice(third), 5, async (name) => {
        await load.createRetrying(name, prompt);
        await sleep(200);
      });
      log(`fault 5: stopping kube-apiserver for ${downMs / 1000} s with ${third} of ${taskCount} tasks in`);
      const stopped = performance.now();
      await restartApiserver(downMs);
      const back = performance.now();
      const awaySeconds = (back - stopped) / 1000;
      log(`fault 5: kube-apiserver is back after ${awaySeconds.toFixed(1)} s`);
      // The operator acting again: a task created now gets its Job.
      await load.createRetrying('after-restart', prompt);
      const batch = kubeConfig.makeApiClient(BatchV1Api);
      const probe = (await load.tasks()).find((task) => task.metadata.name === 'after-restart')!;
      await waitFor('the task created after the restart to get its Job', async () =>
        (await batch.listNamespacedJob({ namespace: load.namespace, labelSelector: `${taskUidLabel}=${probe.metadata.uid}` })).items.length > 0,
      { timeoutMs: 120_000, intervalMs: 100 })
        .catch((error: Error) => { throw new Error(`${error.message}\n--- the operator's log ---\n${operator.process.logTail(60)}`); });
      const recoverySeconds = (performance.now() - back) / 1000;
      await creating;

      await load.waitEnded(scale === 'full' ? 1_800_000 : 300_000);
      // The history is copied after the phase: give the copier a moment to catch up before comparing.
      await sleep(5_000);
      await stopWatching();
      const relists = relistsSince(before, [...lastScrapes.values()]);
      const relistCount = [...relists.values()].reduce((sum, count) => sum + count, 0);
      const { tasks, unended, doubled, withoutJob, disagreeing, succeeded, notSucceeded } = await load.outcome(pool);
      const expected = taskCount + 1;
      const why = succeeded === expected ? ''
        : `; not Succeeded: ${notSucceeded.join('; ')}\n--- the operator's log ---\n${operator.process.logTail(40)}`;
      return {
        load: `${expected} tasks, apiserver away ${awaySeconds.toFixed(0)} s`,
        lost: unended + Math.max(0, expected - tasks.length), duplicated: doubled, disagreeing, recoverySeconds,
        detail: `${succeeded}/${expected} Succeeded; tasks without a Job ${withoutJob}; kube-apiserver away ${awaySeconds.toFixed(1)} s `
          + `(${downMs / 1000} s stopped, then its start); operator restarts ${restarts} (the lease is 15 s), `
          + `${lastScrapes.size} operator processes each listing once at its start; `
          + `relists during the fault ${relistCount} (${[...relists].map(([reason, count]) => `${reason} ${count}`).join(', ') || 'none'}; at most ${informerCount}, one per informer); `
          + `a new task's Job ${recoverySeconds.toFixed(1)} s after the apiserver was back${why}`,
        passed: succeeded === expected && withoutJob === 0 && relistCount <= informerCount,
      };
    } finally {
      watching = false;
      // While the operator runs: the tasks' finalizers need it.
      await load.delete();
      await operator.stop();
      await pool.end();
    }
  },
};
