// REST and WebSocket clients on the whole system: curl submits a task, a
// WebSocket client follows it live to the end, and what it received is exactly
// the history Postgres keeps; reconnects replay without gap or duplicate.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import type pg from 'pg';
import { startTestApi, token } from '../../api/src/test-support.ts';
import type { ApiServer } from '../../api/src/server.ts';
import { follow, type ReceivedMessage } from '../../api/src/stream/testing.ts';
import type { TestNamespace } from '../support/cluster.ts';
import { waitFor } from '../support/cluster.ts';
import { setUpTaskFixture, type TaskFixture } from './support/task-fixture.ts';

const run = promisify(execFile);
let fixture: TaskFixture | undefined;
let ns: TestNamespace;
let db: pg.Client;
let api: ApiServer;
let bearer: string;

beforeAll(async () => {
  fixture = await setUpTaskFixture('api');
  ({ ns, db } = fixture);
  await fixture.operator.start();
  ({ api } = await startTestApi());
  bearer = await token({ tenant: 'team-a', namespaces: [ns.name], role: 'submitter' });
});

afterAll(async () => {
  await api?.close();
  await fixture?.close();
});

async function curlSubmit(body: object): Promise<{ status: number; json: Record<string, unknown> }> {
  const { stdout } = await run('curl', ['-sS', '-X', 'POST', '-w', '\n%{http_code}', '-H', `Authorization: Bearer ${bearer}`,
    '-H', 'Content-Type: application/json', '--data', JSON.stringify(body), `${api.url}/api/v1/namespaces/${ns.name}/tasks`]);
  const lines = stdout.trimEnd().split('\n');
  return { status: Number(lines.pop()), json: JSON.parse(lines.join('\n')) as Record<string, unknown> };
}

const streamUrl = (name: string, from: number) => `${api.url.replace('http', 'ws')}/api/v1/namespaces/${ns.name}/tasks/${name}/stream?from=${from}`;

async function storedHistory(name: string): Promise<Array<{ seq: number; type: string; data: unknown }>> {
  const task = await db.query('SELECT uid FROM claude_tasks WHERE namespace = $1 AND name = $2', [ns.name, name]);
  await waitFor(`${name} finalized in Postgres`, async () =>
    (await db.query('SELECT finalized_at FROM claude_tasks WHERE uid = $1', [task.rows[0]?.uid])).rows[0]?.finalized_at != null);
  const rows = await db.query('SELECT seq, type, data FROM claude_task_events WHERE task_uid = $1 ORDER BY seq', [task.rows[0]?.uid]);
  return rows.rows.map((row) => ({ seq: Number(row.seq), type: row.type, data: row.data }));
}

const essentials = (messages: ReceivedMessage[]) => messages.map((m) => ({ seq: m.seq, type: m.type, data: m.data }));

test('curl submits; a WebSocket client gets every event in order to the terminal one, equal to the Postgres history', async () => {
  const submitted = await curlSubmit({ name: 'followed', spec: { prompt: 'followed [[scenario:write-file {"path":"a.txt","content":"a"}]]' } });
  expect(submitted.status).toBe(202);
  const client = follow(streamUrl('followed', 0), { token: bearer });
  await client.opened;
  expect(await client.closed).toEqual({ code: 1000, reason: expect.any(String) });
  const seqs = client.messages.map((m) => m.seq);
  expect(seqs).toEqual(seqs.map((_s, i) => i + 1));
  expect(client.messages.at(-1)).toMatchObject({ type: 'runner.completed', data: { outcome: 'succeeded' } });
  expect(essentials(client.messages)).toEqual(await storedHistory('followed'));
});

test('a reconnect with the last seq continues with no gap and no duplicate; after the end, a new client gets the full replay', async () => {
  const submitted = await curlSubmit({ name: 'reconnected', spec: { prompt: 'reconnected [[scenario:loop-tools]]', maxTurns: 6 } });
  expect(submitted.status).toBe(202);
  // The first client leaves after three events, mid-run.
  const first = follow(streamUrl('reconnected', 0), { token: bearer, onMessage: (_m, ws) => { if (first.messages.length === 3) ws.close(); } });
  await first.opened;
  await first.closed;
  const lastSeq = first.messages.at(-1)!.seq;
  expect(lastSeq).toBe(3);
  const second = follow(streamUrl('reconnected', lastSeq), { token: bearer });
  await second.opened;
  expect((await second.closed).code).toBe(1000);
  const joined = [...first.messages.slice(0, 3), ...second.messages];
  expect(joined.map((m) => m.seq)).toEqual(joined.map((_m, i) => i + 1));
  const history = await storedHistory('reconnected');
  expect(essentials(joined)).toEqual(history);

  const late = follow(streamUrl('reconnected', 0), { token: bearer });
  await late.opened;
  expect((await late.closed).code).toBe(1000);
  expect(essentials(late.messages)).toEqual(history);
});

test('another tenant can neither stream nor see the task', async () => {
  expect((await curlSubmit({ name: 'private', spec: { prompt: 'private' } })).status).toBe(202);
  const other = await token({ tenant: 'team-b', namespaces: ['team-b'], role: 'admin' });
  const refused = follow(streamUrl('private', 0), { token: other });
  await expect(refused.opened).rejects.toMatchObject({ status: 404 });
  const get = await fetch(`${api.url}/api/v1/namespaces/${ns.name}/tasks/private`, { headers: { authorization: `Bearer ${other}` } });
  expect(get.status).toBe(404);
});

test('a browser without headers follows with a short-lived ticket from REST; a ticket works once', async () => {
  expect((await curlSubmit({ name: 'ticketed', spec: { prompt: 'ticketed' } })).status).toBe(202);
  const issued = await fetch(`${api.url}/api/v1/namespaces/${ns.name}/tasks/ticketed/stream-ticket`,
    { method: 'POST', headers: { authorization: `Bearer ${bearer}` } });
  expect(issued.status).toBe(201);
  const { ticket, expiresInSeconds } = await issued.json() as { ticket: string; expiresInSeconds: number };
  expect(expiresInSeconds).toBeLessThanOrEqual(60);
  const withTicket = follow(`${streamUrl('ticketed', 0)}&ticket=${encodeURIComponent(ticket)}`);
  await withTicket.opened;
  expect((await withTicket.closed).code).toBe(1000);
  expect(essentials(withTicket.messages)).toEqual(await storedHistory('ticketed'));
  const again = follow(`${streamUrl('ticketed', 0)}&ticket=${encodeURIComponent(ticket)}`);
  await expect(again.opened).rejects.toMatchObject({ status: 401 });
});

test('POST ?wait returns the finished task with its whole result text, woken by the run itself', async () => {
  const started = Date.now();
  const response = await fetch(`${api.url}/api/v1/namespaces/${ns.name}/tasks?wait=90`, {
    method: 'POST', headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'waited', spec: { prompt: 'waited [[scenario:answer {"text":"the waited-for answer"}]]' } }),
  });
  expect(response.status).toBe(200);
  const body = await response.json() as { status?: { phase?: string }; result?: string | null };
  expect(body.status?.phase).toBe('Succeeded');
  expect(body.result).toBe('the waited-for answer');
  console.log(`?wait answered after ${Date.now() - started} ms`);
});
