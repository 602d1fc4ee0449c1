// Redis is not the record. A task runs (the real CLI in a pod, the operator, the
// API with a WebSocket follower); mid-task its Redis is SIGKILLed and comes
// back empty, as a Redis without persistence does. The task still succeeds,
// Postgres holds every event, seq 1..n without a gap, and a follower that
// reconnects with its last seq (api/README.md) received exactly that history.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import type pg from 'pg';
import type { ClaudeTask } from '../../crds/src/claude-task.ts';
import { startTestApi, token } from '../../api/src/test-support.ts';
import type { ApiServer } from '../../api/src/server.ts';
import { follow, type ReceivedMessage } from '../../api/src/stream/testing.ts';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { kubeConfig, waitFor, type TestNamespace } from '../support/cluster.ts';
import { startOwnRedis, type OwnRedis } from '../support/own-redis.ts';
import { setUpTaskFixture, type TaskFixture } from './support/task-fixture.ts';

let redis: OwnRedis;
let fixture: TaskFixture | undefined;
let ns: TestNamespace;
let db: pg.Client;
let api: ApiServer;
let bearer: string;

beforeAll(async () => {
  redis = await startOwnRedis();
  fixture = await setUpTaskFixture('redis-restart', { redisUrl: redis.url });
  ({ ns, db } = fixture);
  await fixture.operator.start();
  ({ api } = await startTestApi({ REDIS_URL: redis.url }));
  bearer = await token({ tenant: 'team-a', namespaces: [ns.name], role: 'submitter' });
});

afterAll(async () => {
  await api?.close();
  await fixture?.close();
  await redis?.close();
});

/** Follows from `from`, and after any close but a normal one (1000) reconnects with its last seq. */
async function followToTheEnd(name: string): Promise<{ messages: ReceivedMessage[]; reconnects: number }> {
  const messages: ReceivedMessage[] = [];
  let reconnects = 0;
  for (;;) {
    const from = messages.at(-1)?.seq ?? 0;
    const client = follow(`${api.url.replace('http', 'ws')}/api/v1/namespaces/${ns.name}/tasks/${name}/stream?from=${from}`, { token: bearer });
    const opened = await client.opened.then(() => true, () => false);
    const closed = opened ? await client.closed : { code: 0, reason: 'refused' };
    messages.push(...client.messages);
    if (closed.code === 1000) return { messages, reconnects };
    reconnects++;
    if (reconnects > 200) throw new Error(`gave up reconnecting; last close ${closed.code} ${closed.reason}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function storedEvents(uid: string): Promise<Array<{ seq: number; type: string; data: unknown }>> {
  const { rows } = await db.query('SELECT seq, type, data FROM claude_task_events WHERE task_uid = $1 ORDER BY seq', [uid]);
  return rows.map((row) => ({ seq: Number(row.seq), type: String(row.type), data: row.data }));
}

test('Redis SIGKILLed and restarted empty mid-task: Succeeded, and Postgres and the follower have every event once', async () => {
  const created = await fetch(`${api.url}/api/v1/namespaces/${ns.name}/tasks`, {
    method: 'POST', headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
    // The Bash tool sleeps: events before it (init, the tool call), Redis dies meanwhile, events after it.
    body: JSON.stringify({ name: 'survives-redis', spec: { prompt: 'survives-redis [[scenario:bash {"command":"sleep 6; echo slept"}]]' } }),
  });
  expect(created.status).toBe(202);
  const following = followToTheEnd('survives-redis');

  const custom = kubeConfig().makeApiClient(CustomObjectsApi);
  const get = async () => await custom.getNamespacedCustomObject({
    group: 'claude-operator.io', version: 'v1alpha1', namespace: ns.name, plural: 'claudetasks', name: 'survives-redis' }) as ClaudeTask;
  let uid = '';
  await waitFor('the tool call copied to Postgres', async () => {
    uid = (await get()).metadata.uid ?? '';
    return uid !== '' && (await storedEvents(uid)).some((event) => event.type === 'assistant');
  }, { timeoutMs: 90_000, intervalMs: 100 });
  const before = (await storedEvents(uid)).length;

  await redis.kill();
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  await redis.restart({ empty: true });

  await waitFor('the task Succeeded', async () => (await get()).status?.phase === 'Succeeded', { timeoutMs: 120_000 });
  const { messages, reconnects } = await following;
  await waitFor('the record final in Postgres', async () =>
    (await db.query('SELECT finalized_at FROM claude_tasks WHERE uid = $1', [uid])).rows[0]?.finalized_at != null);

  const stored = await storedEvents(uid);
  expect(stored.length).toBeGreaterThan(before);
  expect(stored.map((event) => event.seq)).toEqual(stored.map((_event, i) => i + 1));
  expect(stored[0]?.type).toBe('runner.started');
  expect(stored.at(-1)).toMatchObject({ type: 'runner.completed', data: { outcome: 'succeeded' } });
  expect(stored.filter((event) => event.type === 'user').length).toBeGreaterThan(0); // the tool result, after the restart
  expect(messages.map((m) => ({ seq: m.seq, type: m.type, data: m.data }))).toEqual(stored);
  // Redis really came back empty: what it holds now starts after what was copied before the kill.
  const [first] = await fixture!.redis.xrange(`claude-operator:task:${ns.name}/survives-redis:events`, '-', '+', 'COUNT', 1);
  expect(Number(first?.[1][first[1].indexOf('seq') + 1])).toBeGreaterThan(before);
  console.log(`follower reconnects: ${reconnects}`);
});
