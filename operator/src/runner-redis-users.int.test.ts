// Per-task Redis users against the bed's real Redis: a runner can write its
// own task's events with the runner's own EventPublisher, and is refused
// everything else.
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { EventPublisher } from '../../runner/src/event-publisher.ts';
import { workloadStreamKeys } from '../../packages/contracts/src/event-stream.ts';
import { sessionAnsweredKey, sessionControlChannel, sessionInboxKey, sessionTranscriptKey } from '../../packages/contracts/src/session-stream.ts';
import { RunnerRedisUsers } from './runner-redis-users.ts';

const logger = pino({ level: 'silent' });
const namespace = `acl-${randomBytes(3).toString('hex')}`;
const clients: Redis[] = [];

function bedRedisUrl(): string {
  const url = process.env.REDIS_URL;
  if (!url) throw new Error('REDIS_URL is not set: run this through jest, whose global setup starts the test bed');
  return url;
}

function connect(url: string): Redis {
  const client = new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
  client.on('error', () => undefined);
  clients.push(client);
  return client;
}

const admin = connect(bedRedisUrl());
const users = new RunnerRedisUsers({ redis: admin, secret: randomBytes(32).toString('hex'), runnerRedisUrl: bedRedisUrl() });
const newTask = () => ({ namespace, name: `task-${randomBytes(4).toString('hex')}`, uid: randomUUID() });

afterAll(() => {
  for (const client of clients) client.disconnect();
});

describe('RunnerRedisUsers', () => {
  it('lets a runner publish its own task\'s events, read its persisted key and PUBLISH on its channels', async () => {
    const task = newTask();
    const credentials = await users.ensure(task);
    expect(new URL(credentials.url).username).toBe(`claude-task-${task.uid}`);
    const persistedKey = workloadStreamKeys('task', task.namespace, task.name).persisted;
    await admin.set(persistedKey, '0');
    const publisher = new EventPublisher({
      redisUrl: credentials.url, streamKey: workloadStreamKeys('task', task.namespace, task.name).events, wakeChannel: workloadStreamKeys('task', task.namespace, task.name).wake,
      persistedKey, persistWaitMs: 0, logger,
    });
    for (let i = 0; i < 5; i++) publisher.publish({ type: 'step', i });
    expect(await publisher.close(10_000)).toMatchObject({ flushed: true, unpublished: 0, lastSeq: 5 });
    expect(await admin.xlen(workloadStreamKeys('task', task.namespace, task.name).events)).toBe(5);

    const runner = connect(credentials.url);
    await runner.connect();
    expect(await runner.publish(workloadStreamKeys('task', task.namespace, task.name).partial, '{}')).toBeGreaterThanOrEqual(0);
  });

  it('refuses the runner another task\'s keys and channels, the operator\'s keys, and admin commands', async () => {
    const mine = newTask();
    const other = newTask();
    const runner = connect((await users.ensure(mine)).url);
    await runner.connect();
    const refusals = [
      runner.xadd(workloadStreamKeys('task', other.namespace, other.name).events, '*', 'seq', '1'),
      runner.xrange(workloadStreamKeys('task', other.namespace, other.name).events, '-', '+'),
      runner.get(workloadStreamKeys('task', other.namespace, other.name).persisted),
      // Its own persisted key is the operator's word, not the runner's.
      runner.set(workloadStreamKeys('task', mine.namespace, mine.name).persisted, '999'),
      runner.del(workloadStreamKeys('task', mine.namespace, mine.name).events),
      runner.publish(workloadStreamKeys('task', other.namespace, other.name).wake, '1'),
      runner.keys('*'),
      runner.call('ACL', 'LIST'),
      runner.flushall(),
      runner.config('GET', 'requirepass'),
    ];
    const results = await Promise.allSettled(refusals);
    expect(results.map((result) => (result.status === 'rejected' ? String(result.reason).match(/NOPERM/)?.[0] : 'allowed'))).toEqual(refusals.map(() => 'NOPERM'));
  });

  it('ensure is idempotent, and a removed user cannot log in', async () => {
    const task = newTask();
    const first = await users.ensure(task);
    expect(await users.ensure(task)).toEqual(first);
    await users.remove(task);
    expect(await admin.call('ACL', 'GETUSER', first.username)).toBeNull();
    const runner = connect(first.url);
    const errors: string[] = [];
    runner.on('error', (error: Error) => errors.push(error.message));
    await expect(runner.connect().then(() => runner.ping())).rejects.toThrow();
    expect(errors.join('\n')).toMatch(/WRONGPASS|invalid username-password/i);
  });
});

describe('RunnerRedisUsers for sessions', () => {
  const noperm = (results: Array<PromiseSettledResult<unknown>>) =>
    results.map((result) => (result.status === 'rejected' ? String(result.reason).match(/NOPERM/)?.[0] : 'allowed'));

  it('lets a session\'s runner do what it does on its own keys and channels', async () => {
    const session = newTask();
    const { namespace: ns, name } = session;
    const credentials = await users.ensureSession(session);
    expect(new URL(credentials.url).username).toBe(`claude-session-${session.uid}`);
    await admin.set(workloadStreamKeys('session', ns, name).persisted, '3');
    await admin.hset(sessionAnsweredKey(ns, name), 'msg_a', '3');
    await admin.xadd(sessionInboxKey(ns, name), '*', 'messageId', 'msg_b', 'text', 'hi', 'acceptedAt', new Date().toISOString());
    const runner = connect(credentials.url);
    await runner.connect();
    await runner.xgroup('CREATE', sessionInboxKey(ns, name), 'runner', '0', 'MKSTREAM');
    const read = await runner.xreadgroup('GROUP', 'runner', 'runner', 'COUNT', 10, 'STREAMS', sessionInboxKey(ns, name), '>') as Array<[string, Array<[string, string[]]>]>;
    const entryId = read[0]![1][0]![0];
    expect(await runner.xpending(sessionInboxKey(ns, name), 'runner')).toEqual([1, entryId, entryId, [['runner', '1']]]);
    expect(await runner.hexists(sessionAnsweredKey(ns, name), 'msg_a')).toBe(1);
    expect(await runner.get(workloadStreamKeys('session', ns, name).persisted)).toBe('3');
    await runner.set(sessionTranscriptKey(ns, name), '{"t":1}');
    expect(await runner.get(sessionTranscriptKey(ns, name))).toBe('{"t":1}');
    await runner.xadd(workloadStreamKeys('session', ns, name).events, '*', 'seq', '1', 'type', 'runner.started', 'data', '{}');
    expect(await runner.xrange(workloadStreamKeys('session', ns, name).events, '-', '+')).toHaveLength(1);
    expect(await runner.xack(sessionInboxKey(ns, name), 'runner', entryId)).toBe(1);
    expect(await runner.publish(workloadStreamKeys('session', ns, name).wake, '1')).toBeGreaterThanOrEqual(0);
    expect(await runner.publish(workloadStreamKeys('session', ns, name).partial, '{}')).toBeGreaterThanOrEqual(0);
    const subscriber = connect(credentials.url);
    await subscriber.connect();
    await subscriber.subscribe(sessionControlChannel(ns, name));
  });

  it('refuses a session\'s runner another session\'s keys and channels, and writes to the operator\'s keys', async () => {
    const mine = newTask();
    const other = newTask();
    const runner = connect((await users.ensureSession(mine)).url);
    await runner.connect();
    const subscriber = connect((await users.ensureSession(mine)).url);
    await subscriber.connect();
    const o = other;
    const refusals = [
      runner.xadd(workloadStreamKeys('session', o.namespace, o.name).events, '*', 'seq', '1'),
      runner.xgroup('CREATE', sessionInboxKey(o.namespace, o.name), 'runner', '0', 'MKSTREAM'),
      runner.xreadgroup('GROUP', 'runner', 'runner', 'STREAMS', sessionInboxKey(o.namespace, o.name), '0'),
      runner.xadd(sessionInboxKey(o.namespace, o.name), '*', 'messageId', 'x'),
      runner.get(sessionTranscriptKey(o.namespace, o.name)),
      runner.set(sessionTranscriptKey(o.namespace, o.name), 'x'),
      runner.hexists(sessionAnsweredKey(o.namespace, o.name), 'msg_a'),
      runner.get(workloadStreamKeys('session', o.namespace, o.name).persisted),
      runner.publish(workloadStreamKeys('session', o.namespace, o.name).wake, '1'),
      subscriber.subscribe(sessionControlChannel(o.namespace, o.name)),
      // Its own persisted key and answered hash are the operator's word.
      runner.set(workloadStreamKeys('session', mine.namespace, mine.name).persisted, '999'),
      runner.hset(sessionAnsweredKey(mine.namespace, mine.name), 'msg_x', '1'),
      runner.del(sessionInboxKey(mine.namespace, mine.name)),
      // A task's keys are not a session's.
      runner.xadd(workloadStreamKeys('task', mine.namespace, mine.name).events, '*', 'seq', '1'),
      runner.keys('*'),
      runner.call('ACL', 'LIST'),
    ];
    expect(noperm(await Promise.allSettled(refusals))).toEqual(refusals.map(() => 'NOPERM'));
  });

  it('a removed session user cannot log in', async () => {
    const session = newTask();
    const credentials = await users.ensureSession(session);
    await users.removeSession(session);
    expect(await admin.call('ACL', 'GETUSER', credentials.username)).toBeNull();
  });
});
