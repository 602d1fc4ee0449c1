// Fault 1: the leading operator SIGKILLed again and again during a burst of tasks,
// with 2 replicas (leader election). The stack's own operator is stopped first, so
// the 2 replicas started here (its settings, ports of their own) are the only ones.
// Counted: Jobs per task (want 1), terminal transitions per task in Postgres (want
// 1), tasks whose Postgres phase differs from the cluster's (want 0), tasks that
// never ended (lost), and the time from each kill until a replica leads again.
import { CustomObjectsApi } from '@kubernetes/client-node';
import pg from 'pg';
import { waitFor } from '../../bed/process.ts';
import { chartNamespace } from '../../bed/chart-stack.ts';
import { inParallel, kubeConfigOf, log, sleep } from '../../bench/support.ts';
import { isReady, type RealNodeSystem } from '../real-node-system.ts';
import type { Fault, FaultResult, Scale } from '../fault.ts';
import { startReplica, stopStackOperator } from '../replicas.ts';
import { TaskLoad } from '../task-load.ts';

const taskApi = { group: 'claude-operator.io', version: 'v1alpha1', plural: 'claudetasks' };

const tasksFor = (scale: Scale) => (scale === 'full' ? 500 : 12);
const killsFor = (scale: Scale) => (scale === 'full' ? 10 : 2);

/** The burst: `count` tasks, 10 created at a time, while the leader is being killed. */
function createBurst(custom: CustomObjectsApi, namespace: string, count: number): Promise<void> {
  const names = Array.from({ length: count }, (_unused, index) => `burst-${String(index).padStart(3, '0')}`);
  return inParallel(names, 10, async (name) => {
    await custom.createNamespacedCustomObject({ ...taskApi, namespace, body: {
      apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudeTask', metadata: { name },
      spec: { prompt: 'chaos [[scenario:answer {"text":"ok"}]]', engine: 'api' },
    } });
  });
}

/** Once every task ended: Jobs and terminal transitions per task, and Postgres against the cluster. */
async function burstResult(load: TaskLoad, pool: pg.Pool, scale: Scale, taskCount: number, kills: number, recoveries: number[]): Promise<FaultResult> {
  await load.waitEnded(scale === 'full' ? 1_800_000 : 300_000);
  // The history is copied after the phase: give the copier a moment to catch up before comparing.
  await sleep(5_000);
  const { tasks, unended, doubled, withoutJob: noJob, disagreeing, succeeded, notSucceeded } = await load.outcome(pool);
  return {
    load: `${taskCount} tasks, ${kills} kills of the leader`,
    lost: unended + (tasks.length < taskCount ? taskCount - tasks.length : 0), duplicated: doubled, disagreeing,
    recoverySeconds: recoveries.length ? Math.max(...recoveries) : null,
    detail: `${succeeded}/${taskCount} Succeeded; tasks without a Job ${noJob}; a leader again after ${recoveries.map((seconds) => seconds.toFixed(1)).join(', ')} s (the lease is 15 s)`
      + (notSucceeded.length ? `; not Succeeded: ${notSucceeded.join('; ')}` : ''),
    passed: succeeded === taskCount && noJob === 0 && recoveries.length === kills,
  };
}

export const operatorSigkillFault: Fault = {
  number: 1,
  name: 'Operator SIGKILL during a burst, 2 replicas',
  async run(system, scale: Scale, cleanups): Promise<FaultResult> {
    const { settings } = system;
    const taskCount = tasksFor(scale);
    const kills = killsFor(scale);
    const kubeConfig = kubeConfigOf(settings);
    const custom = kubeConfig.makeApiClient(CustomObjectsApi);
    const load = await TaskLoad.create(kubeConfig, 'chaos-operator');
    const namespace = load.namespace;

    stopStackOperator(settings);
    const replicas = [await startReplica('operator', system.environments.operator, settings), await startReplica('operator', system.environments.operator, settings)];
    const stopReplicas = async () => { await Promise.all(replicas.map((replica) => replica.stop())); };
    cleanups.add('the operator replicas', stopReplicas);
    const pool = new pg.Pool({ connectionString: settings.DATABASE_URL, max: 2 });
    try {
      await waitFor('a replica leading', async () => (await Promise.all(replicas.map((replica) => replica.leads()))).includes(true), { timeoutMs: 120_000 });
      const creating = createBurst(custom, namespace, taskCount);
      const recoveries: number[] = [];
      const killing = (async () => {
        for (let kill = 0; kill < kills; kill++) {
          await sleep(2_000 + Math.random() * 6_000);
          const leader = (await Promise.all(replicas.map(async (replica) => ((await replica.leads()) ? replica : undefined)))).find(Boolean);
          if (!leader) { kill -= 1; continue; }
          log(`fault 1: SIGKILL the leading operator (pid ${leader.process.pid}), kill ${kill + 1} of ${kills}`);
          const killedAt = performance.now();
          await leader.kill();
          leader.start();
          await waitFor('a replica leading again', async () => (await Promise.all(replicas.map((replica) => replica.leads()))).includes(true), { timeoutMs: 120_000, intervalMs: 250 });
          recoveries.push((performance.now() - killedAt) / 1000);
        }
      })();
      await creating;
      await killing;
      return await burstResult(load, pool, scale, taskCount, kills, recoveries);
    } finally {
      // While a replica runs: the tasks' finalizers need an operator.
      await load.delete();
      await stopReplicas();
      await pool.end();
    }
  },

  // The chart's 2 operator replicas: the container of the one holding the Lease is SIGKILLed (kubelet
  // restarts it); a leader again is the Lease renewed after the kill, by either replica.
  async runOnRealNode(system: RealNodeSystem, scale: Scale): Promise<FaultResult> {
    const taskCount = tasksFor(scale);
    const kills = killsFor(scale);
    const kubeConfig = kubeConfigOf(system.settings);
    const load = await TaskLoad.create(kubeConfig, 'chaos-operator');
    const pool = new pg.Pool({ connectionString: system.settings.DATABASE_URL, max: 2 });
    try {
      await waitFor('an operator replica leading', () => system.leaseRenewedSince(Date.now() - 10_000), { timeoutMs: 120_000 });
      const creating = createBurst(kubeConfig.makeApiClient(CustomObjectsApi), load.namespace, taskCount);
      const recoveries: number[] = [];
      const killing = (async () => {
        for (let kill = 0; kill < kills;) {
          await sleep(2_000 + Math.random() * 6_000);
          const holder = (await system.leader())?.holder;
          const pod = (await system.pods('operator')).find((candidate) => candidate.metadata.name === holder);
          if (!pod || !isReady(pod)) continue;
          kill += 1;
          log(`fault 1: SIGKILL the leading operator's container (pod ${chartNamespace}/${pod.metadata.name}), kill ${kill} of ${kills}`);
          const killedAt = Date.now();
          await system.kill(pod);
          await waitFor('a replica leading again', () => system.leaseRenewedSince(killedAt), { timeoutMs: 120_000, intervalMs: 250 });
          recoveries.push((Date.now() - killedAt) / 1000);
          // kubelet restarts it after a crash backoff that doubles with each kill of the same pod.
          await system.waitRestarted('operator', pod, 600_000);
        }
      })();
      await creating;
      await killing;
      return await burstResult(load, pool, scale, taskCount, kills, recoveries);
    } finally {
      await load.delete();
      await pool.end();
    }
  },
};
