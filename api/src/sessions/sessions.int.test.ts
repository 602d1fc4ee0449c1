// Sessions and their messages through the API, in-process against the test bed's
// apiserver, Postgres and Redis. No operator and no runner: the test plays both
// (testing.ts), so a session stays Pending unless the test sets its status.
import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { Redis } from 'ioredis';
import { claudeSessionPlural } from '../../../crds/src/claude-session.ts';
import { group, version } from '../../../crds/src/claude-task.ts';
import { sessionControlChannel, sessionWakeChannel } from '../../../packages/contracts/src/session-stream.ts';
import type { ApiServer } from '../server.ts';
import { callApi, startTestApi, token, type CallOptions } from '../test-support.ts';
import { bedSetting, createTestNamespace, kubeConfig, waitFor, type TestNamespace } from '../../../test/support/cluster.ts';
import { FakeSessionRunner } from './testing.ts';

let api: ApiServer;
let ns: TestNamespace;
let other: TestNamespace;
/** The runner's own connection: its blocking XREADGROUP must not hold up the API's commands. */
let runnerRedis: Redis;
const spec = { maxTurns: 3, idleTimeoutSeconds: 60 };

beforeAll(async () => {
  // No safety reads while a message waits: only the session's events (and the answer in Postgres) end a wait.
  ({ api } = await startTestApi({ WAIT_RECHECK_SECONDS: '3600', RATE_LIMIT_REQUESTS: '10000' }));
  [ns, other] = await Promise.all([createTestNamespace('sessions'), createTestNamespace('sessions-other')]);
  runnerRedis = new Redis(bedSetting('REDIS_URL'));
});

afterAll(async () => {
  runnerRedis?.disconnect();
  await api?.close();
  await Promise.all([ns?.delete(), other?.delete()]);
});

const submitter = () => token({ sub: 'alice', tenant: 'a', namespaces: [ns.name], role: 'submitter' });
const call = (method: string, path: string, options: CallOptions = {}) => callApi(api.url, method, path, options);
const sessionsOf = (namespace: string) => `/api/v1/namespaces/${namespace}/sessions`;

/** A session made through the API, and the test's runner for it. */
async function newSession(auth: string) {
  const name = `s-${crypto.randomBytes(4).toString('hex')}`;
  const created = await call('POST', sessionsOf(ns.name), { token: auth, body: { name, spec } });
  expect(created.status).toBe(202);
  const uid = (created.json.metadata as { uid: string }).uid;
  const runner = new FakeSessionRunner({ redis: runnerRedis, pool: api.pool, namespace: ns.name, name, uid });
  return { name, uid, path: `${sessionsOf(ns.name)}/${name}`, runner };
}

async function setPhase(name: string, phase: string): Promise<void> {
  await kubeConfig().makeApiClient(CustomObjectsApi).patchNamespacedCustomObjectStatus({
    group, version, namespace: ns.name, plural: claudeSessionPlural, name, body: { status: { phase } },
  }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
}

describe('sessions', () => {
  test('create 202 with Location; get; list filtered and paginated; delete', async () => {
    const auth = await submitter();
    const created = await call('POST', sessionsOf(ns.name), { token: auth, body: { spec, labels: { team: 'x' } } });
    expect(created.status).toBe(202);
    const name = (created.json.metadata as { name: string }).name;
    expect(name).toMatch(/^session-/);
    expect(created.headers.get('location')).toBe(`${sessionsOf(ns.name)}/${name}`);
    expect(created.json).toMatchObject({ kind: 'ClaudeSession', spec, status: { phase: 'Pending' }, metadata: { labels: { team: 'x' } } });
    expect((await call('GET', created.headers.get('location')!, { token: auth })).json).toMatchObject({ metadata: { name, namespace: ns.name } });
    await call('POST', sessionsOf(ns.name), { token: auth, body: { spec, labels: { team: 'x' } } });
    await call('POST', sessionsOf(ns.name), { token: auth, body: { spec, labels: { team: 'x' } } });

    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await call('GET', `${sessionsOf(ns.name)}?labelSelector=team%3Dx&phase=Pending&limit=2${cursor ? `&cursor=${cursor}` : ''}`, { token: auth });
      expect(page.status).toBe(200);
      expect((page.json.items as unknown[]).length).toBeLessThanOrEqual(2);
      seen.push(...(page.json.items as Array<{ metadata: { name: string } }>).map((s) => s.metadata.name));
      cursor = page.json.next as string | undefined;
    } while (cursor);
    expect(seen).toHaveLength(3);
    expect(new Set(seen).size).toBe(3);
    expect(seen).toContain(name);
    expect((await call('GET', `${sessionsOf(ns.name)}?phase=Busy`, { token: auth })).json.items).toEqual([]);
    expect((await call('GET', `${sessionsOf(ns.name)}?phase=Running`, { token: auth })).status).toBe(400);

    expect((await call('DELETE', `${sessionsOf(ns.name)}/${name}`, { token: auth })).status).toBe(202);
    await waitFor('the session gone', async () => (await call('GET', `${sessionsOf(ns.name)}/${name}`, { token: auth })).status === 404, { timeoutMs: 20_000 });
  });

  test('validation from the model: 400 with the issues; a name twice is 409', async () => {
    const auth = await submitter();
    const bad = await call('POST', sessionsOf(ns.name), { token: auth, body: { spec: { idleTimeoutSeconds: 1, bogus: true }, extra: 1 } });
    expect(bad.status).toBe(400);
    expect(bad.json.type).toBe('https://claude-operator.io/problems/validation-error');
    expect(bad.json.issues!.map((i) => i.path)).toEqual(expect.arrayContaining(['body.spec.idleTimeoutSeconds', 'body']));
    expect((await call('POST', sessionsOf(ns.name), { token: auth, body: { name: 'x'.repeat(53), spec } })).status).toBe(400);
    expect((await call('POST', sessionsOf(ns.name), { token: auth, body: { name: 'twice', spec } })).status).toBe(202);
    expect((await call('POST', sessionsOf(ns.name), { token: auth, body: { name: 'twice', spec } })).status).toBe(409);
  });

  test('another tenant\'s sessions do not exist (404 on every route); a viewer may not change them (403)', async () => {
    const auth = await submitter();
    const { path } = await newSession(auth);
    const outsider = await token({ tenant: 'b', namespaces: [other.name], role: 'admin' });
    for (const attempt of await Promise.all([
      call('GET', path, { token: outsider }),
      call('GET', sessionsOf(ns.name), { token: outsider }),
      call('DELETE', path, { token: outsider }),
      call('POST', `${path}/messages`, { token: outsider, body: { text: 'hi' } }),
      call('GET', `${path}/messages`, { token: outsider }),
      call('POST', `${path}/interrupt`, { token: outsider }),
      call('POST', `${path}/stream-ticket`, { token: outsider }),
    ])) expect([attempt.status, attempt.json.type]).toEqual([404, 'https://claude-operator.io/problems/not-found']);
    const viewer = await token({ tenant: 'a', namespaces: [ns.name], role: 'viewer' });
    expect((await call('GET', path, { token: viewer })).status).toBe(200);
    for (const attempt of [
      await call('POST', `${path}/messages`, { token: viewer, body: { text: 'hi' } }),
      await call('POST', `${path}/interrupt`, { token: viewer }),
      await call('DELETE', path, { token: viewer }),
    ]) expect(attempt.status).toBe(403);
  });
});

describe('messages', () => {
  test('404 unknown session, 409 Archived or Failed, 413 above the limit in UTF-8 bytes, 400 a bad body', async () => {
    const auth = await submitter();
    expect((await call('POST', `${sessionsOf(ns.name)}/no-such-session/messages`, { token: auth, body: { text: 'hi' } })).status).toBe(404);
    const { name, path } = await newSession(auth);
    // 60,000 characters, 120,000 bytes: over the 102,400-byte limit though under it in characters.
    const big = await call('POST', `${path}/messages`, { token: auth, body: { text: 'é'.repeat(60_000) } });
    expect([big.status, big.json.type]).toEqual([413, 'https://claude-operator.io/problems/payload-too-large']);
    for (const body of [{}, { text: '' }, { text: 'hi', extra: true }, { text: 42 }]) {
      const bad = await call('POST', `${path}/messages`, { token: auth, body });
      expect([bad.status, bad.json.type]).toEqual([400, 'https://claude-operator.io/problems/validation-error']);
    }
    expect((await call('POST', `${path}/messages`, { token: auth, raw: '{"text":', headers: { 'content-type': 'application/json' } })).status).toBe(400);
    expect((await call('POST', `${path}/messages`, { token: auth, body: { text: 'hi' }, headers: { 'idempotency-key': 'two words' } })).status).toBe(400);
    for (const phase of ['Failed', 'Archived']) {
      await setPhase(name, phase);
      const closed = await call('POST', `${path}/messages?async=true`, { token: auth, body: { text: 'hi' } });
      expect([closed.status, closed.json.type]).toEqual([409, 'https://claude-operator.io/problems/conflict']);
    }
    // None of these was stored.
    expect((await call('GET', `${path}/messages`, { token: auth })).json.items).toEqual([]);
  });

  test('the answer comes back synchronously: 200 with the state, result, usage, stop reason and seq range', async () => {
    const auth = await submitter();
    const { path, runner, uid } = await newSession(auth);
    const wakes = await subscribe(sessionWakeChannel);
    const answer = call('POST', `${path}/messages`, { token: auth, body: { text: 'what is 2+2?' } });
    const [message] = await runner.take(1, 10_000);
    expect(message).toMatchObject({ messageId: expect.stringMatching(/^msg_[0-9a-f]{32}$/), text: 'what is 2+2?' });
    // Postgres first: the message is stored before it is in the inbox; the operator was woken.
    expect((await api.pool.query('SELECT state FROM claude_session_messages WHERE session_uid = $1', [uid])).rows).toEqual([{ state: 'accepted' }]);
    await waitFor('the operator woken', async () => wakes.messages.includes(`${ns.name}/${runner.name}`), { timeoutMs: 5_000, intervalMs: 20 });
    await wakes.close();
    const turn = await runner.answer(message!, { result: '4' });
    const response = await answer;
    expect(response.status).toBe(200);
    expect(response.json).toEqual({
      messageId: message!.messageId, state: 'answered', result: '4', stopReason: 'success', error: null,
      usage: expect.objectContaining({ inputTokens: 10, outputTokens: 5, turns: 1 }), firstSeq: turn.events[0]!.seq, lastSeq: turn.completed.seq,
    });
  });

  test('?async=true: 202 with Location at once; GET shows it accepted, then answered', async () => {
    const auth = await submitter();
    const { path, runner } = await newSession(auth);
    const sent = await call('POST', `${path}/messages?async=true`, { token: auth, body: { text: 'later' } });
    expect(sent.status).toBe(202);
    const location = sent.headers.get('location')!;
    expect(location).toBe(`${path}/messages/${sent.json.messageId as string}`);
    expect(sent.json).toMatchObject({ state: 'accepted', text: 'later', result: null, requestedBy: 'alice' });
    expect((await call('GET', location, { token: auth })).json).toMatchObject({ state: 'accepted' });
    const [message] = await runner.take(1, 10_000);
    await runner.answer(message!, { result: 'done' });
    expect((await call('GET', location, { token: auth })).json).toMatchObject({ messageId: sent.json.messageId, state: 'answered', result: 'done' });
    expect((await call('GET', `${path}/messages/msg_${'0'.repeat(32)}`, { token: auth })).status).toBe(404);
    expect((await call('GET', `${path}/messages/not-an-id`, { token: auth })).status).toBe(404);
  });

  test('Idempotency-Key: a retry gets the same message and its answer; one message stored and in the inbox; another text is 422', async () => {
    const auth = await submitter();
    const { path, runner, uid } = await newSession(auth);
    const send = (query = '') => call('POST', `${path}/messages${query}`, { token: auth, body: { text: 'once' }, headers: { 'idempotency-key': '"k-1"' } });
    const first = send();
    const [message] = await runner.take(1, 10_000);
    // The client retries while the first call still waits (its message is not answered yet): the same message, not a 409 or a second one.
    const during = await send('?async=true');
    expect([during.status, during.json.messageId, during.json.state, during.headers.get('idempotent-replayed')])
      .toEqual([202, message!.messageId, 'accepted', 'true']);
    const retry = send();
    await runner.answer(message!, { result: 'only once' });
    const [a, b] = await Promise.all([first, retry]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(a.json).toEqual(b.json);
    expect(a.json).toMatchObject({ messageId: message!.messageId, result: 'only once' });
    expect(b.headers.get('idempotent-replayed')).toBe('true');
    // After the answer, a retry gets it at once.
    const late = await send();
    expect([late.status, late.json.result, late.headers.get('idempotent-replayed')]).toEqual([200, 'only once', 'true']);
    expect((await api.pool.query('SELECT count(*)::int AS n FROM claude_session_messages WHERE session_uid = $1', [uid])).rows[0].n).toBe(1);
    expect(await api.redis.xlen(runner.inbox)).toBe(1);
    const reused = await call('POST', `${path}/messages`, { token: auth, body: { text: 'something else' }, headers: { 'idempotency-key': '"k-1"' } });
    expect([reused.status, reused.json.type]).toEqual([422, 'https://claude-operator.io/problems/idempotency-key-reused']);
  });

  test('five messages sent at once are all accepted, in the inbox in the order Postgres numbered them, and answered one at a time', async () => {
    const auth = await submitter();
    const { path, runner } = await newSession(auth);
    const texts = ['one', 'two', 'three', 'four', 'five'];
    const answers = Promise.all(texts.map((text) => call('POST', `${path}/messages`, { token: auth, body: { text } })));
    const order: string[] = [];
    while (order.length < texts.length) {
      const [message] = await runner.take(1, 10_000);
      if (!message) continue;
      order.push(message.messageId);
      await runner.answer(message, { result: `answer to ${message.text}` });
    }
    const responses = await answers;
    for (const [i, response] of responses.entries()) {
      expect(response.status).toBe(200);
      expect(response.json).toMatchObject({ state: 'answered', result: `answer to ${texts[i]}` });
    }
    expect(new Set(order).size).toBe(5);
    const listed = (await call('GET', `${path}/messages`, { token: auth })).json.items as Array<{ messageId: string; firstSeq: number }>;
    expect(listed.map((m) => m.messageId)).toEqual(order);
    const firstSeqs = listed.map((m) => m.firstSeq);
    expect([...firstSeqs].sort((x, y) => x - y)).toEqual(firstSeqs);
  });

  test('GET …/messages pages with a cursor, in order, without duplicates; a bad cursor is 400', async () => {
    const auth = await submitter();
    const { path } = await newSession(auth);
    const sent: string[] = [];
    for (let i = 0; i < 7; i++) sent.push((await call('POST', `${path}/messages?async=true`, { token: auth, body: { text: `m${i}` } })).json.messageId as string);
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await call('GET', `${path}/messages?limit=3${cursor ? `&cursor=${cursor}` : ''}`, { token: auth });
      expect(page.status).toBe(200);
      seen.push(...(page.json.items as Array<{ messageId: string }>).map((m) => m.messageId));
      cursor = page.json.next as string | undefined;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual(sent);
    expect((await call('GET', `${path}/messages?limit=3&cursor=bogus`, { token: auth })).status).toBe(400);
    const wrongLimit = (await call('GET', `${path}/messages?limit=3`, { token: auth })).json.next as string;
    expect((await call('GET', `${path}/messages?limit=4&cursor=${wrongLimit}`, { token: auth })).status).toBe(400);
  });

  test('a client that goes away during the wait loses nothing: the message is answered and readable', async () => {
    const auth = await submitter();
    const { path, runner } = await newSession(auth);
    const controller = new AbortController();
    const gone = call('POST', `${path}/messages`, { token: auth, body: { text: 'are you there?' }, signal: controller.signal });
    const [message] = await runner.take(1, 10_000);
    controller.abort();
    await expect(gone).rejects.toThrow();
    await runner.answer(message!, { result: 'yes' });
    expect((await call('GET', `${path}/messages/${message!.messageId}`, { token: auth })).json).toMatchObject({ state: 'answered', result: 'yes' });
  });

  test('interrupt: {"type":"interrupt"} on the control channel, answered with the turn in flight', async () => {
    const auth = await submitter();
    const { path, runner } = await newSession(auth);
    expect((await call('POST', `${path}/interrupt`, { token: auth })).json).toMatchObject({ activeTurn: null, delivered: false });
    const sent = await call('POST', `${path}/messages?async=true`, { token: auth, body: { text: 'a long job' } });
    const [message] = await runner.take(1, 10_000);
    await runner.publish({ type: 'runner.turn_started', messageId: message!.messageId, delivery: 1, textLength: 10 }, message!.messageId);
    const control = await subscribe(sessionControlChannel(ns.name, runner.name));
    const interrupted = await call('POST', `${path}/interrupt`, { token: auth });
    expect(interrupted.status).toBe(202);
    expect(interrupted.json).toEqual({ namespace: ns.name, name: runner.name, activeTurn: sent.json.messageId, delivered: true });
    await waitFor('the interrupt heard', async () => control.messages.length === 1, { timeoutMs: 5_000, intervalMs: 20 });
    expect(JSON.parse(control.messages[0]!)).toEqual({ type: 'interrupt' });
    await control.close();
  });
});

describe('a wait past the limit', () => {
  let shortWait: ApiServer;
  beforeAll(async () => ({ api: shortWait } = await startTestApi({ MESSAGE_WAIT_SECONDS: '1', WAIT_RECHECK_SECONDS: '3600' })));
  afterAll(async () => shortWait?.close());

  test('ends in 202 with the Location of the message, which is answered later', async () => {
    const auth = await submitter();
    const { path, runner } = await newSession(auth);
    const response = await callApi(shortWait.url, 'POST', `${path}/messages`, { token: auth, body: { text: 'slow' } });
    expect(response.status).toBe(202);
    expect(response.json).toMatchObject({ state: 'accepted', text: 'slow' });
    const [message] = await runner.take(1, 10_000);
    expect(response.headers.get('location')).toBe(`${path}/messages/${message!.messageId}`);
    await runner.answer(message!, { result: 'eventually' });
    expect((await call('GET', response.headers.get('location')!, { token: auth })).json).toMatchObject({ state: 'answered', result: 'eventually' });
  });
});

/** A Pub/Sub subscriber of its own, keeping every message. */
async function subscribe(channel: string): Promise<{ messages: string[]; close(): Promise<void> }> {
  const redis = new Redis(bedSetting('REDIS_URL'));
  const messages: string[] = [];
  redis.on('message', (_channel: string, message: string) => messages.push(message));
  await redis.subscribe(channel);
  return { messages, close: async () => { redis.disconnect(); } };
}
