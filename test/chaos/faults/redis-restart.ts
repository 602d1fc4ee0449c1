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
import type { RealNodeSystem } from '../real-node-system.ts';
import { startReplica, stopStackOperator } from '../replicas.ts';
import { storedHistory, TaskLoad } from '../task-load.ts';

const sizeOf = (scale: Scale) => ({ taskCount: scale === 'full' ? 10 : 3, followerCount: scale === 'full' ? 50 : 6 });

interface UnderFollowers {
  load: TaskLoad;
  pool: pg.Pool;
  taskCount: number;
  followerCount: number;
  /** The API followers connect to (http://...), and a token it takes. */
  apiUrl: string;
  token: string;
  /** Redis killed, and started again empty (resolves once it is started). */
  kill(): Promise<void>;
}

/** Tasks that stream across the kill, followers of them, and what each follower and Postgres got. */
async function redisRestartUnderFollowers({ load, pool, taskCount, followerCount, apiUrl, token, kill }: UnderFollowers): Promise<FaultResult> {
  // The CLI runs a Bash sleep: events before the kill, and the tool's result, the answer and the end after it.
  const names = await load.start(taskCount, 'chaos [[scenario:bash {"command":"sleep 10; echo slept"}]]');
  await load.waitFor((tasks) => tasks.length === taskCount && tasks.every((task) => task.status?.phase === 'Running'), 120_000);
  const followers = Array.from({ length: followerCount }, (_unused, index) => {
    const task = names[index % taskCount]!;
    return new Follower(() => `${apiUrl.replace(/^http/, 'ws')}/api/v1/namespaces/${load.namespace}/tasks/${task}/stream`, token, task);
  });
  await sleep(5_000);
  const killedAt = performance.now();
  await kill();
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
}

export const redisRestartFault: Fault = {
  number: 2,
  name: 'Redis SIGKILL and empty restart under followers',
  async run(system, scale: Scale, cleanups): Promise<FaultResult> {
    const { settings } = system;
    const { taskCount, followerCount } = sizeOf(scale);
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
      return await redisRestartUnderFollowers({ load, pool, taskCount, followerCount, token: settings.API_TOKEN,
        apiUrl: api.url, kill: async () => {
          log(`fault 2: SIGKILL Redis (pid ${redis.pid()}) under ${followerCount} followers of ${taskCount} running tasks`);
          await redis.kill();
          await redis.restart({ empty: true });
        } });
    } finally {
      await load.delete();
      await Promise.all([operator.stop(), api.stop()]);
      await pool.end();
      await redis.close();
    }
  },

  // The chart's Redis (in memory only) has its container SIGKILLed; kubelet starts it again, empty.
  // Followers reach the API through its Service, as users do.
  async runOnRealNode(system: RealNodeSystem, scale: Scale): Promise<FaultResult> {
    const { taskCount, followerCount } = sizeOf(scale);
    const load = await TaskLoad.create(kubeConfigOf(system.settings), 'chaos-redis');
    const pool = new pg.Pool({ connectionString: system.settings.DATABASE_URL, max: 2 });
    try {
      return await redisRestartUnderFollowers({ load, pool, taskCount, followerCount, token: system.settings.API_TOKEN,
        apiUrl: system.settings.API_URL, kill: async () => {
          const [pod] = await system.pods('redis');
          if (!pod) throw new Error('the chart runs no Redis pod');
          log(`fault 2: SIGKILL the Redis container (pod ${pod.metadata.name}) under ${followerCount} followers of ${taskCount} running tasks`);
          await system.kill(pod);
          await system.waitRestarted('redis', pod);
        } });
    } finally {
      await load.delete();
      await pool.end();
    }
  },
};
