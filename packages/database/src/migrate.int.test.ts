// Processes that start together (an operator and an API, two replicas) migrate the
// same database at once: the second waits for the first's lock instead of failing.
import { expect, test } from '@jest/globals';
import pg from 'pg';
import { PG_MIGRATE_LOCK_ID } from 'node-pg-migrate';
import { bedSetting } from '../../../test/support/cluster.ts';
import { migrate } from './migrate.ts';

test('migrate waits while another process holds the migration lock, then succeeds', async () => {
  await migrate(bedSetting('DATABASE_URL'));
  const holder = new pg.Client({ connectionString: bedSetting('DATABASE_URL') });
  await holder.connect();
  try {
    await holder.query('SELECT pg_advisory_lock($1)', [PG_MIGRATE_LOCK_ID]);
    let settled = false;
    const migrating = migrate(bedSetting('DATABASE_URL')).finally(() => { settled = true; });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(settled).toBe(false);
    await holder.query('SELECT pg_advisory_unlock($1)', [PG_MIGRATE_LOCK_ID]);
    await expect(migrating).resolves.toEqual([]);
  } finally {
    await holder.end();
  }
});
