// The task event WebSocket against the bed's real Redis and Postgres, with events
// written by the runner's own EventPublisher.
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import type { Caller } from '../auth/caller.ts';
import { EventPublisher } from '../../../runner/src/event-publisher.ts';
import { workloadStreamKeys } from '../../../packages/contracts/src/event-stream.ts';
import type { TaskEvent } from '../../../packages/contracts/src/task-events.ts';
import { migrate } from '../../../packages/database/src/migrate.ts';
import { waitFor } from '../../../test/bed/process.ts';
import { problemTypeBase } from '../http/problem.ts';
import { RedisRateLimiter } from '../http/rate-limit.ts';
import { streamReaderConnectionName } from './stream-reader.ts';
import {
  copyStreamToHistory, follow, insertTask, setPhase, startStreamStack, UpgradeRefused, type ReceivedMessage, type StreamStack,
} from './testing.ts';

const logger = pino({ level: process.env.STREAM_TEST_LOG ?? 'silent' });
const namespace = `stream-${randomBytes(3).toString('hex')}`;
const otherNamespace = `${namespace}-other`;
const caller: Caller = { subject: 'alice', tenant: 'a', namespaces: [namespace], role: 'viewer' };
const outsider: Caller = { subject: 'bob', tenant: 'b', namespaces: [otherNamespace], role: 'admin' };
const token = 'alice-token';

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this through jest, whose global setup starts the test bed`);
  return value;
}

let stack: StreamStack;
const publishers: EventPublisher[] = [];

beforeAll(async () => {
  await migrate(env('DATABASE_URL'));
  stack = await startStreamStack({
    redisUrl: env('REDIS_URL'),
    databaseUrl: env('DATABASE_URL'),
    callers: { [token]: caller, 'bob-token': outsider },
    logger,
    idleCheckMs: 200,
    readerBlockMs: 2_000,
  });
});

afterAll(async () => {
  await Promise.all(publishers.map((publisher) => publisher.close(1_000)));
  await stack?.close();
});

/** A task row in Postgres (the lookup) and a publisher on its stream. */
async function newTask(phase = 'Running') {
  const name = `task-${randomBytes(4).toString('hex')}`;
  const uid = randomUUID();
  await insertTask(stack.pool, { uid, namespace, name, phase });
  const key = workloadStreamKeys('task', namespace, name).events;
  const publisher = new EventPublisher({
    redisUrl: env('REDIS_URL'), streamKey: key, wakeChannel: workloadStreamKeys('task', namespace, name).wake, persistedKey: undefined, logger, batchSize: 50,
  });
  publishers.push(publisher);
  return { name, uid, key, publisher };
}

const completed = (outcome: 'succeeded' | 'failed' | 'cancelled'): TaskEvent => ({
  type: 'runner.completed', outcome, exitCode: outcome === 'succeeded' ? 0 : 1, message: outcome, result: null, usage: null, sessionId: null,
});

function expectSeqs(messages: ReceivedMessage[], from: number, to: number): void {
  expect(messages.map((m) => m.seq)).toEqual(Array.from({ length: to - from + 1 }, (_, i) => from + i));
}

describe('task event stream', () => {
  it('sends every event live, in order, up to the terminal one, then closes normally', async () => {
    const task = await newTask();
    const client = follow(stack.streamUrl(namespace, task.name), { token });
    await client.opened;
    for (let i = 1; i <= 300; i++) task.publisher.publish({ type: 'assistant.text', i });
    task.publisher.publish(completed('succeeded'));
    await task.publisher.close(10_000);
    const { code } = await client.closed;
    expect(code).toBe(1000);
    expectSeqs(client.messages, 1, 301);
    expect(client.messages[0]).toMatchObject({ seq: 1, type: 'assistant.text', data: { type: 'assistant.text', i: 1 } });
    expect(Number.isNaN(Date.parse(client.messages[0]!.time))).toBe(false);
    expect(client.messages.at(-1)).toMatchObject({ type: 'runner.completed', data: { outcome: 'succeeded' } });
  });

  it('a reconnect with the last seq gets no gap and no duplicate', async () => {
    const task = await newTask();
    const first = follow(stack.streamUrl(namespace, task.name), { token, onMessage: (m, ws) => m.seq === 120 && ws.close() });
    await first.opened;
    const publishing = (async () => {
      for (let i = 1; i <= 400; i++) {
        task.publisher.publish({ type: 'tick', i });
        if (i % 20 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      }
      task.publisher.publish(completed('succeeded'));
      await task.publisher.close(10_000);
    })();
    await first.closed;
    const last = first.messages.at(-1)!.seq;
    const second = follow(stack.streamUrl(namespace, task.name, { from: last }), { token });
    await publishing;
    expect((await second.closed).code).toBe(1000);
    expectSeqs([...first.messages, ...second.messages], 1, 401);
  });

  it('replays the whole history from Postgres after the task ended and its stream was deleted', async () => {
    const task = await newTask();
    for (let i = 1; i <= 1_234; i++) task.publisher.publish({ type: 'tick', i });
    task.publisher.publish(completed('failed'));
    await task.publisher.close(10_000);
    expect(await copyStreamToHistory(stack.pool, stack.redis, task.key, task.uid)).toBe(1_235);
    await setPhase(stack.pool, task.uid, 'Failed');
    await stack.redis.del(task.key);

    const client = follow(stack.streamUrl(namespace, task.name), { token });
    // A failed attempt is final here only because the task is Failed.
    expect((await client.closed).code).toBe(1000);
    expectSeqs(client.messages, 1, 1_235);
    expect(client.messages[1_233]!.data).toEqual({ type: 'tick', i: 1_234 });

    const resumed = follow(stack.streamUrl(namespace, task.name, { from: 1_000 }), { token });
    expect((await resumed.closed).code).toBe(1000);
    expectSeqs(resumed.messages, 1_001, 1_235);
  });

  it('replays the trimmed head of a stream from Postgres, then the rest from Redis', async () => {
    const task = await newTask();
    for (let i = 1; i <= 900; i++) task.publisher.publish({ type: 'tick', i });
    task.publisher.publish(completed('succeeded'));
    await task.publisher.close(10_000);
    await copyStreamToHistory(stack.pool, stack.redis, task.key, task.uid);
    await stack.redis.xtrim(task.key, 'MAXLEN', 100);
    // Redis keeps seqs 802..901; only Postgres has the first 801.
    expect(Number((await stack.redis.xrange(task.key, '-', '+', 'COUNT', 1))[0]![1][1])).toBe(802);
    // Postgres must not be what serves the tail: its copy says otherwise.
    await stack.pool.query(`UPDATE claude_task_events SET data = '{"from":"postgres"}' WHERE task_uid = $1 AND seq > 801`, [task.uid]);
    await setPhase(stack.pool, task.uid, 'Succeeded');

    const client = follow(stack.streamUrl(namespace, task.name, { from: 0 }), { token });
    expect((await client.closed).code).toBe(1000);
    expectSeqs(client.messages, 1, 901);
    expect(client.messages[800]!.data).toEqual({ type: 'tick', i: 801 });
    expect(client.messages[801]!.data).toEqual({ type: 'tick', i: 802 });
  });

  it('closes with 1013 when a running task\'s trimmed events are not in Postgres yet', async () => {
    const task = await newTask();
    for (let i = 1; i <= 300; i++) task.publisher.publish({ type: 'tick', i });
    await task.publisher.close(10_000);
    await stack.redis.xtrim(task.key, 'MAXLEN', 50);
    const client = follow(stack.streamUrl(namespace, task.name), { token });
    const { code, reason } = await client.closed;
    expect(code).toBe(1013);
    expect(reason).toMatch(/trimmed/);
    expect(client.messages).toEqual([]);
  });

  it('ends a failed attempt\'s stream only when the task is terminal; a retry attempt goes on', async () => {
    const task = await newTask();
    const client = follow(stack.streamUrl(namespace, task.name), { token });
    await client.opened;
    task.publisher.publish({ type: 'tick', attempt: 1 });
    task.publisher.publish(completed('failed'));
    await task.publisher.close(10_000);
    await waitFor('the failed attempt', async () => client.messages.length === 2, { timeoutMs: 5_000, intervalMs: 20 });
    await new Promise((resolve) => setTimeout(resolve, 500)); // several idle checks: still Running
    expect(client.ws.readyState).toBe(client.ws.OPEN);

    const retry = new EventPublisher({ redisUrl: env('REDIS_URL'), streamKey: task.key, wakeChannel: undefined, persistedKey: undefined, logger });
    retry.publish({ type: 'tick', attempt: 2 });
    retry.publish(completed('failed'));
    await retry.close(10_000);
    await waitFor('the retry attempt', async () => client.messages.length === 4, { timeoutMs: 5_000, intervalMs: 20 });
    await setPhase(stack.pool, task.uid, 'Failed');
    expect((await client.closed).code).toBe(1000);
    expectSeqs(client.messages, 1, 4);
  });

  it('serves 60 concurrent clients on 3 tasks through ONE Redis reader connection', async () => {
    const tasks = await Promise.all([newTask(), newTask(), newTask()]);
    const clients = Array.from({ length: 60 }, (_, i) => follow(stack.streamUrl(namespace, tasks[i % 3]!.name), { token }));
    await Promise.all(clients.map((c) => c.opened));
    await waitFor('every subscriber', async () => stack.reader.stats().subscribers === 60, { timeoutMs: 5_000, intervalMs: 20 });

    const list = await stack.redis.client('LIST');
    const readers = String(list).split('\n').filter((line) => line.includes(`name=${streamReaderConnectionName}`));
    expect(readers).toHaveLength(1);
    expect(stack.reader.stats().followedStreams).toBe(3);

    await Promise.all(tasks.map(async (task) => {
      for (let i = 1; i <= 100; i++) task.publisher.publish({ type: 'tick', i });
      task.publisher.publish(completed('succeeded'));
      await task.publisher.close(10_000);
    }));
    const closes = await Promise.all(clients.map((c) => c.closed));
    expect(closes.every(({ code }) => code === 1000)).toBe(true);
    for (const client of clients) expectSeqs(client.messages, 1, 101);
    await waitFor('subscribers gone', async () => stack.reader.stats().subscribers === 0, { timeoutMs: 5_000, intervalMs: 20 });
  });

  it('?view=normalized sends message, tool_use, tool_result, progress and complete, keeping the seqs; raw stays the default', async () => {
    const task = await newTask();
    const normalized = follow(stack.streamUrl(namespace, task.name, { view: 'normalized' }), { token });
    const raw = follow(stack.streamUrl(namespace, task.name), { token });
    await Promise.all([normalized.opened, raw.opened]);
    task.publisher.publish({ type: 'system', subtype: 'init', session_id: 's-1', model: 'claude-test' });
    task.publisher.publish({ type: 'assistant', message: { content: [{ type: 'text', text: 'Writing it.' }, { type: 'tool_use', id: 'toolu_1', name: 'Write', input: { file_path: 'a' } }] } });
    task.publisher.publish({ type: 'user', message: { content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'ok' }] } });
    task.publisher.publish({ type: 'result', subtype: 'success', is_error: false, result: 'done' });
    task.publisher.publish({ ...completed('succeeded'), result: 'done' });
    await task.publisher.close(10_000);
    expect((await normalized.closed).code).toBe(1000);
    expect(normalized.messages.map((m) => [m.seq, m.type])).toEqual([
      [1, 'progress'], [2, 'message'], [2, 'tool_use'], [3, 'tool_result'], [5, 'complete'],
    ]);
    expect(normalized.messages[2]).toMatchObject({ id: 'toolu_1', name: 'Write', input: { file_path: 'a' } });
    expect(normalized.messages[4]).toMatchObject({ outcome: 'succeeded', result: 'done' });
    expect((await raw.closed).code).toBe(1000);
    expect(raw.messages.map((m) => m.type)).toEqual(['system', 'assistant', 'user', 'result', 'runner.completed']);

    // A replay of the history in the normalized view is the same; a bad view is 400.
    const replayed = follow(stack.streamUrl(namespace, task.name, { view: 'normalized', from: 1 }), { token });
    expect((await replayed.closed).code).toBe(1000);
    expect(replayed.messages).toEqual(normalized.messages.slice(1));
    const bad = await follow(stack.streamUrl(namespace, task.name, { view: 'fancy' }), { token }).opened.then(() => undefined, (e: unknown) => e);
    expect((bad as UpgradeRefused).status).toBe(400);
    expect(JSON.parse((bad as UpgradeRefused).body)).toMatchObject({ type: `${problemTypeBase}validation-error`, issues: [{ path: 'query.view' }] });
  });

  it('?partial=true also sends the published partial chunks, marked and without seq; others never get them, nor does a replay', async () => {
    const task = await newTask();
    const channel = workloadStreamKeys('task', namespace, task.name).partial;
    const partialRaw = follow(stack.streamUrl(namespace, task.name, { partial: 'true' }), { token });
    const partialNormalized = follow(stack.streamUrl(namespace, task.name, { partial: 'true', view: 'normalized' }), { token });
    const plain = follow(stack.streamUrl(namespace, task.name), { token });
    await Promise.all([partialRaw.opened, partialNormalized.opened, plain.opened]);
    const subscribers = async () => Number(((await stack.redis.pubsub('NUMSUB', channel)) as [string, number])[1]);
    await waitFor('the partial channel subscribed', async () => (await subscribers()) === 1, { timeoutMs: 5_000, intervalMs: 20 });

    const chunk = { type: 'stream_event', session_id: 's-1', event: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hel' } } };
    await stack.redis.publish(channel, JSON.stringify(chunk));
    await waitFor('the chunk on both partial clients', async () => partialRaw.messages.length === 1 && partialNormalized.messages.length === 1,
      { timeoutMs: 5_000, intervalMs: 20 });
    task.publisher.publish({ type: 'assistant', message: { content: [{ type: 'text', text: 'Hello' }] } });
    task.publisher.publish(completed('succeeded'));
    await task.publisher.close(10_000);
    for (const client of [partialRaw, partialNormalized, plain]) expect((await client.closed).code).toBe(1000);

    expect(partialRaw.messages[0]).toEqual({ partial: true, type: 'stream_event', data: chunk });
    expect(partialRaw.messages.slice(1).map((m) => [m.seq, m.type])).toEqual([[1, 'assistant'], [2, 'runner.completed']]);
    expect(partialNormalized.messages[0]).toEqual({ partial: true, type: 'message', role: 'assistant', text: 'Hel' });
    expect(partialNormalized.messages.slice(1).map((m) => [m.seq, m.type])).toEqual([[1, 'message'], [2, 'complete']]);
    expect(plain.messages.map((m) => m.seq)).toEqual([1, 2]);

    const replay = follow(stack.streamUrl(namespace, task.name, { partial: 'true' }), { token });
    expect((await replay.closed).code).toBe(1000);
    expect(replay.messages.map((m) => m.seq)).toEqual([1, 2]);
    await waitFor('the partial channel released', async () => (await subscribers()) === 0, { timeoutMs: 5_000, intervalMs: 20 });
  });

  it('refuses the upgrade with 401 problem+json for a bad or missing token', async () => {
    const task = await newTask();
    for (const options of [{ token: 'forged' }, {}]) {
      const client = follow(stack.streamUrl(namespace, task.name), options);
      const refused = await client.opened.then(() => undefined, (error: unknown) => error);
      expect(refused).toBeInstanceOf(UpgradeRefused);
      expect((refused as UpgradeRefused).status).toBe(401);
      expect((refused as UpgradeRefused).contentType).toBe('application/problem+json');
      expect(JSON.parse((refused as UpgradeRefused).body)).toMatchObject({ status: 401, type: `${problemTypeBase}unauthorized` });
    }
  });

  it('answers 404 for another tenant\'s task, an unknown task and an unknown path', async () => {
    const task = await newTask();
    const urls = [
      [stack.streamUrl(namespace, task.name), 'bob-token'],
      [stack.streamUrl(namespace, 'no-such-task'), token],
      [`${stack.base}/api/v1/namespaces/${namespace}/tasks/${task.name}/other`, token],
    ] as const;
    for (const [url, bearer] of urls) {
      const refused = await follow(url, { token: bearer }).opened.then(() => undefined, (error: unknown) => error);
      expect((refused as UpgradeRefused).status).toBe(404);
    }
    const badFrom = await follow(stack.streamUrl(namespace, task.name, { from: '-1' }), { token }).opened.then(() => undefined, (e: unknown) => e);
    expect((badFrom as UpgradeRefused).status).toBe(400);
    // The same problem types as REST (http/problem.ts).
    expect(JSON.parse((badFrom as UpgradeRefused).body)).toMatchObject({ type: `${problemTypeBase}validation-error`, issues: [{ path: 'query.from' }] });
  });

  it('accepts a ticket once, and only for its task', async () => {
    const task = await newTask();
    const other = await newTask();
    const { ticket, expiresInSeconds } = await stack.tickets.issue(caller, { namespace, name: task.name });
    expect(expiresInSeconds).toBe(30);
    expect(await stack.redis.ttl(`claude-operator:stream-ticket:${ticket}`)).toBe(-2); // stored hashed

    const wrongTask = await follow(stack.streamUrl(namespace, other.name, { ticket })).opened.then(() => undefined, (e: unknown) => e);
    expect((wrongTask as UpgradeRefused).status).toBe(401);
    // That attempt used it up.
    const afterMisuse = await follow(stack.streamUrl(namespace, task.name, { ticket })).opened.then(() => undefined, (e: unknown) => e);
    expect((afterMisuse as UpgradeRefused).status).toBe(401);

    const fresh = await stack.tickets.issue(caller, { namespace, name: task.name });
    const client = follow(stack.streamUrl(namespace, task.name, { ticket: fresh.ticket }));
    await client.opened;
    const again = await follow(stack.streamUrl(namespace, task.name, { ticket: fresh.ticket })).opened.then(() => undefined, (e: unknown) => e);
    expect((again as UpgradeRefused).status).toBe(401);
    task.publisher.publish(completed('cancelled'));
    await task.publisher.close(10_000);
    expect((await client.closed).code).toBe(1000);
    expect(client.messages.map((m) => m.type)).toEqual(['runner.completed']);
    await other.publisher.close(1_000);
  });
});

describe('rate limit', () => {
  let limitedStack: StreamStack;
  let commands: Redis;

  beforeAll(async () => {
    commands = new Redis(env('REDIS_URL'));
    limitedStack = await startStreamStack({
      redisUrl: env('REDIS_URL'), databaseUrl: env('DATABASE_URL'), callers: { [token]: caller }, logger,
      rateLimiter: new RedisRateLimiter({ redis: commands, limit: 2, windowSeconds: 600, prefix: `ws-test-${randomUUID()}:` }),
    });
  });

  afterAll(async () => {
    await limitedStack?.close();
    commands?.disconnect();
  });

  it('refuses an upgrade over the limit with 429 before upgrading; the 101 carries the RateLimit fields', async () => {
    const task = await newTask();
    const first = follow(limitedStack.streamUrl(namespace, task.name), { token });
    await first.opened;
    expect(await first.upgradeHeaders).toMatchObject({ 'ratelimit-policy': '"default";q=2;w=600', ratelimit: expect.stringMatching(/^"default";r=1;t=\d+$/) });
    const second = follow(limitedStack.streamUrl(namespace, task.name), { token });
    await second.opened;
    const third = await follow(limitedStack.streamUrl(namespace, task.name), { token }).opened.then(() => undefined, (e: unknown) => e);
    expect(third).toBeInstanceOf(UpgradeRefused);
    const refused = third as UpgradeRefused;
    expect(refused.status).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(refused.headers.ratelimit).toMatch(/^"default";r=0;t=\d+$/);
    expect(JSON.parse(refused.body)).toMatchObject({ status: 429, type: `${problemTypeBase}rate-limited` });
    task.publisher.publish(completed('succeeded'));
    await task.publisher.close(10_000);
    expect([(await first.closed).code, (await second.closed).code]).toEqual([1000, 1000]);
  });
});

describe('a slow client', () => {
  let slowStack: StreamStack;
  const bound = 256 * 1024;

  beforeAll(async () => {
    slowStack = await startStreamStack({
      redisUrl: env('REDIS_URL'), databaseUrl: env('DATABASE_URL'), callers: { [token]: caller }, logger,
      maxBufferedBytes: bound, closeGraceMs: 30_000, stallMs: 2_000,
    });
  });

  afterAll(async () => {
    await slowStack?.close();
  });

  it('is closed with 1013 once its send buffer passes the bound, and the server never buffers more', async () => {
    const task = await newTask();
    const slow = follow(slowStack.streamUrl(namespace, task.name), { token });
    const fast = follow(slowStack.streamUrl(namespace, task.name), { token });
    await Promise.all([slow.opened, fast.opened]);
    slow.ws.pause(); // stops reading its socket: the kernel buffers fill, then the server's
    const payload = 'x'.repeat(8 * 1024);
    const heapBefore = process.memoryUsage().heapUsed;
    for (let i = 1; i <= 6_000; i++) task.publisher.publish({ type: 'big', i, payload });
    task.publisher.publish(completed('succeeded'));
    await task.publisher.close(30_000);

    await waitFor('the slow client to be cut off', async () => slowStack.streamServer.stats().closedSlow === 1, { timeoutMs: 20_000, intervalMs: 50 });
    expect((await fast.closed).code).toBe(1000);
    expectSeqs(fast.messages, 1, 6_001);
    // Never past the bound, whatever the socket did between sends: memory per client does not follow the stream (~48 MiB).
    expect(slowStack.streamServer.stats().maxBufferedSeen).toBeLessThanOrEqual(bound);
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(200 * 1024 * 1024);

    slow.ws.resume();
    const { code, reason } = await slow.closed;
    expect(code).toBe(1013);
    expect(reason).toMatch(/too slow.*from=\d+/);
    const last = slow.messages.at(-1)!.seq;
    expectSeqs(slow.messages, 1, last);
    expect(last).toBeLessThan(6_001);

    // It catches up from where it was cut off.
    const again = follow(slowStack.streamUrl(namespace, task.name, { from: last }), { token });
    expect((await again.closed).code).toBe(1000);
    expectSeqs([...slow.messages, ...again.messages], 1, 6_001);
  });
});
