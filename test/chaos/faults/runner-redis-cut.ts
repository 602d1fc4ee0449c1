// Fault 7: the runners' path to Redis cut for a while (a proxy between the pods
// and Redis, cut as a partition is: open connections reset, new ones refused).
// Want: each runner buffers, then flushes in order; each task Succeeds with every
// event, seq 1..n in Postgres without a gap, and its whole answer.
import pg from 'pg';
import { kubeConfigOf, log, sleep } from '../../bench/support.ts';
import { startTcpProxy, viaProxy } from '../../support/tcp-proxy.ts';
import type { Fault, FaultResult, Scale } from '../fault.ts';
import { startReplica, stopStackOperator } from '../replicas.ts';
import { storedHistory, TaskLoad } from '../task-load.ts';

export const runnerRedisCutFault: Fault = {
  number: 7,
  name: 'The runners\' path to Redis cut',
  async run(system, scale: Scale, cleanups): Promise<FaultResult> {
    const { settings } = system;
    const taskCount = scale === 'full' ? 10 : 2;
    const cutSeconds = scale === 'full' ? 30 : 10;
    const sleepSeconds = scale === 'full' ? 15 : 8;
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
      // The Bash sleep ends inside the cut: the tool's result, the answer and the end are published while Redis is away.
      await load.start(taskCount, `chaos [[scenario:bash {"command":"sleep ${sleepSeconds}; echo slept"}]]`);
      await load.waitFor((tasks) => tasks.length === taskCount && tasks.every((task) => task.status?.phase === 'Running'), 120_000);
      await sleep(4_000);
      log(`fault 7: the runners' path to Redis cut for ${cutSeconds} s`);
      await proxy.cut();
      await sleep(cutSeconds * 1000);
      await proxy.restore();
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
    } finally {
      await proxy.restore();
      await load.delete();
      await operator.stop();
      await proxy.close();
      await pool.end();
    }
  },
};
