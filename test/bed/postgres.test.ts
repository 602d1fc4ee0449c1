import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import {
  TEST_DATABASE_PREFIX,
  clustersToStart,
  localAdminUrls,
  parseClusters,
  provisionPostgres,
  uniqueDatabaseName,
  withDatabase,
} from './postgres.ts';

describe('uniqueDatabaseName', () => {
  it('is a plain lowercase identifier with our prefix and the pid, short enough for PostgreSQL', () => {
    const name = uniqueDatabaseName(4242);
    expect(name.startsWith(`${TEST_DATABASE_PREFIX}4242_`)).toBe(true);
    expect(name).toMatch(/^[a-z_][a-z0-9_]*$/);
    expect(name.length).toBeLessThanOrEqual(63); // NAMEDATALEN - 1
  });

  it('differs between calls in one process', () => {
    expect(uniqueDatabaseName()).not.toBe(uniqueDatabaseName());
  });
});

describe('withDatabase', () => {
  it('replaces only the database of a TCP URL', () => {
    expect(withDatabase('postgres://postgres@127.0.0.1:5432/postgres', 'claude_operator_test_1_ab')).toBe(
      'postgres://postgres@127.0.0.1:5432/claude_operator_test_1_ab',
    );
  });

  it('keeps credentials and the socket directory of a socket URL', () => {
    const url = withDatabase('postgres://me:secret@localhost/postgres?host=%2Fvar%2Frun%2Fpostgresql', 'db1');
    expect(url).toBe('postgres://me:secret@localhost/db1?host=%2Fvar%2Frun%2Fpostgresql');
  });
});

describe('localAdminUrls', () => {
  it('tries TCP as postgres, then the socket as postgres, then the socket as the OS user', () => {
    expect(localAdminUrls('root')).toEqual([
      'postgres://postgres@127.0.0.1:5432/postgres',
      'postgres://postgres@localhost/postgres?host=%2Fvar%2Frun%2Fpostgresql',
      'postgres://root@localhost/postgres?host=%2Fvar%2Frun%2Fpostgresql',
    ]);
  });
});

describe('pg_lsclusters', () => {
  const listing = [
    '15  main    5432 down   postgres /var/lib/postgresql/15/main /var/log/postgresql/postgresql-15-main.log',
    '15  spare   5433 down   postgres /var/lib/postgresql/15/spare /var/log/postgresql/postgresql-15-spare.log',
    '16  main    5434 online postgres /var/lib/postgresql/16/main /var/log/postgresql/postgresql-16-main.log',
    '',
  ].join('\n');

  it('parses version, name, port and status', () => {
    expect(parseClusters(listing)).toEqual([
      { version: '15', name: 'main', port: '5432', status: 'down' },
      { version: '15', name: 'spare', port: '5433', status: 'down' },
      { version: '16', name: 'main', port: '5434', status: 'online' },
    ]);
    expect(parseClusters('')).toEqual([]);
  });

  it('starts only the down cluster on 5432', () => {
    expect(clustersToStart(parseClusters(listing))).toEqual([{ version: '15', name: 'main', port: '5432', status: 'down' }]);
    expect(clustersToStart(parseClusters(listing.replace('5432 down', '5432 online')))).toEqual([]);
  });
});

describe('provisionPostgres with DATABASE_URL', () => {
  const saved = process.env.DATABASE_URL;
  beforeEach(() => {
    // Nothing listens there: using it as is must not connect.
    process.env.DATABASE_URL = 'postgres://someone@db.invalid:5432/theirs';
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.DATABASE_URL;
    else process.env.DATABASE_URL = saved;
  });

  it('returns it as is and close() leaves it alone', async () => {
    const postgres = await provisionPostgres({ logDir: '/nonexistent' });
    expect(postgres.url).toBe('postgres://someone@db.invalid:5432/theirs');
    await expect(postgres.close()).resolves.toBeUndefined();
  });
});
