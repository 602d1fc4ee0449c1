// The copier against real Redis and Postgres, fed by the runner's own
// EventPublisher: events reach Postgres while the task runs, a Redis that
// restarts empty loses none of them, and the stream is trimmed only of what
// Postgres has.
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { pino } from 'pino';
import { Redis } from 'ioredis';
import type { ClaudeTask } from '../../crds/src/claude-task.ts';
import { EventPublisher } from '../../runner/src/event-publisher.ts';
import { workloadStreamKeys } from '../../packages/contracts/src/event-stream.ts';
import { waitFor } from '../../test/bed/process.ts';
import { startOwnRedis, type OwnRedis } from '../../test/support/own-redis.ts';
import { EventCopier, type FollowedTask } from './event-copier.ts';
import { migrate } from '../../packages/database/src/migrate.ts';
import { TaskStore } from '../../packages/database/src/task-store.ts';

const logger = pino({ level: process.env.COPIER_TEST_LOG ?? 'silent' });
const namespace = `copier-${randomBytes(3).toString('hex')}`;
let store: TaskStore;
let db: pg.Client;
const closers: Array<() => Promise<unknown>> = [];

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this through jest, whose global setup starts the test bed`);
  return value;
}

beforeAll(async () => {
  await migrate(env('DATABASE_URL'));
  store = new TaskStore(env('DATABASE_URL'));
  db = new pg.Client({ connectionString: env('DATABASE_URL') });
  await db.connect();
});

afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await store?.close();
  await db?.end();
});

/** A task with its record in Postgres, as the reconciler writes it before following. */
async function newTask(): Promise<FollowedTask> {
  const task = { namespace, name: `task-${randomBytes(4).toString('hex')}`, uid: randomUUID() };
  const resource: ClaudeTask = { apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudeTask',
    metadata: { ...task, creationTimestamp: new Date().toISOString() }, spec: { prompt: 'p' } };
  await store.recordStatus(resource, { phase: 'Running' });
  return task;
}

function publisherOf(redisUrl: string, task: FollowedTask, extra: Partial<ConstructorParameters<typeof EventPublisher>[0]> = {}) {
  const publisher = new EventPublisher({
    redisUrl, streamKey: workloadStreamKeys('task', task.namespace, task.name).events, wakeChannel: undefined,
    persistedKey: workloadStreamKeys('task', task.namespace, task.name).persisted, logger, backoff: { initialMs: 20, maxMs: 200 },
    persistPollMs: 50, commandTimeoutMs: 1_000, ...extra,
  });
  closers.push(() => publisher.close(1_000));
  return publisher;
}

function copierOn(redisUrl: string, extra: Partial<ConstructorParameters<typeof EventCopier>[0]> = {}): EventCopier {
  const copier = new EventCopier({ redisUrl, store, logger, blockMs: 200, ...extra });
  closers.push(() => copier.close());
  return copier;
}

async function storedSeqs(task: FollowedTask): Promise<number[]> {
  const { rows } = await db.query('SELECT seq FROM claude_task_events WHERE task_uid = $1 ORDER BY seq', [task.uid]);
  return rows.map((row) => Number(row.seq));
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('EventCopier', () => {
  it('copies a running task\'s events to Postgres as they come, and says how far in the persisted key', async () => {
    const redisUrl = env('REDIS_URL');
    const task = await newTask();
    const copier = copierOn(redisUrl);
    copier.follow(task);
    const publisher = publisherOf(redisUrl, task);
    for (let i = 1; i <= 20; i++) publisher.publish({ type: 'step', i });
    // The task has not ended: nothing finalizes it, yet Postgres has every event.
    await waitFor('20 events in Postgres', async () => (await storedSeqs(task)).length === 20, { timeoutMs: 10_000, intervalMs: 50 });
    expect(await storedSeqs(task)).toEqual(range(1, 20));
    const redis = new Redis(redisUrl);
    expect(await redis.get(workloadStreamKeys('task', task.namespace, task.name).persisted)).toBe('20');
    redis.disconnect();
    const { rows } = await db.query('SELECT data FROM claude_task_events WHERE task_uid = $1 AND seq = 7', [task.uid]);
    expect(rows[0]?.data).toEqual({ type: 'step', i: 7 });
    // The publisher sees it and keeps nothing: its close does not wait.
    expect(await publisher.close(10_000)).toEqual({ flushed: true, persisted: true, unpublished: 0, lastSeq: 20 });
  });

  it('stores events of a task whose record comes later, once it exists, backing off meanwhile', async () => {
    const redisUrl = env('REDIS_URL');
    const task = { namespace, name: `late-${randomBytes(4).toString('hex')}`, uid: randomUUID() };
    let tries = 0;
    const counting = new Proxy(store, { get: (target, property, receiver) => property === 'recordEvents'
      ? (...args: Parameters<TaskStore['recordEvents']>) => { tries++; return target.recordEvents(...args); }
      : Reflect.get(target, property, receiver) as unknown });
    const copier = copierOn(redisUrl, { store: counting });
    copier.follow(task);
    const publisher = publisherOf(redisUrl, task, { persistWaitMs: 0 });
    for (let i = 1; i <= 5; i++) publisher.publish({ type: 'early', i });
    await waitFor('the events in redis', async () => publisher.lastSeq === 5, { timeoutMs: 5_000, intervalMs: 20 });
    tries = 0;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await storedSeqs(task)).toEqual([]);
    // The backoff (at least 100, 200, 400 ms) allows 5 tries in a second, fewer on a slow machine; a copier
    // that read the same entries again at once tried 20 times here, and thousands a second when Postgres
    // refused connections (the chaos suite's fault 3 found the operator's log flooded).
    expect(tries).toBeLessThanOrEqual(5);
    await store.recordStatus({ apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudeTask', metadata: task, spec: { prompt: 'p' } }, { phase: 'Pending' });
    await waitFor('the events in Postgres', async () => (await storedSeqs(task)).length === 5, { timeoutMs: 10_000, intervalMs: 50 });
  });

  it('trims a long stream to about maxLength, never of what Postgres lacks', async () => {
    const redisUrl = env('REDIS_URL');
    const task = await newTask();
    const copier = copierOn(redisUrl, { maxLength: 200 });
    copier.follow(task);
    const publisher = publisherOf(redisUrl, task, { batchSize: 100 });
    for (let i = 1; i <= 3_000; i++) publisher.publish({ type: 'many', i });
    expect(await publisher.close(30_000)).toMatchObject({ flushed: true, persisted: true, lastSeq: 3_000 });
    expect(await storedSeqs(task)).toEqual(range(1, 3_000));
    const redis = new Redis(redisUrl);
    const entries = await redis.xrange(workloadStreamKeys('task', task.namespace, task.name).events, '-', '+');
    redis.disconnect();
    expect(entries.length).toBeLessThan(1_000);
    expect(entries.length).toBeGreaterThan(0);
  });

  it('with a cap below the check interval (500), trims as often as the cap, so the stream stays near it', async () => {
    const redisUrl = env('REDIS_URL');
    const task = await newTask();
    const copier = copierOn(redisUrl, { maxLength: 100 });
    copier.follow(task);
    const publisher = publisherOf(redisUrl, task, { batchSize: 50 });
    for (let i = 1; i <= 450; i++) publisher.publish({ type: 'many', i });
    expect(await publisher.close(30_000)).toMatchObject({ flushed: true, persisted: true, lastSeq: 450 });
    expect(await storedSeqs(task)).toEqual(range(1, 450));
    const redis = new Redis(redisUrl);
    const entries = await redis.xlen(workloadStreamKeys('task', task.namespace, task.name).events);
    redis.disconnect();
    // Checked after 100, 200, 300 and 400 copied: the cap, the 100 an approximate trim may keep, and the 50 since.
    expect(entries).toBeLessThanOrEqual(250);
  });

  describe('with a Redis that restarts empty', () => {
    let redis: OwnRedis;

    beforeAll(async () => {
      redis = await startOwnRedis();
    });

    afterAll(async () => {
      await redis?.close();
    });

    it('Postgres ends with every event once, seq 1..n, and a new attempt numbers on after them', async () => {
      const task = await newTask();
      const copier = copierOn(redis.url);
      copier.follow(task);
      const first = publisherOf(redis.url, task);
      for (let i = 1; i <= 30; i++) first.publish({ type: 'before', i });
      await waitFor('30 in Postgres', async () => (await storedSeqs(task)).length === 30, { timeoutMs: 10_000, intervalMs: 50 });

      await redis.restart({ empty: true });
      for (let i = 31; i <= 40; i++) first.publish({ type: 'after', i });
      expect(await first.close(20_000)).toEqual({ flushed: true, persisted: true, unpublished: 0, lastSeq: 40 });
      expect(await storedSeqs(task)).toEqual(range(1, 40));

      // The next attempt's runner starts on an empty stream after another empty restart:
      // the copier has put the persisted key back, so it numbers on from 41.
      await redis.restart({ empty: true });
      const admin = new Redis(redis.url);
      await waitFor('the persisted key restored', async () => (await admin.get(workloadStreamKeys('task', task.namespace, task.name).persisted)) === '40',
        { timeoutMs: 10_000, intervalMs: 50 });
      admin.disconnect();
      const second = publisherOf(redis.url, task);
      second.publish({ type: 'attempt-2' });
      expect(await second.close(20_000)).toMatchObject({ flushed: true, persisted: true, lastSeq: 41 });
      expect(await storedSeqs(task)).toEqual(range(1, 41));
      const { rows } = await db.query('SELECT type FROM claude_task_events WHERE task_uid = $1 AND seq = 41', [task.uid]);
      expect(rows[0]?.type).toBe('attempt-2');
    });
  });
});
