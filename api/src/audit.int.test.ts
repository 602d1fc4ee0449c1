// A Postgres outage, for real: the API reaches the bed's Postgres through a TCP
// proxy that the test cuts (new connections refused, open ones reset) and
// restores. No mutation may go unaudited: while the audit row cannot be
// written, mutations are refused with 503 and create nothing in Kubernetes;
// afterwards every mutation the API accepted has exactly one audit row.
import crypto from 'node:crypto';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import pg from 'pg';
import type { ApiServer } from './server.ts';
import { callApi, startTestApi, token } from './test-support.ts';
import { bedSetting, createTestNamespace, waitFor, type TestNamespace } from '../../test/support/cluster.ts';
import { startTcpProxy, viaProxy, type TcpProxy } from '../../test/support/tcp-proxy.ts';

let proxy: TcpProxy;
let api: ApiServer;
let ns: TestNamespace;
let direct: pg.Pool;

beforeAll(async () => {
  const databaseUrl = new URL(bedSetting('DATABASE_URL'));
  proxy = await startTcpProxy({ host: databaseUrl.hostname, port: Number(databaseUrl.port || 5432) });
  ({ api } = await startTestApi({ DATABASE_URL: viaProxy(bedSetting('DATABASE_URL'), proxy), RATE_LIMIT_REQUESTS: '10000' }));
  ns = await createTestNamespace('api-audit');
  direct = new pg.Pool({ connectionString: bedSetting('DATABASE_URL'), max: 2 });
});

afterAll(async () => {
  await proxy?.restore();
  await api?.close();
  await proxy?.close();
  await direct?.end();
  await ns?.delete();
});

const tasks = () => `/api/v1/namespaces/${ns.name}/tasks`;
const spec = { prompt: 'say hello', maxTurns: 1 };

async function call(method: string, path: string, bearer: string, body?: unknown) {
  const requestId = `audit-${crypto.randomUUID()}`;
  return { requestId, ...await callApi(api.url, method, path, { token: bearer, body, headers: { 'x-request-id': requestId } }) };
}

async function taskNames(): Promise<string[]> {
  const { stdout } = await ns.kubectl('get', 'claudetasks', '-o', 'jsonpath={.items[*].metadata.name}');
  return stdout.split(' ').filter(Boolean).sort();
}

test('mutations are refused with 503 while Postgres is down, create nothing, and every accepted one has exactly one audit row', async () => {
  const auth = await token({ tenant: 'audit', namespaces: [ns.name], role: 'submitter' });
  const accepted: string[] = [];
  const before = await call('POST', tasks(), auth, { name: 'before-outage', spec });
  expect(before.status).toBe(202);
  accepted.push(before.requestId);

  await proxy.cut();
  const refused = [
    await call('POST', tasks(), auth, { name: 'during-outage-1', spec }),
    await call('POST', tasks(), auth, { name: 'during-outage-2', spec }),
    await call('POST', `${tasks()}/before-outage/cancel`, auth),
    await call('DELETE', `${tasks()}/before-outage`, auth),
  ];
  for (const response of refused) {
    expect(response.status).toBe(503);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(response.json).toMatchObject({ type: 'https://claude-operator.io/problems/unavailable', status: 503, detail: expect.stringMatching(/audit.*nothing was changed/) });
    expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
  }
  const notReady = await fetch(`${api.url}/readyz`);
  expect(notReady.status).toBe(503);
  expect(await notReady.json()).toMatchObject({ ready: false, checks: { postgres: 'failed', kubernetes: 'ok', redis: 'ok' } });
  // Nothing reached Kubernetes: no new task, the old one neither cancelled nor deleted.
  expect(await taskNames()).toEqual(['before-outage']);
  const { stdout: cancel } = await ns.kubectl('get', 'claudetask', 'before-outage', '-o', 'jsonpath={.spec.cancel}');
  expect(cancel).toBe('');

  await proxy.restore();
  await waitFor('the API ready again', async () => (await fetch(`${api.url}/readyz`)).status === 200, { timeoutMs: 20_000 });
  const after = await call('POST', tasks(), auth, { name: 'after-outage', spec });
  expect(after.status).toBe(202);
  accepted.push(after.requestId);
  const cancelled = await call('POST', `${tasks()}/before-outage/cancel`, auth);
  expect(cancelled.status).toBe(202);
  accepted.push(cancelled.requestId);
  expect(await taskNames()).toEqual(['after-outage', 'before-outage']);

  let rows: Array<{ request_id: string; action: string; name: string; status: number; outcome: string }> = [];
  await waitFor('every accepted call audited and completed', async () => {
    rows = (await direct.query('SELECT request_id, action, name, status, outcome FROM api_audit WHERE request_id = ANY($1) ORDER BY id',
      [[...accepted, ...refused.map((r) => r.requestId)]])).rows;
    return rows.length === accepted.length && rows.every((row) => row.outcome !== 'pending');
  }, { timeoutMs: 40_000, intervalMs: 200 });
  expect(rows.map((row) => [row.request_id, row.action, row.name, row.status, row.outcome])).toEqual([
    [before.requestId, 'task.create', 'before-outage', 202, 'success'],
    [after.requestId, 'task.create', 'after-outage', 202, 'success'],
    [cancelled.requestId, 'task.cancel', 'before-outage', 202, 'success'],
  ]);
});
