// Fault 7: the runners' path to Redis cut for a while (a proxy between the pods
// and Redis, cut as a partition is: open connections reset, new ones refused).
// Want: each runner buffers, then flushes in order; each task Succeeds with every
// event, seq 1..n in Postgres without a gap, and its whole answer.
import pg from 'pg';
import { kubeConfigOf, log, sleep } from '../../bench/support.ts';
import { startTcpProxy, viaProxy } from '../../support/tcp-proxy.ts';
import type { Fault, FaultResult, Scale } from '../fault.ts';
import type { PodView, RealNodeSystem } from '../real-node-system.ts';
import { startReplica, stopStackOperator } from '../replicas.ts';
import { storedHistory, TaskLoad } from '../task-load.ts';

/** Tasks whose runners lose Redis in the middle (`cut`, then `restore` after a while); what Postgres got of each. */
async function tasksAcrossCut(load: TaskLoad, pool: pg.Pool, scale: Scale, cut: () => Promise<void>, restore: () => Promise<void>): Promise<FaultResult> {
  const taskCount = scale === 'full' ? 10 : 2;
  const cutSeconds = scale === 'full' ? 30 : 10;
  const sleepSeconds = scale === 'full' ? 15 : 8;
  // The Bash sleep ends inside the cut: the tool's result, the answer and the end are published while Redis is away.
  await load.start(taskCount, `chaos [[scenario:bash {"command":"sleep ${sleepSeconds}; echo slept"}]]`);
  await load.waitFor((tasks) => tasks.length === taskCount && tasks.every((task) => task.status?.phase === 'Running'), 120_000);
  await sleep(4_000);
  log(`fault 7: the runners' path to Redis cut for ${cutSeconds} s`);
  await cut();
  await sleep(cutSeconds * 1000);
  await restore();
  const restoredAt = Date.now();
  const tasks = await load.waitEnded(300_000);
  const recoverySeconds = (Date.now() - restoredAt) / 1000;
  // The history is copied after the phase.
  await sleep(3_000);
  let gaps = 0;
  let duplicates = 0;
  let incomplete = 0;
  let events = 0;
  for (const task of tasks) {
    const history = await storedHistory(pool, task.metadata.uid);
    gaps += history.gaps;
    duplicates += history.duplicates;
    events += history.seqs.length;
    if (history.types.at(-1) !== 'runner.completed' || !(task.status?.result ?? '').includes('slept')) incomplete += 1;
  }
  const succeeded = tasks.filter((task) => task.status?.phase === 'Succeeded').length;
  return {
    load: `${taskCount} running tasks, cut ${cutSeconds} s`,
    lost: gaps + incomplete + (taskCount - succeeded), duplicated: duplicates, disagreeing: null, recoverySeconds,
    detail: `${succeeded}/${taskCount} Succeeded; ${events} events stored, ${gaps} gaps, ${duplicates} duplicates; `
      + `tasks without their whole answer or a last runner.completed: ${incomplete}; ended ${recoverySeconds.toFixed(1)} s after the path came back`,
    passed: succeeded === taskCount,
  };
}

export const runnerRedisCutFault: Fault = {
  number: 7,
  name: 'The runners\' path to Redis cut',
  async run(system, scale: Scale, cleanups): Promise<FaultResult> {
    const { settings } = system;
    const redisUrl = new URL(settings.REDIS_URL);
    const proxy = await startTcpProxy({ host: redisUrl.hostname, port: Number(redisUrl.port || 6379) });
    cleanups.add('the runners\' Redis proxy', () => proxy.close());
    stopStackOperator(settings);
    const operator = await startReplica('operator', system.environments.operator, settings, { RUNNER_REDIS_URL: viaProxy(settings.REDIS_URL, proxy) });
    cleanups.add('the fault\'s operator', () => operator.stop());
    const load = await TaskLoad.create(kubeConfigOf(settings), 'chaos-cut');
    const pool = new pg.Pool({ connectionString: settings.DATABASE_URL, max: 2 });
    try {
      await operator.waitReady();
      return await tasksAcrossCut(load, pool, scale, () => proxy.cut(), () => proxy.restore());
    } finally {
      await proxy.restore();
      await load.delete();
      await operator.stop();
      await proxy.close();
      await pool.end();
    }
  },
  // On the real node each runner pod gets a rule in its own network namespace that drops what it sends
  // to Redis (the chart's, through its Service): its connection hangs and new ones go unanswered, as
  // when a NetworkPolicy or a partition cuts the path. Taking the rules out ends the cut.
  async runOnRealNode(system: RealNodeSystem, scale: Scale): Promise<FaultResult> {
    const load = await TaskLoad.create(kubeConfigOf(system.settings), 'chaos-cut');
    const pool = new pg.Pool({ connectionString: system.settings.DATABASE_URL, max: 2 });
    const rule = ['OUTPUT', '-p', 'tcp', '--dport', '6379', '-j', 'DROP'];
    let cutPods: PodView[] = [];
    const restore = async () => {
      for (const pod of cutPods) await system.iptablesInPod(pod, '-D', ...rule).catch(() => undefined);
      cutPods = [];
    };
    try {
      return await tasksAcrossCut(load, pool, scale, async () => {
        const pods = (await system.podsIn(load.namespace)).filter((pod) => pod.status?.phase === 'Running');
        log(`fault 7: dropping what ${pods.length} runner pods send to Redis`);
        for (const pod of pods) {
          await system.iptablesInPod(pod, '-I', ...rule);
          cutPods.push(pod);
        }
      }, restore);
    } finally {
      await restore();
      await load.delete();
      await pool.end();
    }
  },
};
