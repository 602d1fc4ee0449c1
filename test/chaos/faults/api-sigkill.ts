// Fault 4: the API process SIGKILLed while WebSocket followers read live tasks.
// A replica of the stack's API (the same settings, a port of its own) serves
// followers that reconnect as the README says; it is killed mid-stream and started
// again on the same port. Every follower must end with every event exactly once.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { pino } from 'pino';
import { insertTask } from '../../../api/src/stream/testing.ts';
import { workloadStreamKeys } from '../../../packages/contracts/src/event-stream.ts';
import { EventPublisher } from '../../../runner/src/event-publisher.ts';
import { log, sleep } from '../../bench/support.ts';
import type { ClientSettings, Fault, FaultResult, Scale } from '../fault.ts';
import { Follower, gapsAndDuplicates, secondsToEventAfterReconnect } from '../followers.ts';
import type { RealNodeSystem } from '../real-node-system.ts';
import { startReplica } from '../replicas.ts';

const sizeOf = (scale: Scale) => ({ followerCount: scale === 'full' ? 200 : 20, taskCount: scale === 'full' ? 10 : 4, seconds: scale === 'full' ? 20 : 8 });

/** Live tasks (events published to Redis as runners do), followers through `apiUrl`, the API killed
 * halfway (`kill` resolves once it serves again); then what each follower got, against what was published. */
async function followersAcrossKill(settings: ClientSettings, scale: Scale, apiUrl: string, kill: (followers: number) => Promise<void>): Promise<FaultResult> {
  const { followerCount, taskCount, seconds } = sizeOf(scale);
  const rate = 100; // events/s over all tasks
  const namespace = `chaos-api-${randomUUID().slice(0, 8)}`;
  const tasks = Array.from({ length: taskCount }, (_unused, index) => `live-${index}`);
  const pool = new pg.Pool({ connectionString: settings.DATABASE_URL, max: 2 });
  const redis = new Redis(settings.REDIS_URL);
  try {
    for (const name of tasks) await insertTask(pool, { uid: randomUUID(), namespace, name, phase: 'Running' });
    const followers = Array.from({ length: followerCount }, (_unused, index) => {
      const task = tasks[index % taskCount]!;
      return new Follower(() => `${apiUrl.replace(/^http/, 'ws')}/api/v1/namespaces/${namespace}/tasks/${task}/stream`, settings.API_TOKEN, task);
    });
    const logger = pino({ level: 'silent' });
    const publishers = new Map(tasks.map((name) => [name, new EventPublisher({
      redisUrl: settings.REDIS_URL, streamKey: workloadStreamKeys('task', namespace, name).events, wakeChannel: workloadStreamKeys('task', namespace, name).wake, persistedKey: undefined, logger,
    })]));
    const published = new Map(tasks.map((name) => [name, 0]));
    let killedAt = 0;
    const publishing = (async () => {
      const started = performance.now();
      let sent = 0;
      while (performance.now() - started < seconds * 1000) {
        const due = Math.floor(((performance.now() - started) / 1000) * rate);
        for (; sent < due; sent++) {
          const task = tasks[sent % taskCount]!;
          publishers.get(task)!.publish({ type: 'assistant.text', text: `event ${sent}` });
          published.set(task, published.get(task)! + 1);
        }
        await sleep(10);
      }
    })();
    await sleep((seconds * 1000) / 2);
    killedAt = performance.now();
    await kill(followerCount);
    await publishing;
    for (const [task, publisher] of publishers) {
      publisher.publish({ type: 'runner.completed', outcome: 'succeeded', exitCode: 0 });
      published.set(task, published.get(task)! + 1);
    }
    await Promise.all([...publishers.values()].map((publisher) => publisher.close(30_000)));
    await pool.query(`UPDATE claude_tasks SET phase = 'Succeeded' WHERE namespace = $1`, [namespace]);
    const ended = await Promise.race([Promise.all(followers.map((follower) => follower.done())).then(() => true), sleep(120_000).then(() => false)]);
    for (const follower of followers) follower.stop();
    let lost = 0;
    let duplicated = 0;
    const recoveries: number[] = [];
    for (const follower of followers) {
      const counts = gapsAndDuplicates(follower.seqs, published.get(follower.task)!);
      lost += counts.lost;
      duplicated += counts.duplicated;
      recoveries.push(secondsToEventAfterReconnect(follower, killedAt));
    }
    const reconnects = followers.reduce((sum, follower) => sum + follower.reconnects, 0);
    const events = [...published.values()].reduce((sum, count) => sum + count, 0);
    const worst = Math.max(...recoveries);
    return {
      load: `${followerCount} followers of ${taskCount} live tasks, ${events} events`,
      lost, duplicated, disagreeing: null, recoverySeconds: worst,
      detail: `${reconnects} reconnects; every follower ended with 1000: ${ended ? 'yes' : 'NO'}; `
        + `first event on a connection opened after the kill: median ${recoveries.sort((a, b) => a - b)[Math.floor(recoveries.length / 2)]!.toFixed(1)} s, worst ${worst.toFixed(1)} s (restart included)`,
      passed: ended,
    };
  } finally {
    await pool.query('DELETE FROM claude_tasks WHERE namespace = $1', [namespace]).catch(() => undefined);
    await redis.del(...tasks.map((task) => workloadStreamKeys('task', namespace, task).events)).catch(() => undefined);
    redis.disconnect();
    await pool.end();
  }
}

export const apiSigkillFault: Fault = {
  number: 4,
  name: 'API SIGKILL with WebSocket followers',
  async run(system, scale: Scale, cleanups): Promise<FaultResult> {
    const { settings } = system;
    const replica = await startReplica('api', system.environments.api, settings);
    cleanups.add('the API replica', () => replica.stop());
    try {
      await replica.waitReady();
      return await followersAcrossKill(settings, scale, replica.url, async (followers) => {
        log(`fault 4: SIGKILL the API replica (pid ${replica.process.pid}) with ${followers} followers`);
        await replica.kill();
        replica.start();
        await replica.waitReady();
      });
    } finally {
      await replica.stop();
    }
  },

  // The chart's API replicas all have their containers SIGKILLed at once (kubelet restarts them);
  // followers come in through the API's Service, as users do, and find it again when a pod is Ready.
  async runOnRealNode(system: RealNodeSystem, scale: Scale): Promise<FaultResult> {
    return followersAcrossKill(system.settings, scale, system.settings.API_URL, async (followers) => {
      const pods = await system.pods('api');
      log(`fault 4: SIGKILL every API container (${pods.map((pod) => pod.metadata.name).join(', ')}) with ${followers} followers`);
      await Promise.all(pods.map((pod) => system.kill(pod)));
      await Promise.all(pods.map((pod) => system.waitRestarted('api', pod)));
    });
  },
};
