// The REST API in-process against the test bed's apiserver, Postgres and Redis.
// No operator runs: tasks stay Pending.
import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { UnsecuredJWT } from 'jose';
import { pino } from 'pino';
import { claudeTaskPlural, group, version } from '../../crds/src/claude-task.ts';
import { EventPublisher } from '../../runner/src/event-publisher.ts';
import { workloadStreamKeys } from '../../packages/contracts/src/event-stream.ts';
import type { ApiServer } from './server.ts';
import { insertTask } from './stream/testing.ts';
import { callApi, startTestApi, testAudience, testIssuer, token, type CallOptions } from './test-support.ts';
import { bedSetting, createTestNamespace, kubeConfig, waitFor, type TestNamespace } from '../../test/support/cluster.ts';

let api: ApiServer;
let nsA: TestNamespace;
let nsB: TestNamespace;
const rateLimit = 40;
const appOrigin = 'https://app.example';

beforeAll(async () => {
  // No safety reads during a test's ?wait: only the task's own events can end it early.
  ({ api } = await startTestApi({
    RATE_LIMIT_REQUESTS: String(rateLimit), RATE_LIMIT_WINDOW_SECONDS: '60', CORS_ALLOWED_ORIGINS: appOrigin, WAIT_RECHECK_SECONDS: '3600',
  }));
  [nsA, nsB] = await Promise.all([createTestNamespace('api-a'), createTestNamespace('api-b')]);
});

afterAll(async () => {
  await api?.close();
  await Promise.all([nsA?.delete(), nsB?.delete()]);
});

const tenantA = () => token({ tenant: 'a', namespaces: [nsA.name], role: 'submitter' });
const tenantB = () => token({ tenant: 'b', namespaces: [nsB.name], role: 'submitter' });

const call = (method: string, path: string, options: CallOptions = {}) => callApi(api.url, method, path, options);

const tasksOf = (ns: string) => `/api/v1/namespaces/${ns}/tasks`;
const spec = { prompt: 'say hello', maxTurns: 2 };

describe('create', () => {
  test('202 with Location and the Pending task; get returns it; it is in the list', async () => {
    const auth = await tenantA();
    const created = await call('POST', tasksOf(nsA.name), { token: auth, body: { spec, labels: { team: 'x' } } });
    expect(created.status).toBe(202);
    const name = (created.json.metadata as { name: string }).name;
    expect(name).toMatch(/^task-/);
    expect(created.headers.get('location')).toBe(`${tasksOf(nsA.name)}/${name}`);
    expect(created.json).toMatchObject({ kind: 'ClaudeTask', spec, status: { phase: 'Pending' }, metadata: { labels: { team: 'x' } } });
    expect(created.headers.get('x-request-id')).toBeTruthy();

    const got = await call('GET', created.headers.get('location')!, { token: auth });
    expect(got.status).toBe(200);
    expect(got.json).toMatchObject({ metadata: { name, namespace: nsA.name } });

    const listed = await call('GET', `${tasksOf(nsA.name)}?labelSelector=team%3Dx&phase=Pending`, { token: auth });
    expect(listed.status).toBe(200);
    expect((listed.json.items as Array<{ metadata: { name: string } }>).map((t) => t.metadata.name)).toContain(name);
    const none = await call('GET', `${tasksOf(nsA.name)}?phase=Running`, { token: auth });
    expect(none.json.items).toEqual([]);
  });

  test('a name of our own; twice is 409', async () => {
    const auth = await tenantA();
    expect((await call('POST', tasksOf(nsA.name), { token: auth, body: { name: 'fixed-name', spec } })).status).toBe(202);
    const again = await call('POST', tasksOf(nsA.name), { token: auth, body: { name: 'fixed-name', spec } });
    expect(again.status).toBe(409);
    expect(again.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(again.json.type).toBe('https://claude-operator.io/problems/conflict');
  });

  test('validation: 400 problem with the issues', async () => {
    const auth = await tenantA();
    const bad = await call('POST', tasksOf(nsA.name), { token: auth, body: { spec: { prompt: '', maxTurns: 0, bogus: 1 }, extra: true } });
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ type: 'https://claude-operator.io/problems/validation-error', status: 400 });
    expect(bad.json.issues!.map((i) => i.path)).toEqual(expect.arrayContaining(['body.spec.prompt', 'body.spec.maxTurns', 'body']));
    expect((await call('POST', tasksOf(nsA.name), { token: auth, raw: '{"spec":', headers: { 'content-type': 'application/json' } })).status).toBe(400);
    expect((await call('POST', tasksOf(nsA.name), { token: auth })).status).toBe(400);
    expect((await call('POST', tasksOf(nsA.name), { token: auth, raw: 'prompt=x', headers: { 'content-type': 'text/plain' } })).status).toBe(415);
    expect((await call('POST', `${tasksOf(nsA.name)}?wait=100000`, { token: auth, body: { spec } })).status).toBe(400);
  });

  test('413 for a body over the limit', async () => {
    const big = await call('POST', tasksOf(nsA.name), { token: await tenantA(), body: { spec: { prompt: 'x'.repeat(300 * 1024) } } });
    expect(big.status).toBe(413);
    expect(big.json.type).toBe('https://claude-operator.io/problems/payload-too-large');
  });

  test('?wait returns 202 with the task still Pending when the wait runs out', async () => {
    const started = Date.now();
    const waited = await call('POST', `${tasksOf(nsA.name)}?wait=2`, { token: await tenantA(), body: { spec } });
    expect(waited.status).toBe(202);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
    expect(waited.json).toMatchObject({ status: { phase: 'Pending' } });
  });
});

describe('?wait', () => {
  const logger = pino({ level: 'silent' });

  /** Counts the API's reads of one task from the apiserver. */
  function countReads(name: string): { count: number } {
    const reads = { count: 0 };
    const original = api.deps.tasks.get.bind(api.deps.tasks);
    api.deps.tasks.get = (namespace, taskName) => {
      if (taskName === name) reads.count++;
      return original(namespace, taskName);
    };
    return reads;
  }

  /** What the operator does when the task ends: its status. */
  async function setStatus(name: string, status: Record<string, unknown>): Promise<void> {
    await kubeConfig().makeApiClient(CustomObjectsApi).patchNamespacedCustomObjectStatus({
      group, version, namespace: nsA.name, plural: claudeTaskPlural, name, body: { status },
    }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
  }

  /** The runner's publisher for the task's stream and wake channel. */
  function runner(name: string): EventPublisher {
    return new EventPublisher({
      redisUrl: bedSetting('REDIS_URL'), streamKey: workloadStreamKeys('task', nsA.name, name).events, wakeChannel: workloadStreamKeys('task', nsA.name, name).wake,
      persistedKey: undefined, logger,
    });
  }

  async function waiterSubscribed(name: string): Promise<void> {
    const channel = workloadStreamKeys('task', nsA.name, name).wake;
    await waitFor('the waiting create to subscribe', async () =>
      Number(((await api.redis.pubsub('NUMSUB', channel)) as [string, number])[1]) === 1, { timeoutMs: 10_000, intervalMs: 20 });
  }

  const fullResult = 'the whole answer '.repeat(300); // longer than status.result may be

  test('ends with 200, the task and its full result text, woken by the task\'s events without polling the apiserver', async () => {
    const name = `waited-${crypto.randomBytes(3).toString('hex')}`;
    const reads = countReads(name);
    const answer = call('POST', `${tasksOf(nsA.name)}?wait=300`, { token: await tenantA(), body: { name, spec } });
    await waiterSubscribed(name);
    const publisher = runner(name);
    publisher.publish({ type: 'runner.started', attempt: 1 });
    for (let i = 0; i < 20; i++) publisher.publish({ type: 'assistant', message: { content: [{ type: 'text', text: `step ${i}` }] } });
    await waitFor('the events written', async () => publisher.lastSeq === 21, { timeoutMs: 10_000, intervalMs: 20 });
    await setStatus(name, { phase: 'Succeeded', result: 'the whole answer' });
    publisher.publish({ type: 'runner.completed', outcome: 'succeeded', exitCode: 0, message: 'done', result: fullResult, usage: null, sessionId: null });
    await publisher.close(10_000);

    const response = await answer;
    expect(response.status).toBe(200);
    expect(response.json).toMatchObject({ kind: 'ClaudeTask', metadata: { name }, status: { phase: 'Succeeded' }, result: fullResult });
    // 21 wake-ups before the last event, none of which read the task; one read after runner.completed.
    expect(reads.count).toBe(1);
  });

  test('a runner.completed before the operator has set the phase: the phase is read again until it is final', async () => {
    const name = `waited-${crypto.randomBytes(3).toString('hex')}`;
    const answer = call('POST', `${tasksOf(nsA.name)}?wait=300`, { token: await tenantA(), body: { name, spec } });
    await waiterSubscribed(name);
    const publisher = runner(name);
    publisher.publish({ type: 'runner.completed', outcome: 'failed', exitCode: 1, message: 'boom', result: null, usage: null, sessionId: null });
    await publisher.close(10_000);
    await setStatus(name, { phase: 'Running' });
    await setStatus(name, { phase: 'Failed', message: 'boom' });
    const response = await answer;
    expect(response.status).toBe(200);
    expect(response.json).toMatchObject({ metadata: { name }, status: { phase: 'Failed' }, result: null });
  });
});

describe('tenants are kept apart', () => {
  test('tenant A gets 404 for tenant B\'s namespace and task on every route', async () => {
    const b = await tenantB();
    const created = await call('POST', tasksOf(nsB.name), { token: b, body: { name: 'secret-task', spec } });
    expect(created.status).toBe(202);
    const a = await tenantA();
    const task = `${tasksOf(nsB.name)}/secret-task`;
    const attempts = await Promise.all([
      call('GET', task, { token: a }),
      call('GET', tasksOf(nsB.name), { token: a }),
      call('POST', `${task}/cancel`, { token: a }),
      call('DELETE', task, { token: a }),
      call('GET', `${task}/events`, { token: a }),
      call('GET', `${task}/result`, { token: a }),
      call('POST', `${task}/stream-ticket`, { token: a }),
      call('POST', tasksOf(nsB.name), { token: a, body: { spec } }),
    ]);
    for (const attempt of attempts) {
      expect(attempt.status).toBe(404);
      expect(attempt.json.type).toBe('https://claude-operator.io/problems/not-found');
    }
    // Still there, uncancelled, for its own tenant.
    const own = await call('GET', task, { token: b });
    expect(own.status).toBe(200);
    expect((own.json.spec as { cancel?: boolean }).cancel).toBeUndefined();
    // A name that does not exist looks the same as one of another tenant.
    expect((await call('GET', `${tasksOf(nsA.name)}/no-such-task`, { token: a })).status).toBe(404);
  });
});

describe('roles', () => {
  test('a viewer reads but may not create, cancel or delete (403 in its own namespace)', async () => {
    const submitter = await tenantA();
    const created = await call('POST', tasksOf(nsA.name), { token: submitter, body: { spec } });
    const path = created.headers.get('location')!;
    const viewer = await token({ tenant: 'a', namespaces: [nsA.name], role: 'viewer' });
    expect((await call('GET', path, { token: viewer })).status).toBe(200);
    for (const attempt of [
      await call('POST', tasksOf(nsA.name), { token: viewer, body: { spec } }),
      await call('POST', `${path}/cancel`, { token: viewer }),
      await call('DELETE', path, { token: viewer }),
    ]) {
      expect(attempt.status).toBe(403);
      expect(attempt.json.type).toBe('https://claude-operator.io/problems/forbidden');
    }
  });

  test('cancel sets spec.cancel; delete removes the task', async () => {
    const auth = await tenantA();
    const path = (await call('POST', tasksOf(nsA.name), { token: auth, body: { spec } })).headers.get('location')!;
    const cancelled = await call('POST', `${path}/cancel`, { token: auth });
    expect(cancelled.status).toBe(202);
    expect(cancelled.json).toMatchObject({ spec: { cancel: true } });
    expect((await call('DELETE', path, { token: auth })).status).toBe(202);
    await waitFor('the task gone', async () => (await call('GET', path, { token: auth })).status === 404, { timeoutMs: 20_000 });
  });
});

describe('tokens', () => {
  test.each([
    ['no token', async () => undefined],
    ['expired', () => token({ tenant: 'a', namespaces: ['x'] }, { exp: Math.floor(Date.now() / 1000) - 60 })],
    ['wrong key', () => token({ tenant: 'a', namespaces: ['x'] }, { key: crypto.randomBytes(32).toString('hex') })],
    ['alg none', async () => new UnsecuredJWT({ tenant: 'a', namespaces: ['x'], role: 'admin', sub: 'eve' })
      .setIssuer(testIssuer).setAudience(testAudience).setExpirationTime('10m').encode()],
    ['no role', () => token({ tenant: 'a', namespaces: ['x'], role: 'superuser' })],
  ])('%s: 401 problem', async (_what, make) => {
    const bearer = await make();
    const response = await call('GET', tasksOf('x'), bearer ? { token: bearer } : {});
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer');
    expect(response.json.type).toBe('https://claude-operator.io/problems/unauthorized');
  });
});

describe('history', () => {
  test('events and result of a task with no events yet; paginated', async () => {
    const auth = await tenantA();
    const path = (await call('POST', tasksOf(nsA.name), { token: auth, body: { spec } })).headers.get('location')!;
    const events = await call('GET', `${path}/events?after=0&limit=10`, { token: auth });
    expect(events.status).toBe(200);
    expect(events.json).toEqual({ items: [], source: 'redis' });
    expect((await call('GET', `${path}/events?after=-1`, { token: auth })).status).toBe(400);
    const result = await call('GET', `${path}/result`, { token: auth });
    expect(result.json).toEqual({ phase: 'Pending', finished: false, result: null, usage: null, filesChanged: [] });
  });
});

describe('history of a task deleted from Kubernetes, from Postgres', () => {
  test('raw by default; ?view=normalized maps the CLI events, pages by the stored seq', async () => {
    const uid = crypto.randomUUID();
    const name = `gone-${crypto.randomBytes(3).toString('hex')}`;
    await insertTask(api.pool, { uid, namespace: nsA.name, name, phase: 'Succeeded' });
    const events = [
      { type: 'runner.started', attempt: 1 },
      { type: 'assistant', message: { content: [{ type: 'text', text: 'hi' }, { type: 'tool_use', id: 't1', name: 'Bash', input: { command: 'ls' } }] } },
      { type: 'user', message: { content: [{ type: 'tool_result', tool_use_id: 't1', content: 'a.txt' }] } },
      { type: 'result', subtype: 'success', is_error: false, result: 'hi' },
      { type: 'runner.completed', outcome: 'succeeded', exitCode: 0, message: 'done', result: 'hi', usage: null, sessionId: null },
    ];
    for (const [i, data] of events.entries()) {
      await api.pool.query('INSERT INTO claude_task_events (task_uid, seq, type, data, time) VALUES ($1, $2, $3, $4, now())', [uid, i + 1, data.type, JSON.stringify(data)]);
    }
    await api.pool.query('UPDATE claude_tasks SET finalized_at = now() WHERE uid = $1', [uid]);
    const auth = await tenantA();
    const path = `${tasksOf(nsA.name)}/${name}/events`;
    const raw = await call('GET', path, { token: auth });
    expect(raw.status).toBe(200);
    expect(raw.json).toMatchObject({ source: 'postgres', items: events.map((data, i) => ({ seq: i + 1, type: data.type, data })) });

    const normalized = await call('GET', `${path}?view=normalized&limit=3`, { token: auth });
    expect(normalized.status).toBe(200);
    expect((normalized.json.items as Array<Record<string, unknown>>).map((item) => [item.seq, item.type])).toEqual([
      [1, 'progress'], [2, 'message'], [2, 'tool_use'], [3, 'tool_result'],
    ]);
    expect(normalized.json.next).toBe(3);
    const rest = await call('GET', `${path}?view=normalized&after=3`, { token: auth });
    expect(rest.json.items).toEqual([expect.objectContaining({ seq: 5, type: 'complete', outcome: 'succeeded', result: 'hi' })]);
    expect((await call('GET', `${path}?view=other`, { token: auth })).status).toBe(400);
  });
});

describe('operations', () => {
  test('rate limit: 429 with Retry-After past the limit, for that caller only', async () => {
    const noisy = await token({ sub: `noisy-${crypto.randomUUID()}`, tenant: 'a', namespaces: [nsA.name] });
    const statuses: number[] = [];
    let limited;
    for (let i = 0; i < rateLimit + 2; i++) {
      const response = await call('GET', tasksOf(nsA.name) + '?limit=1', { token: noisy });
      statuses.push(response.status);
      if (i === 0) expect(response.headers.get('ratelimit')).toMatch(new RegExp(`^"default";r=${rateLimit - 1};t=\\d+$`));
      if (response.status === 429) limited = response;
    }
    expect(statuses.slice(0, rateLimit).every((s) => s === 200)).toBe(true);
    expect(statuses.slice(rateLimit)).toEqual([429, 429]);
    expect(Number(limited!.headers.get('retry-after'))).toBeGreaterThan(0);
    // draft-ietf-httpapi-ratelimit-headers: the policy, and what is left of it.
    expect(limited!.headers.get('ratelimit-policy')).toBe(`"default";q=${rateLimit};w=60`);
    expect(limited!.headers.get('ratelimit')).toMatch(/^"default";r=0;t=\d+$/);
    expect(limited!.json.type).toBe('https://claude-operator.io/problems/rate-limited');
    expect((await call('GET', tasksOf(nsA.name), { token: await tenantA() })).status).toBe(200);
  });

  test('audit rows for mutations, with who, tenant, what, target and outcome', async () => {
    const sub = `audited-${crypto.randomUUID()}`;
    const auth = await token({ sub, tenant: 'a', namespaces: [nsA.name] });
    const created = await call('POST', tasksOf(nsA.name), { token: auth, body: { spec } });
    const name = (created.json.metadata as { name: string }).name;
    await call('POST', `${tasksOf(nsA.name)}/${name}/cancel`, { token: auth });
    await call('POST', tasksOf(nsA.name), { token: auth, body: { spec: {} } });
    await call('GET', tasksOf(nsA.name), { token: auth });
    let rows: Array<Record<string, unknown>> = [];
    await waitFor('3 completed audit rows', async () => {
      rows = (await api.pool.query('SELECT * FROM api_audit WHERE subject = $1 ORDER BY id', [sub])).rows;
      return rows.length >= 3 && rows.every((row) => row.completed_at !== null);
    }, { timeoutMs: 10_000 });
    expect(rows.map((r) => [r.action, r.tenant, r.namespace, r.name, r.status, r.outcome])).toEqual([
      ['task.create', 'a', nsA.name, name, 202, 'success'],
      ['task.cancel', 'a', nsA.name, name, 202, 'success'],
      ['task.create', 'a', nsA.name, null, 400, 'rejected'],
    ]);
    expect(rows[0]).toMatchObject({ method: 'POST', role: 'submitter', request_id: expect.any(String) });
  });

  test('unknown route: 404 problem; /healthz, /readyz, /metrics, openapi.json', async () => {
    const unknown = await call('GET', '/api/v1/nothing-here', { token: await tenantA() });
    expect(unknown.status).toBe(404);
    expect(unknown.json.type).toBe('https://claude-operator.io/problems/not-found');
    expect((await call('GET', '/nothing')).status).toBe(404);
    expect((await call('GET', '/healthz')).status).toBe(200);
    const ready = await call('GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.json).toEqual({ ready: true, checks: { kubernetes: 'ok', postgres: 'ok', redis: 'ok' } });
    expect((await call('GET', '/metrics')).text).toMatch(/^claude_operator_api_requests_total\{/m);
    const doc = await call('GET', '/api/v1/openapi.json');
    expect(doc.json.openapi).toBe('3.1.0');
  });

  test('CORS: a preflight from a configured origin is answered; another origin gets no CORS fields', async () => {
    const preflight = (origin: string) => call('OPTIONS', tasksOf(nsA.name), { headers: {
      origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type,idempotency-key',
    } });
    const allowed = await preflight(appOrigin);
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe(appOrigin);
    expect(allowed.headers.get('access-control-allow-methods')).toBe('GET, POST, DELETE');
    expect(allowed.headers.get('access-control-allow-headers')?.toLowerCase().split(', ')).toEqual(
      expect.arrayContaining(['authorization', 'content-type', 'idempotency-key']));
    expect(allowed.headers.get('access-control-allow-credentials')).toBeNull();
    expect(allowed.headers.get('vary')).toMatch(/Origin/);
    const other = await preflight('https://evil.example');
    expect(other.status).toBe(204);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    expect(other.headers.get('access-control-allow-methods')).toBeNull();

    const auth = await tenantA();
    const fromApp = await call('GET', tasksOf(nsA.name), { token: auth, headers: { origin: appOrigin } });
    expect(fromApp.status).toBe(200);
    expect(fromApp.headers.get('access-control-allow-origin')).toBe(appOrigin);
    expect(fromApp.headers.get('access-control-expose-headers')).toMatch(/\bLocation\b.*\bRateLimit\b/);
    const fromElsewhere = await call('GET', tasksOf(nsA.name), { token: auth, headers: { origin: 'https://evil.example' } });
    expect(fromElsewhere.status).toBe(200);
    expect(fromElsewhere.headers.get('access-control-allow-origin')).toBeNull();
    // Errors too carry the field, so a page can read the problem.
    const unauthenticated = await call('GET', tasksOf(nsA.name), { headers: { origin: appOrigin } });
    expect(unauthenticated.status).toBe(401);
    expect(unauthenticated.headers.get('access-control-allow-origin')).toBe(appOrigin);
  });

  test('X-Request-Id is passed through', async () => {
    const response = await call('GET', '/healthz', { headers: { 'x-request-id': 'abc-123' } });
    expect(response.headers.get('x-request-id')).toBe('abc-123');
  });
});
