// Idempotency-Key on task creation and cancel, against the bed's apiserver and Postgres.
import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { ApiServer } from '../server.ts';
import { callApi, startTestApi, token, type CallOptions } from '../test-support.ts';
import { createTestNamespace, waitFor, type TestNamespace } from '../../../test/support/cluster.ts';

let api: ApiServer;
let ns: TestNamespace;

beforeAll(async () => {
  ({ api } = await startTestApi({ RATE_LIMIT_REQUESTS: '10000' }));
  ns = await createTestNamespace('api-idem');
});

afterAll(async () => {
  await api?.close();
  await ns?.delete();
});

const call = (method: string, path: string, options: CallOptions = {}) => callApi(api.url, method, path, options);
const tasks = () => `/api/v1/namespaces/${ns.name}/tasks`;
const newKey = () => `"${crypto.randomUUID()}"`;
const caller = (sub: string, tenant = 'idem') => token({ sub, tenant, namespaces: [ns.name], role: 'submitter' });

/** A body whose tasks can be counted by their label. */
function taskBody(run: string, prompt = 'say hello') {
  return { labels: { run }, spec: { prompt, maxTurns: 1 } };
}

async function tasksLabelled(run: string): Promise<string[]> {
  const { stdout } = await ns.kubectl('get', 'claudetasks', '-l', `run=${run}`, '-o', 'jsonpath={.items[*].metadata.name}');
  return stdout.split(' ').filter(Boolean);
}

describe('Idempotency-Key on create', () => {
  test('the same key and body again: the first answer, replayed, and no second task', async () => {
    const run = crypto.randomBytes(4).toString('hex');
    const auth = await caller('alice');
    const key = newKey();
    const first = await call('POST', tasks(), { token: auth, body: taskBody(run), headers: { 'idempotency-key': key } });
    expect(first.status).toBe(202);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    // The same body with its keys in another order is the same request.
    const again = await call('POST', tasks(), { token: auth, body: { spec: { maxTurns: 1, prompt: 'say hello' }, labels: { run } }, headers: { 'idempotency-key': key } });
    expect(again.status).toBe(202);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.json).toEqual(first.json);
    expect(again.headers.get('location')).toBe(first.headers.get('location'));
    expect(again.headers.get('content-type')).toBe(first.headers.get('content-type'));
    expect(await tasksLabelled(run)).toEqual([(first.json.metadata as { name: string }).name]);

    // Audited as a replay.
    let actions: string[] = [];
    await waitFor('the audit rows', async () => {
      actions = (await api.pool.query(`SELECT action FROM api_audit WHERE subject = 'alice' AND request_id = ANY($1) AND completed_at IS NOT NULL ORDER BY id`,
        [[first.headers.get('x-request-id'), again.headers.get('x-request-id')]])).rows.map((row) => row.action);
      return actions.length === 2;
    }, { timeoutMs: 10_000 });
    expect(actions).toEqual(['task.create', 'task.create.replayed']);
  });

  test('the same key with another body: 422, nothing created', async () => {
    const run = crypto.randomBytes(4).toString('hex');
    const auth = await caller('bob');
    const key = newKey();
    expect((await call('POST', tasks(), { token: auth, body: taskBody(run), headers: { 'idempotency-key': key } })).status).toBe(202);
    const other = await call('POST', tasks(), { token: auth, body: taskBody(run, 'something else'), headers: { 'idempotency-key': key } });
    expect(other.status).toBe(422);
    expect(other.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(other.json).toMatchObject({ type: 'https://claude-operator.io/problems/idempotency-key-reused', status: 422 });
    expect(await tasksLabelled(run)).toHaveLength(1);
  });

  test('keys are per caller: another subject or tenant with the same key creates its own task', async () => {
    const run = crypto.randomBytes(4).toString('hex');
    const key = newKey();
    for (const auth of [await caller('carol'), await caller('dave'), await caller('carol', 'other-tenant')]) {
      const answer = await call('POST', tasks(), { token: auth, body: taskBody(run), headers: { 'idempotency-key': key } });
      expect(answer.status).toBe(202);
      expect(answer.headers.get('idempotent-replayed')).toBeNull();
    }
    expect(await tasksLabelled(run)).toHaveLength(3);
  });

  test('after 24 hours the key is new again', async () => {
    const run = crypto.randomBytes(4).toString('hex');
    const auth = await caller('erin');
    const key = newKey();
    expect((await call('POST', tasks(), { token: auth, body: taskBody(run), headers: { 'idempotency-key': key } })).status).toBe(202);
    await api.pool.query(`UPDATE api_idempotency SET expires_at = now() - interval '1 second' WHERE subject = 'erin'`);
    const later = await call('POST', tasks(), { token: auth, body: taskBody(run), headers: { 'idempotency-key': key } });
    expect(later.status).toBe(202);
    expect(later.headers.get('idempotent-replayed')).toBeNull();
    expect(await tasksLabelled(run)).toHaveLength(2);
  });

  test('while the first call still runs (?wait), the same key is 409; its answer is replayed once it has answered', async () => {
    const run = crypto.randomBytes(4).toString('hex');
    const auth = await caller('frank');
    const key = newKey();
    const client = new AbortController();
    const waiting = call('POST', `${tasks()}?wait=120`, { token: auth, body: taskBody(run), headers: { 'idempotency-key': key }, signal: client.signal })
      .catch((error: unknown) => error);
    await waitFor('the waiting call\'s task', async () => (await tasksLabelled(run)).length === 1, { timeoutMs: 10_000, intervalMs: 50 });
    const meanwhile = await call('POST', `${tasks()}?wait=120`, { token: auth, body: taskBody(run), headers: { 'idempotency-key': key } });
    expect(meanwhile.status).toBe(409);
    expect(meanwhile.json).toMatchObject({ type: 'https://claude-operator.io/problems/idempotency-key-in-use' });
    expect(Number(meanwhile.headers.get('retry-after'))).toBeGreaterThan(0);
    // The client gives up; the call still answers (202, the task Pending), and that answer is kept.
    client.abort();
    await waiting;
    let replay;
    await waitFor('the first call\'s answer stored', async () => {
      replay = await call('POST', tasks(), { token: auth, body: taskBody(run), headers: { 'idempotency-key': key } });
      return replay.status !== 409;
    }, { timeoutMs: 10_000, intervalMs: 100 });
    expect(replay!.status).toBe(202);
    expect(replay!.headers.get('idempotent-replayed')).toBe('true');
    expect(await tasksLabelled(run)).toHaveLength(1);
  });

  test.each(['"has\\"quote"', 'two words', `"${'k'.repeat(300)}"`])('a malformed key %p is 400 and creates nothing', async (key) => {
    const run = crypto.randomBytes(4).toString('hex');
    const answer = await call('POST', tasks(), { token: await caller('gina'), body: taskBody(run), headers: { 'idempotency-key': key } });
    expect(answer.status).toBe(400);
    expect(answer.json).toMatchObject({ type: 'https://claude-operator.io/problems/validation-error', issues: [{ path: 'headers.idempotency-key' }] });
    expect(await tasksLabelled(run)).toHaveLength(0);
  });
});

test('Idempotency-Key on cancel: the retry is replayed', async () => {
  const auth = await caller('hank');
  const created = await call('POST', tasks(), { token: auth, body: taskBody(crypto.randomBytes(4).toString('hex')) });
  const path = `${created.headers.get('location')}/cancel`;
  const key = newKey();
  const first = await call('POST', path, { token: auth, headers: { 'idempotency-key': key } });
  expect(first.status).toBe(202);
  expect(first.json).toMatchObject({ spec: { cancel: true } });
  const again = await call('POST', path, { token: auth, headers: { 'idempotency-key': key } });
  expect(again.status).toBe(202);
  expect(again.headers.get('idempotent-replayed')).toBe('true');
  expect(again.json).toEqual(first.json);
  // The same key on another task's cancel is another request.
  const other = await call('POST', tasks(), { token: auth, body: taskBody(crypto.randomBytes(4).toString('hex')) });
  expect((await call('POST', `${other.headers.get('location')}/cancel`, { token: auth, headers: { 'idempotency-key': key } })).status).toBe(422);
});
