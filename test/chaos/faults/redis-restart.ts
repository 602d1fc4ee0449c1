// Fault 2: Redis SIGKILLed mid-stream and started again empty (as one without
// persistence comes back), while WebSocket followers read running tasks. The
// fault's operator, API and runners use a Redis of its own, so the stack's is
// spared. Counted per follower and in Postgres: events lost or duplicated; and
// the time until followers get events again.
import pg from 'pg';
import { terminalPhases } from '../../../crds/src/claude-task.ts';
import { kubeConfigOf, log, sleep } from '../../bench/support.ts';
import { startOwnRedis } from '../../support/own-redis.ts';
import type { Fault, FaultResult, Scale } from '../fault.ts';
import { Follower, gapsAndDuplicates } from '../followers.ts';
import { startReplica, stopStackOperator } from '../replicas.ts';
import { storedHistory, TaskLoad } from '../task-load.ts';

export const redisRestartFault: Fault = {
  number: 2,
  name: 'Redis SIGKILL and empty restart under followers',
  async run(system, scale: Scale, cleanups): Promise<FaultResult> {
    const { settings } = system;
    const taskCount = scale === 'full' ? 10 : 3;
    const followerCount = scale === 'full' ? 50 : 6;
    const redis = await startOwnRedis();
    cleanups.add('the fault\'s Redis', () => redis.close());
    stopStackOperator(settings);
    const operator = await startReplica('operator', system.environments.operator, settings, { REDIS_URL: redis.url, RUNNER_REDIS_URL: redis.url });
    const api = await startReplica('api', system.environments.api, settings, { REDIS_URL: redis.url });
    cleanups.add('the fault\'s operator and API', async () => { await Promise.all([operator.stop(), api.stop()]); });
    const load = await TaskLoad.create(kubeConfigOf(settings), 'chaos-redis');
    const pool = new pg.Pool({ connectionString: settings.DATABASE_URL, max: 2 });
    try {
      await Promise.all([operator.waitReady(), api.waitReady()]);
      // The CLI runs a Bash sleep: events before the kill, and the tool's result, the answer and the end after it.
      const names = await load.start(taskCount, 'chaos [[scenario:bash {"command":"sleep 10; echo slept"}]]');
      await load.waitFor((tasks) => tasks.length === taskCount && tasks.every((task) => task.status?.phase === 'Running'), 120_000);
      const followers = Array.from({ length: followerCount }, (_unused, index) => {
        const task = names[index % taskCount]!;
        return new Follower(() => `ws://127.0.0.1:${api.port}/api/v1/namespaces/${load.namespace}/tasks/${task}/stream`, settings.API_TOKEN, task);
      });
      await sleep(5_000);
      log(`fault 2: SIGKILL Redis (pid ${redis.pid()}) under ${followerCount} followers of ${taskCount} running tasks`);
      const killedAt = performance.now();
      await redis.kill();
      await redis.restart({ empty: true });
      const tasks = await load.waitEnded(300_000);
      const ended = await Promise.race([Promise.all(followers.map((follower) => follower.done())).then(() => true), sleep(120_000).then(() => false)]);
      for (const follower of followers) follower.stop();
      const histories = new Map(await Promise.all(tasks.map(async (task) => [task.metadata.name, await storedHistory(pool, task.metadata.uid)] as const)));
      let lost = 0;
      let duplicated = 0;
      const recoveries: number[] = [];
      for (const follower of followers) {
        const history = histories.get(follower.task);
        const counts = gapsAndDuplicates(follower.seqs, history?.seqs.length ?? 0);
        lost += counts.lost;
        duplicated += counts.duplicated;
        const firstAfter = follower.receivedAt.find((at) => at > killedAt);
        recoveries.push(firstAfter === undefined ? Infinity : (firstAfter - killedAt) / 1000);
      }
      const storedGaps = [...histories.values()].reduce((sum, history) => sum + history.gaps, 0);
      const storedDuplicates = [...histories.values()].reduce((sum, history) => sum + history.duplicates, 0);
      const succeeded = tasks.filter((task) => task.status?.phase === 'Succeeded').length;
      const unended = tasks.filter((task) => !terminalPhases.has(task.status?.phase ?? '')).length;
      const events = [...histories.values()].reduce((sum, history) => sum + history.seqs.length, 0);
      return {
        load: `${followerCount} followers of ${taskCount} running tasks, ${events} events`,
        lost: lost + storedGaps + unended, duplicated: duplicated + storedDuplicates, disagreeing: null,
        recoverySeconds: Math.max(...recoveries),
        detail: `${succeeded}/${taskCount} Succeeded; in Postgres: ${storedGaps} gaps, ${storedDuplicates} duplicates; followers: ${lost} lost, ${duplicated} duplicated, `
          + `${followers.reduce((sum, follower) => sum + follower.reconnects, 0)} reconnects, all ended with 1000: ${ended ? 'yes' : 'NO'}`,
        passed: succeeded === taskCount && ended,
      };
    } finally {
      await load.delete();
      await Promise.all([operator.stop(), api.stop()]);
      await pool.end();
      await redis.close();
    }
  },
};
