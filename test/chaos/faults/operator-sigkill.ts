// Fault 1: the leading operator SIGKILLed again and again during a burst of tasks,
// with 2 replicas (leader election). The stack's own operator is stopped first, so
// the 2 replicas started here (its settings, ports of their own) are the only ones.
// Counted: Jobs per task (want 1), terminal transitions per task in Postgres (want
// 1), tasks whose Postgres phase differs from the cluster's (want 0), tasks that
// never ended (lost), and the time from each kill until a replica leads again.
import { CustomObjectsApi } from '@kubernetes/client-node';
import pg from 'pg';
import { waitFor } from '../../bed/process.ts';
import { inParallel, kubeConfigOf, log, sleep } from '../../bench/support.ts';
import type { Fault, FaultResult, Scale } from '../fault.ts';
import { startReplica, stopStackOperator } from '../replicas.ts';
import { TaskLoad } from '../task-load.ts';

const taskApi = { group: 'claude-operator.io', version: 'v1alpha1', plural: 'claudetasks' };

export const operatorSigkillFault: Fault = {
  number: 1,
  name: 'Operator SIGKILL during a burst, 2 replicas',
  async run(system, scale: Scale, cleanups): Promise<FaultResult> {
    const { settings } = system;
    const taskCount = scale === 'full' ? 500 : 12;
    const kills = scale === 'full' ? 10 : 2;
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
      const names = Array.from({ length: taskCount }, (_unused, index) => `burst-${String(index).padStart(3, '0')}`);
      const creating = inParallel(names, 10, async (name) => {
        await custom.createNamespacedCustomObject({ ...taskApi, namespace, body: {
          apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudeTask', metadata: { name },
          spec: { prompt: 'chaos [[scenario:answer {"text":"ok"}]]', engine: 'api' },
        } });
      });
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
      await load.waitEnded(scale === 'full' ? 1_800_000 : 300_000);
      // The history is copied after the phase: give the copier a moment to catch up before comparing.
      await sleep(5_000);
      const { tasks, unended, doubled, withoutJob: noJob, disagreeing, succeeded, notSucceeded } = await load.outcome(pool);
      return {
        load: `${taskCount} tasks, ${kills} kills of the leader`,
        lost: unended + (tasks.length < taskCount ? taskCount - tasks.length : 0), duplicated: doubled, disagreeing,
        recoverySeconds: recoveries.length ? Math.max(...recoveries) : null,
        detail: `${succeeded}/${taskCount} Succeeded; tasks without a Job ${noJob}; a new leader after ${recoveries.map((seconds) => seconds.toFixed(1)).join(', ')} s (the lease is 15 s)`
          + (notSucceeded.length ? `; not Succeeded: ${notSucceeded.join('; ')}` : ''),
        passed: succeeded === taskCount && noJob === 0,
      };
    } finally {
      // While a replica runs: the tasks' finalizers need an operator.
      await load.delete();
      await stopReplicas();
      await pool.end();
    }
  },
};
