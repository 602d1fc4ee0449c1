// The REST history against the bed's real Postgres and Redis: Postgres first
// (what the operator has copied while the task runs), then the Redis stream
// after the last copied seq, whatever Redis has kept.
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Redis } from 'ioredis';
import pg from 'pg';
import { migrate } from '../../../packages/database/src/migrate.ts';
import { workloadStreamKeys } from '../../../packages/contracts/src/event-stream.ts';
import { bedSetting } from '../../../test/support/cluster.ts';
import { insertTask } from '../stream/testing.ts';
import { PgRedisHistory, type TaskKey } from './history.ts';

const namespace = `history-${randomBytes(3).toString('hex')}`;
let pool: pg.Pool;
let redis: Redis;
let history: PgRedisHistory;

beforeAll(async () => {
  await migrate(bedSetting('DATABASE_URL'));
  pool = new pg.Pool({ connectionString: bedSetting('DATABASE_URL'), max: 4 });
  redis = new Redis(bedSetting('REDIS_URL'));
  history = new PgRedisHistory(pool, redis);
});

afterAll(async () => {
  redis?.disconnect();
  await pool?.end();
});

const event = (seq: number) => ({ type: 'tick', i: seq });

async function newTask(): Promise<TaskKey & { key: string }> {
  const task = { namespace, name: `task-${randomBytes(4).toString('hex')}`, uid: randomUUID() };
  await insertTask(pool, { ...task, phase: 'Running' });
  return { ...task, key: workloadStreamKeys('task', task.namespace, task.name).events };
}

/** Appends seqs to the task's stream as the runner does (fields seq, type, data, time). */
async function writeToRedis(key: string, seqs: number[]): Promise<void> {
  for (const seq of seqs) {
    await redis.xadd(key, '*', 'seq', String(seq), 'type', 'tick', 'data', JSON.stringify(event(seq)), 'time', new Date().toISOString());
  }
}

/** Copies seqs to Postgres as the operator does, marked so a test can tell where an item came from. */
async function copyToPostgres(uid: string, seqs: number[]): Promise<void> {
  for (const seq of seqs) {
    await pool.query('INSERT INTO claude_task_events (task_uid, seq, type, data, time) VALUES ($1, $2, $3, $4, now())',
      [uid, seq, 'tick', JSON.stringify({ ...event(seq), copied: true })]);
  }
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const seqsOf = (items: Array<{ seq: number }>) => items.map((item) => item.seq);
const copiedSeqs = (items: Array<{ seq: number; data: unknown }>) =>
  items.filter((item) => (item.data as { copied?: boolean }).copied).map((item) => item.seq);

describe('a running task', () => {
  test('Postgres first, then Redis after the last copied seq: no gap, no duplicate', async () => {
    const task = await newTask();
    await writeToRedis(task.key, range(1, 10));
    await copyToPostgres(task.uid, range(1, 4));
    const page = await history.events(task, { after: 0, limit: 100 });
    expect(seqsOf(page.items)).toEqual(range(1, 10));
    expect(copiedSeqs(page.items)).toEqual(range(1, 4));
    expect(page.source).toBe('postgres+redis');
  });

  test('Redis emptied (a restart without persistence): what Postgres has, then what the runner writes after', async () => {
    const task = await newTask();
    await writeToRedis(task.key, range(1, 6));
    await copyToPostgres(task.uid, range(1, 6));
    await redis.del(task.key);
    const emptied = await history.events(task, { after: 0, limit: 100 });
    expect(seqsOf(emptied.items)).toEqual(range(1, 6));
    expect(emptied.source).toBe('postgres');
    await writeToRedis(task.key, range(7, 9));
    const resumed = await history.events(task, { after: 0, limit: 100 });
    expect(seqsOf(resumed.items)).toEqual(range(1, 9));
    expect(copiedSeqs(resumed.items)).toEqual(range(1, 6));
  });

  test('a stream trimmed past its head: the head from Postgres, the rest from Redis', async () => {
    const task = await newTask();
    await writeToRedis(task.key, range(1, 20));
    await copyToPostgres(task.uid, range(1, 12));
    await redis.xtrim(task.key, 'MAXLEN', 10); // Redis keeps 11..20
    const page = await history.events(task, { after: 0, limit: 100 });
    expect(seqsOf(page.items)).toEqual(range(1, 20));
    expect(copiedSeqs(page.items)).toEqual(range(1, 12));
  });

  test('pages by seq across the two stores', async () => {
    const task = await newTask();
    await writeToRedis(task.key, range(1, 10));
    await copyToPostgres(task.uid, range(1, 5));
    const pages = [];
    for (let after = 0; ;) {
      const page = await history.events(task, { after, limit: 3 });
      if (page.items.length === 0) break;
      pages.push([seqsOf(page.items), page.source]);
      after = page.items.at(-1)!.seq;
    }
    expect(pages).toEqual([
      [[1, 2, 3], 'postgres'], [[4, 5, 6], 'postgres+redis'], [[7, 8, 9], 'redis'], [[10], 'redis'],
    ]);
  });

  test('nothing written yet: an empty page from redis', async () => {
    const task = await newTask();
    expect(await history.events(task, { after: 0, limit: 10 })).toEqual({ items: [], source: 'redis' });
  });
});

test('a finalized task is read from Postgres only', async () => {
  const task = await newTask();
  await copyToPostgres(task.uid, range(1, 3));
  await pool.query('UPDATE claude_tasks SET finalized_at = now(), phase = $2 WHERE uid = $1', [task.uid, 'Succeeded']);
  // A new task of the same name has started writing to the same stream key.
  await writeToRedis(task.key, range(1, 8));
  const page = await history.events(task, { after: 0, limit: 100 });
  expect(seqsOf(page.items)).toEqual(range(1, 3));
  expect(copiedSeqs(page.items)).toEqual(range(1, 3));
  expect(page.source).toBe('postgres');
  expect(await history.events(task, { after: 3, limit: 100 })).toEqual({ items: [], source: 'postgres' });
});
