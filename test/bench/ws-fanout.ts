// Benchmark (not a test): WebSocket fan-out of live task events from one API
// process to followers in a separate load process.
//
//   node test/bench/ws-fanout.ts [--followers 1000] [--tasks 100] [--rate 1000] [--seconds 60] [--raw-rate 100] [--settings FILE]
//
// - Tasks: --tasks records in Postgres with phase Running, as the operator writes
//   them, and not in the cluster: the API's task lookup, which asks the
//   apiserver first, finds them in Postgres, and no pod runs for them.
// - Followers: the load process (ws-fanout-load.ts, an event loop of its own)
//   opens --followers WebSockets, spread evenly over the tasks, with the stack's
//   admin token. The API allows a caller 600 requests a minute, upgrades
//   included: refused ones (429) wait for Retry-After and try again.
// - Writers: here, one EventPublisher (the runner's) per task, --rate events/s in
//   all (200 bytes of text each), each stamped at publish(). The load process
//   takes its receipt time minus the stamp, with the two processes' clocks lined
//   up over IPC (the offset of the round trip with the least delay).
// - Raw: beside it, a plain XADD here and XREAD BLOCK in the load process on a
//   stream nothing else reads, --raw-rate/s, stamped the same way: for 5 s before
//   the followers connect (idle), and all through the fan-out (the goal compares
//   with this one).
// - The API's RSS (/proc/<pid>/status) every second: before the followers, when
//   writing starts, in the middle and at the end.
// At the end every task gets runner.completed (succeeded): the API closes each
// follower with 1000, and each must have had every event of its task.
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { pino } from 'pino';
import { insertTask } from '../../api/src/stream/testing.ts';
import { EventPublisher } from '../../runner/src/event-publisher.ts';
import { workloadStreamKeys } from '../../packages/contracts/src/event-stream.ts';
import {
  bringUpStack, findNodeScript, fixed, log, machineLines, printTable, runBench, sampleProcess, sleep, type ProcessSample, type Spread,
} from './support.ts';
import { clockMs, type FromLoad, type LoadResult, type ToLoad } from './ws-fanout-load.ts';

const { values: args } = parseArgs({
  options: {
    followers: { type: 'string', default: '1000' },
    tasks: { type: 'string', default: '100' },
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '60' },
    'raw-rate': { type: 'string', default: '100' },
    settings: { type: 'string' },
  },
});
const followerCount = Number(args.followers);
const taskCount = Number(args.tasks);
const rate = Number(args.rate);
const seconds = Number(args.seconds);
const rawRate = Number(args['raw-rate']);
if ([followerCount, taskCount, rate, seconds, rawRate].some((n) => !(n > 0))) throw new Error('every count and rate must be a positive number');

const goal = { p99TimesRaw: 2, p99Ms: 20 };
const text = 'x'.repeat(200);

/** Messages to and from the load process, with a way to wait for one kind. */
function loadChannel(child: ReturnType<typeof fork>) {
  const waiting: Array<{ type: FromLoad['type']; resolve: (m: FromLoad) => void }> = [];
  child.on('message', (message: FromLoad) => {
    const index = waiting.findIndex((w) => w.type === message.type);
    if (index >= 0) waiting.splice(index, 1)[0]!.resolve(message);
  });
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`the load process exited (${code})`))));
  exited.catch(() => undefined);
  return {
    send: (message: ToLoad) => child.send(message),
    next: <T extends FromLoad['type']>(type: T) =>
      Promise.race([new Promise<Extract<FromLoad, { type: T }>>((resolve) => waiting.push({ type, resolve: resolve as (m: FromLoad) => void })), exited]),
  };
}

/** The load process's clock minus ours, from the ping with the shortest round trip. */
async function clockOffset(channel: ReturnType<typeof loadChannel>): Promise<{ offsetMs: number; rttMs: number }> {
  let best = { offsetMs: 0, rttMs: Infinity };
  for (let id = 0; id < 30; id++) {
    const sent = clockMs();
    channel.send({ type: 'ping', id });
    const pong = await channel.next('pong');
    const back = clockMs();
    if (back - sent < best.rttMs) best = { offsetMs: pong.at - (sent + back) / 2, rttMs: back - sent };
  }
  return best;
}

/** Calls tick(n) every 10 ms with how many to send so that `perSecond` are sent on average; stops after durationMs. */
async function paced(perSecond: number, durationMs: number, tick: (count: number) => void): Promise<void> {
  const started = performance.now();
  let sent = 0;
  while (performance.now() - started < durationMs) {
    const due = Math.floor(((performance.now() - started) / 1000) * perSecond);
    if (due > sent) tick(due - sent);
    sent = Math.max(sent, due);
    await sleep(10);
  }
}

function ms(s: Spread | undefined): [string, string, string] {
  return [fixed(s?.p50 ?? NaN, 2), fixed(s?.p99 ?? NaN, 2), fixed(s?.max ?? NaN, 1)];
}

await runBench('ws-fanout', async (cleanups) => {
  const system = await bringUpStack(args.settings, cleanups);
  const { settings } = system;
  const logger = pino({ level: 'silent' });
  const namespace = `bench-ws-${randomUUID().slice(0, 8)}`;
  const tasks = Array.from({ length: taskCount }, (_, i) => `live-${String(i).padStart(4, '0')}`);
  const rawKey = `claude-operator-bench:raw:${namespace}`;

  const pool = new pg.Pool({ connectionString: settings.DATABASE_URL, max: 4 });
  const redis = new Redis(settings.REDIS_URL);
  cleanups.add('the bench rows and streams', async () => {
    await pool.query('DELETE FROM claude_tasks WHERE namespace = $1', [namespace]).catch(() => undefined);
    await redis.del(rawKey, ...tasks.map((task) => workloadStreamKeys('task', namespace, task).events)).catch(() => undefined);
    redis.disconnect();
    await pool.end();
  });
  for (const name of tasks) await insertTask(pool, { uid: randomUUID(), namespace, name, phase: 'Running' });

  const apiPid = findNodeScript('api/src/main.ts', `PORT=${new URL(settings.API_URL).port}`);
  const rss: Array<{ at: number; sample: ProcessSample }> = [];
  const sampleApi = () => rss.push({ at: performance.now(), sample: sampleProcess(apiPid) });
  sampleApi();
  const beforeFollowers = rss[0]!.sample;

  const child = fork(path.join(path.dirname(fileURLToPath(import.meta.url)), 'ws-fanout-load.ts'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  cleanups.add('the load process', async () => { if (child.exitCode === null) child.kill('SIGKILL'); });
  const channel = loadChannel(child);
  channel.send({ type: 'setup', setup: { apiUrl: settings.API_URL, token: settings.API_TOKEN, namespace, tasks, followers: followerCount, redisUrl: settings.REDIS_URL, rawKey } });
  await channel.next('raw-ready');
  const clock = await clockOffset(channel);
  channel.send({ type: 'offset', offsetMs: clock.offsetMs });
  log(`load process clock offset ${fixed(clock.offsetMs, 3)} ms (round trip ${fixed(clock.rttMs, 3)} ms)`);

  const xadd = (phase: string) => void redis.xadd(rawKey, '*', 'phase', phase, 'at', String(clockMs()), 'text', text);
  log('raw XADD -> XREAD, idle, 5 s...');
  await paced(rawRate, 5_000, (n) => { for (let i = 0; i < n; i++) xadd('idle'); });

  log(`opening ${followerCount} followers of ${taskCount} tasks...`);
  channel.send({ type: 'open' });
  const opened = await channel.next('opened');
  log(`${opened.followers} followers open in ${fixed(opened.seconds)} s (${opened.refusedWith429} upgrades refused with 429 and retried)`);

  const publishers = tasks.map((name) => new EventPublisher({
    redisUrl: settings.REDIS_URL, streamKey: workloadStreamKeys('task', namespace, name).events, wakeChannel: workloadStreamKeys('task', namespace, name).wake,
    persistedKey: undefined, logger,
  }));
  const published = new Map(tasks.map((task) => [task, 0]));
  log(`writing ${rate} events/s for ${seconds} s...`);
  sampleApi();
  const writingFrom = rss.length - 1;
  const sampler = setInterval(sampleApi, 1_000);
  let next = 0;
  await Promise.all([
    paced(rate, seconds * 1000, (n) => {
      for (let i = 0; i < n; i++) {
        const index = next++ % taskCount;
        publishers[index]!.publish({ type: 'assistant.text', at: clockMs(), text });
        published.set(tasks[index]!, published.get(tasks[index]!)! + 1);
      }
    }),
    paced(rawRate, seconds * 1000, (n) => { for (let i = 0; i < n; i++) xadd('run'); }),
  ]);
  clearInterval(sampler);
  sampleApi();
  const writingTo = rss.length - 1;

  for (const publisher of publishers) publisher.publish({ type: 'runner.completed', outcome: 'succeeded', exitCode: 0 });
  await Promise.all(publishers.map((publisher) => publisher.close(30_000)));
  channel.send({ type: 'finish', expected: Object.fromEntries(tasks.map((task) => [task, published.get(task)! + 1])) });
  const { result } = await channel.next('result');
  report(result, { opened, clock, beforeFollowers, during: rss.slice(writingFrom, writingTo + 1).map((r) => r.sample), reused: system.reused, events: next });
});

function report(result: LoadResult, context: {
  opened: Extract<FromLoad, { type: 'opened' }>; clock: { offsetMs: number; rttMs: number }; beforeFollowers: ProcessSample;
  during: ProcessSample[]; reused: boolean; events: number;
}): void {
  const { during } = context;
  const start = during[0]!;
  const middle = during[Math.floor(during.length / 2)]!;
  const end = during.at(-1)!;
  const raw = result.raw.run;
  console.log(`ws-fanout: ${context.opened.followers} WebSocket followers of ${taskCount} live tasks, one API process, load from a separate process`);
  for (const line of machineLines()) console.log(line);
  console.log(`bed: ${context.reused ? `the running up (${args.settings})` : 'a stack of its own'}; ${context.events} events in ${seconds} s ` +
    `(${fixed(context.events / seconds, 0)}/s, 200 bytes of text), ${result.messages} deliveries (${fixed(result.messages / seconds, 0)}/s); ` +
    `clocks lined up to ${fixed(context.clock.rttMs / 2, 3)} ms`);
  console.log(`closes: ${JSON.stringify(result.closes)}; followers missing events: ${result.incomplete}`);
  printTable('latency, ms (stamp at publish/XADD -> receipt in the load process)', ['path', 'samples', 'p50', 'p99', 'max'], [
    ['runner EventPublisher -> API -> WebSocket', result.ws.count, ...ms(result.ws)],
    ['raw XADD -> XREAD, during the fan-out', raw?.count ?? 0, ...ms(raw)],
    ['raw XADD -> XREAD, idle before it', result.raw.idle?.count ?? 0, ...ms(result.raw.idle)],
  ]);
  printTable('API process RSS, MB (VmRSS)', ['when', 'RSS MB'], [
    ['before the followers', fixed(context.beforeFollowers.rssMB)],
    ['followers open, writing starts', fixed(start.rssMB)],
    ['middle', fixed(middle.rssMB)],
    ['end', fixed(end.rssMB)],
    ['largest while writing', fixed(Math.max(...during.map((s) => s.rssMB)))],
  ]);
  const p99Goal = Math.min(goal.p99TimesRaw * (raw?.p99 ?? NaN), goal.p99Ms);
  printTable('goals', ['goal', 'measured', ''], [
    [`p99 <= ${goal.p99TimesRaw}x raw p99 and <= ${goal.p99Ms} ms`, `${fixed(result.ws.p99, 2)} ms (raw ${fixed(raw?.p99 ?? NaN, 2)} ms)`,
      result.ws.p99 <= p99Goal ? 'met' : 'missed'],
    ['API RSS flat (end against start of writing)', `${fixed(end.rssMB - start.rssMB, 1)} MB (${fixed(((end.rssMB - start.rssMB) / start.rssMB) * 100, 1)} %)`, ''],
  ]);
}
