// The publisher against real Redis: REDIS_URL from the test bed, and for outages a
// redis-server of this test's own (with an append-only file, so what it held before
// it was stopped is still there when it comes back on the same port).
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { freePort } from '../../test/bed/ports.ts';
import { startSupervised, waitFor, type Supervised } from '../../test/bed/process.ts';
import { EventPublisher } from './event-publisher.ts';
import { parseStreamEntry, taskEventStreamKey, taskEventWakeChannel, type StoredTaskEvent } from './event-stream.ts';

const logger = pino({ level: 'silent' });
const fastBackoff = { initialMs: 20, maxMs: 200 };

function bedRedisUrl(): string {
  const url = process.env.REDIS_URL;
  if (!url) throw new Error('REDIS_URL is not set: run this through jest, whose global setup starts the test bed');
  return url;
}

function uniqueKey(): { key: string; channel: string } {
  const name = `pub-${crypto.randomBytes(4).toString('hex')}`;
  return { key: taskEventStreamKey('runner-test', name), channel: taskEventWakeChannel('runner-test', name) };
}

async function readStream(url: string, key: string): Promise<StoredTaskEvent[]> {
  const redis = new Redis(url);
  try {
    const entries = await redis.xrange(key, '-', '+');
    return entries.map(([id, fields]) => parseStreamEntry(id, fields));
  } finally {
    redis.disconnect();
  }
}

function publisherFor(url: string, key: string, extra: Partial<ConstructorParameters<typeof EventPublisher>[0]> = {}) {
  return new EventPublisher({ redisUrl: url, streamKey: key, wakeChannel: undefined, maxLength: 100_000, logger, backoff: fastBackoff, ...extra });
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
    expect(closed).toEqual({ flushed: true, unpublished: 0, lastSeq: count });

    const stored = await readStream(url, key);
    expect(stored.map((e) => e.seq)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    expect(stored.map((e) => e.event.i)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    expect(stored[0]).toMatchObject({ type: 'test.event', event: { type: 'test.event', i: 1 } });
    expect(Number.isNaN(Date.parse(stored[0]!.time))).toBe(false);
    await waitFor('the last wake-up', async () => wakeUps.at(-1) === String(count), { timeoutMs: 5_000, intervalMs: 20 });
    subscriber.disconnect();
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

  it('caps the stream at about maxLength entries', async () => {
    const url = bedRedisUrl();
    const { key } = uniqueKey();
    const publisher = publisherFor(url, key, { maxLength: 100, batchSize: 10 });
    for (let i = 0; i < 1_000; i++) publisher.publish({ type: 'x' });
    expect(await publisher.close(10_000)).toMatchObject({ flushed: true, lastSeq: 1_000 });
    const stored = await readStream(url, key);
    expect(stored.length).toBeLessThan(300);
    expect(stored.at(-1)?.seq).toBe(1_000);
    // What is left is still a gap-free tail.
    expect(stored.map((e) => e.seq)).toEqual(Array.from({ length: stored.length }, (_, i) => 1_001 - stored.length + i));
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
    let dir: string;
    let port: number;
    let server: Supervised | undefined;

    async function startRedis(): Promise<void> {
      server = startSupervised({
        name: `redis-outage:${port}`,
        command: 'redis-server',
        args: ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir],
        cwd: dir,
        logFile: path.join(dir, 'redis.log'),
      });
      await waitFor('our redis-server', async () => {
        const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
        probe.on('error', () => undefined);
        try {
          await probe.connect();
          return (await probe.ping()) === 'PONG';
        } finally {
          probe.disconnect();
        }
      }, { timeoutMs: 15_000, intervalMs: 100 });
    }

    beforeAll(async () => {
      dir = await fs.mkdtemp(path.join(os.tmpdir(), 'runner-redis-outage-'));
      port = await freePort();
      await startRedis();
    });

    afterAll(async () => {
      await server?.stop();
      await fs.rm(dir, { recursive: true, force: true });
    });

    it('keeps every event, in order, across an outage', async () => {
      const url = `redis://127.0.0.1:${port}`;
      const { key } = uniqueKey();
      const publisher = publisherFor(url, key, { batchSize: 20, commandTimeoutMs: 1_000 });
      for (let i = 1; i <= 100; i++) publisher.publish({ type: 'before', i });
      await waitFor('the first 100 events in redis', async () => publisher.lastSeq === 100, { timeoutMs: 10_000, intervalMs: 20 });

      await server!.stop();
      for (let i = 101; i <= 250; i++) publisher.publish({ type: 'during', i });
      await new Promise((resolve) => setTimeout(resolve, 700));
      expect(publisher.unpublished).toBe(150);
      expect(publisher.lastSeq).toBe(100);

      await startRedis();
      for (let i = 251; i <= 300; i++) publisher.publish({ type: 'after', i });
      expect(await publisher.close(20_000)).toEqual({ flushed: true, unpublished: 0, lastSeq: 300 });

      const stored = await readStream(url, key);
      expect(stored.map((e) => e.seq)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
      expect(stored.map((e) => e.event.i)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
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
      expect(await publisher.close(800)).toEqual({ flushed: false, unpublished: 5, lastSeq: 0 });
      expect(Date.now() - started).toBeLessThan(3_000);
    });
  });
});
