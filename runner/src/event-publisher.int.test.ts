// The publisher against real Redis: REDIS_URL from the test bed, and for outages a
// redis-server of this test's own.
import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { freePort } from '../../test/bed/ports.ts';
import { waitFor } from '../../test/bed/process.ts';
import { startOwnRedis, type OwnRedis } from '../../test/support/own-redis.ts';
import { EventPublisher } from './event-publisher.ts';
import { parseStreamEntry, type StreamEntry, workloadStreamKeys } from '../../packages/contracts/src/event-stream.ts';

const logger = pino({ level: 'silent' });
const fastBackoff = { initialMs: 20, maxMs: 200 };

function bedRedisUrl(): string {
  const url = process.env.REDIS_URL;
  if (!url) throw new Error('REDIS_URL is not set: run this through jest, whose global setup starts the test bed');
  return url;
}

function uniqueKey(): { key: string; channel: string; persistedKey: string } {
  const name = `pub-${crypto.randomBytes(4).toString('hex')}`;
  return { key: workloadStreamKeys('task', 'runner-test', name).events, channel: workloadStreamKeys('task', 'runner-test', name).wake,
    persistedKey: workloadStreamKeys('task', 'runner-test', name).persisted };
}

async function readStream(url: string, key: string): Promise<StreamEntry[]> {
  const redis = new Redis(url);
  try {
    const entries = await redis.xrange(key, '-', '+');
    return entries.map(([id, fields]) => parseStreamEntry(id, fields));
  } finally {
    redis.disconnect();
  }
}

function publisherFor(url: string, key: string, extra: Partial<ConstructorParameters<typeof EventPublisher>[0]> = {}) {
  return new EventPublisher({ redisUrl: url, streamKey: key, wakeChannel: undefined, persistedKey: undefined, logger, backoff: fastBackoff, ...extra });
}

describe('EventPublisher', () => {
  it('writes many events in order with seq 1..n and no gaps', async () => {
    const url = bedRedisUrl();
    const { key, channel } = uniqueKey();
    const subscriber = new Redis(url);
    const wakeUps: string[] = [];
    await subscriber.subscribe(channel);
    subscriber.on('message', (_channel: string, message: string) => wakeUps.push(message));
    const publisher = publisherFor(url, key, { wakeChannel: channel, batchSize: 50 });
    const count = 3_000;
    for (let i = 1; i <= count; i++) publisher.publish({ type: 'test.event', i });
    const closed = await publisher.close(20_000);
    expect(closed).toEqual({ flushed: true, persisted: true, unpublished: 0, lastSeq: count });

    const stored = await readStream(url, key);
    expect(stored.map((e) => e.seq)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    expect(stored.map((e) => e.data.i)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    expect(stored[0]).toMatchObject({ type: 'test.event', data: { type: 'test.event', i: 1 } });
    expect(Number.isNaN(Date.parse(stored[0]!.time))).toBe(false);
    await waitFor('the last wake-up', async () => wakeUps.at(-1) === String(count), { timeoutMs: 5_000, intervalMs: 20 });
    subscriber.disconnect();
  });

  it('tags events with messageId, tells each event\'s seq once written, and waits for one to be persisted', async () => {
    const url = bedRedisUrl();
    const { key, persistedKey } = uniqueKey();
    const redis = new Redis(url);
    const publisher = publisherFor(url, key, { persistedKey, persistPollMs: 20 });
    publisher.publish({ type: 'runner.started' });
    const tagged = publisher.publish({ type: 'turn.event' }, { messageId: 'msg_0123456789abcdef0123456789abcdef' });
    const seq = await tagged.written;
    expect(seq).toBe(2);
    expect(await publisher.waitPersisted(seq, 100)).toBe(false);
    await redis.set(persistedKey, '1');
    expect(await publisher.waitPersisted(seq, 100)).toBe(false);
    const stop = new AbortController();
    const waiting = publisher.waitPersisted(seq, 60_000, stop.signal);
    await redis.set(persistedKey, '2');
    expect(await waiting).toBe(true);
    stop.abort();
    expect(await publisher.waitPersisted(seq + 1, 60_000, stop.signal)).toBe(false); // a stop ends the wait
    await publisher.close(5_000);
    const stored = await readStream(url, key);
    expect(stored.map((e) => e.messageId)).toEqual([undefined, 'msg_0123456789abcdef0123456789abcdef']);
    redis.disconnect();
  });

  it('continues the seq of the stream, as a retry attempt does', async () => {
    const url = bedRedisUrl();
    const { key } = uniqueKey();
    const first = publisherFor(url, key);
    for (let i = 0; i < 7; i++) first.publish({ type: 'attempt.1' });
    expect(await first.close(10_000)).toMatchObject({ flushed: true, lastSeq: 7 });

    const second = publisherFor(url, key);
    for (let i = 0; i < 3; i++) second.publish({ type: 'attempt.2' });
    expect(await second.close(10_000)).toMatchObject({ flushed: true, lastSeq: 10 });

    const stored = await readStream(url, key);
    expect(stored.map((e) => `${e.seq}:${e.type}`)).toEqual([
      ...[1, 2, 3, 4, 5, 6, 7].map((n) => `${n}:attempt.1`),
      ...[8, 9, 10].map((n) => `${n}:attempt.2`),
    ]);
  });

  it('a new attempt goes on after what Postgres has, when the stream is empty', async () => {
    const url = bedRedisUrl();
    const { key, persistedKey } = uniqueKey();
    const admin = new Redis(url);
    await admin.set(persistedKey, '20');
    const publisher = publisherFor(url, key, { persistedKey, persistWaitMs: 0 });
    publisher.publish({ type: 'next' });
    expect(await publisher.close(10_000)).toMatchObject({ flushed: true, lastSeq: 21 });
    expect((await readStream(url, key)).map((e) => e.seq)).toEqual([21]);
    admin.disconnect();
  });

  it('close() waits for the operator to have every event in Postgres, for persistWaitMs at most', async () => {
    const url = bedRedisUrl();
    const admin = new Redis(url);
    const copied = uniqueKey();
    const waiting = publisherFor(url, copied.key, { persistedKey: copied.persistedKey, persistWaitMs: 10_000, persistPollMs: 50 });
    for (let i = 0; i < 3; i++) waiting.publish({ type: 'x' });
    const closing = waiting.close(20_000);
    await waitFor('the events in redis', async () => (await admin.xlen(copied.key)) === 3, { timeoutMs: 5_000, intervalMs: 20 });
    await admin.set(copied.persistedKey, '3');
    expect(await closing).toEqual({ flushed: true, persisted: true, unpublished: 0, lastSeq: 3 });

    const notCopied = uniqueKey();
    const givingUp = publisherFor(url, notCopied.key, { persistedKey: notCopied.persistedKey, persistWaitMs: 300, persistPollMs: 50 });
    givingUp.publish({ type: 'x' });
    expect(await givingUp.close(20_000)).toEqual({ flushed: true, persisted: false, unpublished: 0, lastSeq: 1 });
    admin.disconnect();
  });

  it('never trims the stream: the operator trims what it has copied', async () => {
    const url = bedRedisUrl();
    const { key } = uniqueKey();
    const publisher = publisherFor(url, key, { batchSize: 10 });
    for (let i = 0; i < 1_000; i++) publisher.publish({ type: 'x' });
    expect(await publisher.close(10_000)).toMatchObject({ flushed: true, lastSeq: 1_000 });
    expect((await readStream(url, key)).length).toBe(1_000);
  });

  it('refuses events after close, and close is idempotent', async () => {
    const { key } = uniqueKey();
    const publisher = publisherFor(bedRedisUrl(), key);
    publisher.publish({ type: 'only' });
    const closing = publisher.close(5_000);
    expect(publisher.close(1)).toBe(closing);
    expect(() => publisher.publish({ type: 'late' })).toThrow(/after close/);
    expect(await closing).toMatchObject({ flushed: true, lastSeq: 1 });
  });

  describe('with a Redis that goes away', () => {
    let redis: OwnRedis;
    let port: number;

    beforeAll(async () => {
      // With an append-only file: what it held is still there when it comes back, unless a test restarts it empty.
      redis = await startOwnRedis({ appendOnly: true });
      port = redis.port;
    });

    afterAll(async () => {
      await redis?.close();
    });

    it('keeps every event, in order, across an outage', async () => {
      const url = `redis://127.0.0.1:${port}`;
      const { key } = uniqueKey();
      const publisher = publisherFor(url, key, { batchSize: 20, commandTimeoutMs: 1_000 });
      for (let i = 1; i <= 100; i++) publisher.publish({ type: 'before', i });
      await waitFor('the first 100 events in redis', async () => publisher.lastSeq === 100, { timeoutMs: 10_000, intervalMs: 20 });

      await redis.kill();
      for (let i = 101; i <= 250; i++) publisher.publish({ type: 'during', i });
      await new Promise((resolve) => setTimeout(resolve, 700));
      expect(publisher.unpublished).toBe(150);
      expect(publisher.lastSeq).toBe(100);

      await redis.restart();
      for (let i = 251; i <= 300; i++) publisher.publish({ type: 'after', i });
      expect(await publisher.close(20_000)).toEqual({ flushed: true, persisted: true, unpublished: 0, lastSeq: 300 });

      const stored = await readStream(url, key);
      expect(stored.map((e) => e.seq)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
      expect(stored.map((e) => e.data.i)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    });

    it('writes again, with the same seqs, what an empty restart lost and Postgres did not have yet', async () => {
      const url = `redis://127.0.0.1:${port}`;
      const { key, persistedKey } = uniqueKey();
      const admin = new Redis(url, { maxRetriesPerRequest: 1 });
      admin.on('error', () => undefined);
      const publisher = publisherFor(url, key, { persistedKey, batchSize: 5, commandTimeoutMs: 1_000, persistWaitMs: 10_000, persistPollMs: 50 });
      for (let i = 1; i <= 10; i++) publisher.publish({ type: 'before', i });
      await waitFor('10 events in redis', async () => publisher.lastSeq === 10, { timeoutMs: 10_000, intervalMs: 20 });
      await admin.set(persistedKey, '6'); // the operator copied 1..6
      for (let i = 11; i <= 12; i++) publisher.publish({ type: 'before', i });
      await waitFor('12 events in redis, and the persisted seq seen', async () => publisher.lastSeq === 12 && publisher.persisted === 6,
        { timeoutMs: 10_000, intervalMs: 20 });

      await redis.restart({ empty: true });
      for (let i = 13; i <= 15; i++) publisher.publish({ type: 'after', i });
      const closing = publisher.close(20_000);
      await waitFor('the stream written again', async () => (await admin.xlen(key).catch(() => 0)) === 9, { timeoutMs: 15_000, intervalMs: 50 });
      const stored = await readStream(url, key);
      // 7..12 again (1..6 are in Postgres), then the new ones; each seq once, each event where it was.
      expect(stored.map((e) => e.seq)).toEqual([7, 8, 9, 10, 11, 12, 13, 14, 15]);
      expect(stored.map((e) => e.data.i)).toEqual([7, 8, 9, 10, 11, 12, 13, 14, 15]);
      await admin.set(persistedKey, '15');
      expect(await closing).toEqual({ flushed: true, persisted: true, unpublished: 0, lastSeq: 15 });
      admin.disconnect();
    });

    it('does not write a batch twice when its EXEC timed out but was applied later', async () => {
      const url = `redis://127.0.0.1:${port}`;
      const { key } = uniqueKey();
      const publisher = publisherFor(url, key, { commandTimeoutMs: 300 });
      publisher.publish({ type: 'warm-up' });
      await waitFor('the warm-up event', async () => publisher.lastSeq === 1, { timeoutMs: 10_000, intervalMs: 20 });
      const admin = new Redis(url);
      await admin.call('CLIENT', 'PAUSE', '1000', 'WRITE'); // EXECs wait, then run: the client sees a timeout
      for (let i = 0; i < 10; i++) publisher.publish({ type: 'paused', i });
      expect(await publisher.close(10_000)).toMatchObject({ flushed: true, lastSeq: 11 });
      admin.disconnect();
      const stored = await readStream(url, key);
      expect(stored.map((e) => e.seq)).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
    });

    it('gives up after the close timeout when Redis stays away, and says how many are left', async () => {
      const { key } = uniqueKey();
      const deadPort = await freePort();
      const publisher = publisherFor(`redis://127.0.0.1:${deadPort}`, key, { commandTimeoutMs: 500 });
      for (let i = 0; i < 5; i++) publisher.publish({ type: 'lost' });
      const started = Date.now();
      expect(await publisher.close(800)).toEqual({ flushed: false, persisted: false, unpublished: 5, lastSeq: 0 });
      expect(Date.now() - started).toBeLessThan(3_000);
    });
  });
});
