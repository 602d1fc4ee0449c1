// Per-task Redis users against the bed's real Redis: a runner can write its
// own task's events with the runner's own EventPublisher, and is refused
// everything else.
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { EventPublisher } from '../../runner/src/event-publisher.ts';
import { taskEventPersistedKey, taskEventStreamKey, taskEventWakeChannel, taskPartialChannel } from '../../runner/src/event-stream.ts';
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
    const persistedKey = taskEventPersistedKey(task.namespace, task.name);
    await admin.set(persistedKey, '0');
    const publisher = new EventPublisher({
      redisUrl: credentials.url, streamKey: taskEventStreamKey(task.namespace, task.name), wakeChannel: taskEventWakeChannel(task.namespace, task.name),
      persistedKey, persistWaitMs: 0, logger,
    });
    for (let i = 0; i < 5; i++) publisher.publish({ type: 'step', i });
    expect(await publisher.close(10_000)).toMatchObject({ flushed: true, unpublished: 0, lastSeq: 5 });
    expect(await admin.xlen(taskEventStreamKey(task.namespace, task.name))).toBe(5);

    const runner = connect(credentials.url);
    await runner.connect();
    expect(await runner.publish(taskPartialChannel(task.namespace, task.name), '{}')).toBeGreaterThanOrEqual(0);
  });

  it('refuses the runner another task\'s keys and channels, the operator\'s keys, and admin commands', async () => {
    const mine = newTask();
    const other = newTask();
    const runner = connect((await users.ensure(mine)).url);
    await runner.connect();
    const refusals = [
      runner.xadd(taskEventStreamKey(other.namespace, other.name), '*', 'seq', '1'),
      runner.xrange(taskEventStreamKey(other.namespace, other.name), '-', '+'),
      runner.get(taskEventPersistedKey(other.namespace, other.name)),
      // Its own persisted key is the operator's word, not the runner's.
      runner.set(taskEventPersistedKey(mine.namespace, mine.name), '999'),
      runner.del(taskEventStreamKey(mine.namespace, mine.name)),
      runner.publish(taskEventWakeChannel(other.namespace, other.name), '1'),
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
