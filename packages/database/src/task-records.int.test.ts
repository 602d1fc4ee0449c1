// The shared readers and writer against the bed's real Postgres: a task by uid
// or as the newest record under its name, and its event log by range.
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import pg from 'pg';
import { bedSetting } from '../../../test/support/cluster.ts';
import { migrate } from './migrate.ts';
import { readEventLog, readTaskRecord, writeEvents } from './task-records.ts';

const namespace = `records-${randomBytes(3).toString('hex')}`;
let pool: pg.Pool;

beforeAll(async () => {
  await migrate(bedSetting('DATABASE_URL'));
  pool = new pg.Pool({ connectionString: bedSetting('DATABASE_URL'), max: 2 });
});

afterAll(async () => {
  await pool?.end();
});

async function insertTask(name: string, phase: string, createdAt: string): Promise<string> {
  const uid = randomUUID();
  await pool.query(
    `INSERT INTO claude_tasks (uid, namespace, name, spec, status, phase, created_at) VALUES ($1, $2, $3, '{}'::jsonb, $4, $5, $6)`,
    [uid, namespace, name, JSON.stringify({ phase }), phase, createdAt]);
  return uid;
}

const events = (seqs: number[]) => seqs.map((seq) => ({ seq, type: 'tick', data: { type: 'tick', i: seq }, time: new Date(1_700_000_000_000 + seq).toISOString() }));

describe('readTaskRecord', () => {
  test('finds a task by uid, and by name the newest record (a task recreated under the same name is another task)', async () => {
    const name = `task-${randomBytes(3).toString('hex')}`;
    const older = await insertTask(name, 'Succeeded', '2026-01-01T00:00:00Z');
    const newer = await insertTask(name, 'Running', '2026-01-02T00:00:00Z');
    expect(await readTaskRecord(pool, { uid: older })).toEqual({
      uid: older, namespace, name, phase: 'Succeeded', status: { phase: 'Succeeded' }, result: null, finalizedAt: null,
    });
    expect((await readTaskRecord(pool, { namespace, name }))?.uid).toBe(newer);
  });

  test.each([
    ['an unknown uid', { uid: randomUUID() }],
    ['a uid that is not one', { uid: 'not-a-uid' }],
    ['an unknown name', { namespace, name: 'never-created' }],
  ])('answers undefined for %s', async (_name, task) => {
    expect(await readTaskRecord(pool, task)).toBeUndefined();
  });
});

describe('readEventLog and writeEvents', () => {
  test('reads the range asked for, in seq order; writing the same seqs again changes nothing', async () => {
    const name = `task-${randomBytes(3).toString('hex')}`;
    const uid = await insertTask(name, 'Running', '2026-01-01T00:00:00Z');
    await writeEvents(pool, uid, events([3, 1, 2, 4, 5]));
    await writeEvents(pool, uid, events([1, 2]).map((event) => ({ ...event, type: 'changed' })));
    const seqs = async (range: Parameters<typeof readEventLog>[2], task: Parameters<typeof readEventLog>[1] = { uid }) =>
      (await readEventLog(pool, task, range)).map((event) => event.seq);
    expect(await readEventLog(pool, { uid })).toEqual(events([1, 2, 3, 4, 5]));
    expect(await seqs({ after: 1, limit: 2 })).toEqual([2, 3]);
    expect(await seqs({ after: 1, before: 4 })).toEqual([2, 3]);
    expect(await seqs({ after: 0 }, { namespace, name })).toEqual([1, 2, 3, 4, 5]);
    expect(await seqs({}, { uid: 'not-a-uid' })).toEqual([]);
  });
});
