// The test bed's own PostgreSQL database and redis-server: usable, fresh, and gone
// after close(). DATABASE_URL / REDIS_URL are unset here so that the provisioning
// itself is tested even when the jest global setup has set them for other tests.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import { provisionPostgres, withDatabase, type ProvisionedPostgres } from './postgres.ts';
import { provisionRedis, type ProvisionedRedis } from './redis.ts';

let logDir: string;
const savedEnv = { DATABASE_URL: process.env.DATABASE_URL, REDIS_URL: process.env.REDIS_URL };

beforeAll(async () => {
  logDir = await fs.mkdtemp(path.join(os.tmpdir(), 'claude-operator-datastores-'));
  delete process.env.DATABASE_URL;
  delete process.env.REDIS_URL;
});

afterAll(async () => {
  for (const [key, value] of Object.entries(savedEnv)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  await fs.rm(logDir, { recursive: true, force: true });
});

async function query<T extends object>(url: string, sql: string, values: unknown[] = []): Promise<T[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

function databaseName(url: string): string {
  return decodeURIComponent(new URL(url).pathname.slice(1));
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}

describe('provisionPostgres', () => {
  let postgres: ProvisionedPostgres;
  let adminUrl: string;

  beforeAll(async () => {
    postgres = await provisionPostgres({ logDir });
    adminUrl = withDatabase(postgres.url, 'postgres');
  }, 60_000);

  afterAll(async () => {
    await postgres?.close();
  });

  it('gives a database of its own, not the admin one', () => {
    expect(databaseName(postgres.url)).toMatch(/^claude_operator_test_\d+_[0-9a-f]+$/);
  });

  it('gives a fresh database: no tables of a previous run', async () => {
    const tables = await query(postgres.url, `SELECT tablename FROM pg_tables WHERE schemaname = 'public'`);
    expect(tables).toEqual([]);
  });

  it('round-trips rows', async () => {
    await query(postgres.url, 'CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)');
    await query(postgres.url, 'INSERT INTO notes (body) VALUES ($1), ($2)', ['first', 'second']);
    const rows = await query<{ id: number; body: string }>(postgres.url, 'SELECT id, body FROM notes ORDER BY id');
    expect(rows).toEqual([
      { id: 1, body: 'first' },
      { id: 2, body: 'second' },
    ]);
  });

  it('drops the database on close(), even with a connection still open, and close() again is harmless', async () => {
    const name = databaseName(postgres.url);
    const exists = async () =>
      (await query(adminUrl, 'SELECT 1 FROM pg_database WHERE datname = $1', [name])).length === 1;
    expect(await exists()).toBe(true);

    const leaked = new Client({ connectionString: postgres.url });
    leaked.on('error', () => {}); // terminated by DROP ... WITH (FORCE)
    await leaked.connect();
    try {
      await postgres.close();
      expect(await exists()).toBe(false);
      await postgres.close();
    } finally {
      await leaked.end().catch(() => {});
    }
  });

  it('gives a different database on every call', async () => {
    const [a, b] = await Promise.all([provisionPostgres({ logDir }), provisionPostgres({ logDir })]);
    try {
      expect(a.url).not.toBe(b.url);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  }, 60_000);
});

describe('provisionRedis', () => {
  let redis: ProvisionedRedis;
  let client: Redis;

  beforeAll(async () => {
    redis = await provisionRedis({ logDir });
    client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await client.connect();
  }, 60_000);

  afterAll(async () => {
    // A second disconnect() leaves a timer behind; the close() test has quit already.
    if (client !== undefined && client.status !== 'end') client.disconnect();
    await redis?.close();
  });

  it('starts its own redis-server on a loopback port', async () => {
    expect(redis.pid).toEqual(expect.any(Number));
    expect(new URL(redis.url).hostname).toBe('127.0.0.1');
    const info = await client.info('server');
    expect(info).toContain(`process_id:${redis.pid}\r\n`);
  });

  it('starts empty', async () => {
    expect(await client.dbsize()).toBe(0);
  });

  it('round-trips a stream and a string', async () => {
    const first = await client.xadd('events', '*', 'kind', 'started', 'n', '1');
    const second = await client.xadd('events', '*', 'kind', 'finished', 'n', '2');
    expect(await client.xrange('events', '-', '+')).toEqual([
      [first, ['kind', 'started', 'n', '1']],
      [second, ['kind', 'finished', 'n', '2']],
    ]);

    await client.set('greeting', 'hello');
    expect(await client.get('greeting')).toBe('hello');
  });

  it('stops the redis-server on close(), and close() again is harmless', async () => {
    const pid = redis.pid as number;
    expect(isRunning(pid)).toBe(true);
    await client.quit();
    await redis.close();
    expect(isRunning(pid)).toBe(false);
    await redis.close();
  });
});
