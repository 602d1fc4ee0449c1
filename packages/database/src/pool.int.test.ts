// A pool whose idle connections break (Postgres restarted, a network cut) tells its
// owner and carries on: found by the chaos suite (fault 3), where the operator died
// of the unhandled 'error' a broken idle connection emits.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { bedSetting } from '../../../test/support/cluster.ts';
import { startTcpProxy, viaProxy, type TcpProxy } from '../../../test/support/tcp-proxy.ts';
import { migrate } from './migrate.ts';
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
    await expect(store.maxEventSeq('00000000-0000-0000-0000-000000000000')).rejects.toThrow();
    await proxy.restore();
    expect(await store.maxEventSeq('00000000-0000-0000-0000-000000000000')).toBe(0);
  } finally {
    await store.close();
  }
});
