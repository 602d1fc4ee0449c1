// A pool whose connections break (Postgres restarted, a network cut) tells its owner
// and carries on: found by the chaos suite (fault 3), where the operator died of the
// unhandled 'error' a broken connection emits, idle or checked out mid-transaction.
import net from 'node:net';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { bedSetting } from '../../../test/support/cluster.ts';
import { startTcpProxy, viaProxy, type TcpProxy } from '../../../test/support/tcp-proxy.ts';
import { migrate } from './migrate.ts';
import { createPool, inTransaction, isDatabaseUnreachable } from './pool.ts';
import { TaskStore } from './task-store.ts';

let proxy: TcpProxy;

beforeAll(async () => {
  await migrate(bedSetting('DATABASE_URL'));
  const url = new URL(bedSetting('DATABASE_URL'));
  proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
});

afterAll(async () => {
  await proxy?.close();
});

test('the task store survives its idle connections breaking, says so, and works again once Postgres is back', async () => {
  const idleErrors: Error[] = [];
  const store = new TaskStore(viaProxy(bedSetting('DATABASE_URL'), proxy), { onIdleError: (error) => idleErrors.push(error) });
  try {
    expect(await store.maxEventSeq('00000000-0000-0000-0000-000000000000')).toBe(0);
    await proxy.cut();
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(idleErrors.length).toBeGreaterThan(0);
    const refused = await store.maxEventSeq('00000000-0000-0000-0000-000000000000').then(() => undefined, (error: unknown) => error);
    expect({ refused: String(refused), unreachable: isDatabaseUnreachable(refused) }).toEqual({ refused: expect.stringMatching(/ECONNREFUSED/), unreachable: true });
    await proxy.restore();
    expect(await store.maxEventSeq('00000000-0000-0000-0000-000000000000')).toBe(0);
  } finally {
    await store.close();
  }
});

test('a transaction whose connection is cut midway fails as unreachable, and the pool hands out a working client once Postgres is back', async () => {
  // One client: the broken one must go, not come back from the pool.
  const pool = createPool(viaProxy(bedSetting('DATABASE_URL'), proxy), { max: 1, onIdleError: () => undefined });
  try {
    const cutMidway = inTransaction(pool, async (client) => {
      await client.query('SELECT 1');
      await proxy.cut();
      await new Promise((resolve) => setTimeout(resolve, 500));
      return (await client.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one;
    });
    const lost = await cutMidway.then(() => undefined, (error: unknown) => error);
    expect({ lost: String(lost), unreachable: isDatabaseUnreachable(lost) }).toEqual({ lost: expect.stringMatching(/Connection terminated|not queryable/), unreachable: true });
    await proxy.restore();
    expect(await inTransaction(pool, async (client) => (await client.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one)).toBe(1);
    // A query Postgres refuses is not an outage: it waits out the usual backoff.
    const refused = await pool.query('SELEC 1').then(() => undefined, (error: unknown) => error);
    expect({ refused: String(refused), unreachable: isDatabaseUnreachable(refused) }).toEqual({ refused: expect.stringMatching(/syntax error/), unreachable: false });
  } finally {
    await proxy.restore();
    await pool.end();
  }
});

test('a Postgres that takes connections and never answers (a partition) fails a query after the default 5 s, as unreachable', async () => {
  const silent = new Set<net.Socket>();
  const blackHole = net.createServer((socket) => { silent.add(socket); });
  await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
  const { port } = blackHole.address() as net.AddressInfo;
  const store = new TaskStore(`postgres://nobody@127.0.0.1:${port}/nothing`);
  try {
    // Without the default timeout this waits for ever (the socket stays open, silent).
    const failed = await store.maxEventSeq('00000000-0000-0000-0000-000000000000').then(() => undefined, (error: unknown) => error);
    expect({ failed: String(failed), unreachable: isDatabaseUnreachable(failed) }).toEqual({ failed: expect.stringMatching(/timeout/), unreachable: true });
  } finally {
    await store.close();
    for (const socket of silent) socket.destroy();
    await new Promise((resolve) => blackHole.close(resolve));
  }
}, 30_000);
