// A session's event WebSocket through the API server, against the test bed's
// apiserver, Postgres and Redis. The test plays the runner (events with their
// messageId on the session's stream) and the operator (copies turns into
// Postgres): a replay starts in Postgres, goes on in Redis and then follows live,
// without a gap or a duplicate across the switches and across a reconnect.
import crypto from 'node:crypto';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { Redis } from 'ioredis';
import { claudeSessionPlural } from '../../../crds/src/claude-session.ts';
import { group, version } from '../../../crds/src/claude-task.ts';
import type { ApiServer } from '../server.ts';
import { follow, UpgradeRefused, type ReceivedMessage } from '../stream/testing.ts';
import { callApi, startTestApi, token } from '../test-support.ts';
import { bedSetting, createTestNamespace, kubeConfig, waitFor, type TestNamespace } from '../../../test/support/cluster.ts';
import { FakeSessionRunner } from './testing.ts';

let api: ApiServer;
let ns: TestNamespace;
/** The runner's own connection: its blocking XREADGROUP must not hold up the API's commands. */
let runnerRedis: Redis;

beforeAll(async () => {
  ({ api } = await startTestApi({ RATE_LIMIT_REQUESTS: '10000' }));
  ns = await createTestNamespace('session-stream');
  runnerRedis = new Redis(bedSetting('REDIS_URL'));
});

afterAll(async () => {
  runnerRedis?.disconnect();
  await api?.close();
  await ns?.delete();
});

const auth = () => token({ sub: 'alice', tenant: 'a', namespaces: [ns.name], role: 'submitter' });

async function newSession(bearer: string) {
  const name = `s-${crypto.randomBytes(4).toString('hex')}`;
  const created = await callApi(api.url, 'POST', `/api/v1/namespaces/${ns.name}/sessions`, { token: bearer, body: { name, spec: {} } });
  expect(created.status).toBe(202);
  const uid = (created.json.metadata as { uid: string }).uid;
  return { name, runner: new FakeSessionRunner({ redis: runnerRedis, pool: api.pool, namespace: ns.name, name, uid }) };
}

const streamUrl = (name: string, query = '') => `${api.url.replace(/^http/, 'ws')}/api/v1/namespaces/${ns.name}/sessions/${name}/stream${query}`;

async function send(bearer: string, name: string, text: string): Promise<void> {
  const sent = await callApi(api.url, 'POST', `/api/v1/namespaces/${ns.name}/sessions/${name}/messages?async=true`, { token: bearer, body: { text } });
  expect(sent.status).toBe(202);
}

function expectGapFree(messages: ReceivedMessage[], last: number): void {
  expect(messages.map((m) => m.seq)).toEqual(Array.from({ length: last }, (_, i) => i + 1));
}

test('replay from Postgres, then Redis, then live; a reconnect with from= mid-way: no gap, no duplicate, each turn\'s events with their messageId', async () => {
  const bearer = await auth();
  const { name, runner } = await newSession(bearer);
  await send(bearer, name, 'first');
  await send(bearer, name, 'second');
  await send(bearer, name, 'third');
  const [first, second, third] = await runner.take(3, 10_000);
  await runner.publish({ type: 'runner.started', namespace: ns.name, name, uid: runner.uid, attempt: 1 });
  // Turn 1 (seq 2..63) is copied to Postgres, and Redis keeps only its last 10 events.
  await runner.answer(first!, { steps: 60 });
  await api.redis.xtrim(runner.events, 'MAXLEN', 10);

  // A client reads part of the replay and goes away (what it had taken by then is its last seq).
  const a = follow(streamUrl(name), { token: bearer, onMessage: (message, ws) => message.seq === 40 && ws.close() });
  await a.opened;
  await a.closed;
  const resumeFrom = a.messages.at(-1)!.seq;
  expect(resumeFrom).toBeGreaterThanOrEqual(40);
  // Meanwhile turn 2, in Redis only.
  const turn2 = await runner.runTurn(second!, { steps: 30 });

  const b = follow(streamUrl(name, `?from=${resumeFrom}`), { token: bearer });
  await b.opened;
  await waitFor('the replay done', async () => b.messages.at(-1)?.seq === turn2.completed.seq, { timeoutMs: 10_000, intervalMs: 20 });
  // Live: turn 3 while the client follows.
  const turn3 = await runner.runTurn(third!, { steps: 20 });
  await waitFor('the live turn sent', async () => b.messages.at(-1)?.seq === turn3.completed.seq, { timeoutMs: 10_000, intervalMs: 20 });

  const all = [...a.messages, ...b.messages];
  expectGapFree(all, turn3.completed.seq);
  expect(all[0]).toEqual(expect.objectContaining({ seq: 1, type: 'runner.started' }));
  expect(all[0]).not.toHaveProperty('messageId');
  for (const [message, turn] of [[first!, 1], [second!, 2], [third!, 3]] as const) {
    const ofTurn = all.filter((m) => m.messageId === message.messageId);
    expect(ofTurn.at(0)?.type).toBe('runner.turn_started');
    expect(ofTurn.at(-1)).toMatchObject({ type: 'runner.turn_completed', data: { messageId: message.messageId } });
    expect(ofTurn).toHaveLength([62, 32, 22][turn - 1]!);
  }

  // The session is closed for good: the stream ends normally.
  await kubeConfig().makeApiClient(CustomObjectsApi).patchNamespacedCustomObjectStatus({
    group, version, namespace: ns.name, plural: claudeSessionPlural, name, body: { status: { phase: 'Archived' } },
  }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
  expect(await b.closed).toEqual({ code: 1000, reason: 'session finished' });
});

test('view=normalized carries the messageId too; a session\'s stream ticket opens it, a task\'s ticket of the same name does not', async () => {
  const bearer = await auth();
  const { name, runner } = await newSession(bearer);
  await send(bearer, name, 'hello');
  const [message] = await runner.take(1, 10_000);
  const turn = await runner.runTurn(message!, { steps: 1 });

  const normalized = follow(streamUrl(name, '?view=normalized'), { token: bearer });
  await waitFor('the assistant\'s text sent', async () => normalized.messages.some((m) => m.type === 'message'), { timeoutMs: 10_000, intervalMs: 20 });
  normalized.ws.close();
  expect(normalized.messages.find((m) => m.type === 'message')).toMatchObject({ seq: 2, messageId: message!.messageId, text: 'step 0' });

  const ticket = await callApi(api.url, 'POST', `/api/v1/namespaces/${ns.name}/sessions/${name}/stream-ticket`, { token: bearer });
  expect(ticket.status).toBe(201);
  const withTicket = follow(streamUrl(name, `?ticket=${ticket.json.ticket as string}`));
  await withTicket.opened;
  await waitFor('the events sent', async () => withTicket.messages.length === turn.completed.seq, { timeoutMs: 10_000, intervalMs: 20 });
  withTicket.ws.close();

  const caller = { subject: 'alice', tenant: 'a', namespaces: [ns.name], role: 'submitter' as const };
  const taskTicket = await api.deps.tickets!.issue(caller, { namespace: ns.name, name });
  const refused = follow(streamUrl(name, `?ticket=${taskTicket.ticket}`));
  const error = await refused.opened.then(() => undefined, (reason: unknown) => reason);
  expect(error).toBeInstanceOf(UpgradeRefused);
  expect((error as UpgradeRefused).status).toBe(401);
  const unknown = follow(streamUrl('no-such-session'), { token: bearer });
  expect(await unknown.opened.then(() => 0, (reason: UpgradeRefused) => reason.status)).toBe(404);
});
