// The partial publisher against the test bed's Redis, and against none: best-effort
// means it delivers while Redis is there and neither throws nor waits while it is not.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { waitFor } from '../../test/bed/process.ts';
import { makeLogger } from '../../packages/platform/src/logger.ts';
import { PartialPublisher } from './partial-publisher.ts';

const logger = makeLogger('claude-runner');
let subscriber: Redis;

beforeAll(() => {
  if (!process.env.REDIS_URL) throw new Error('REDIS_URL is not set: run this through jest, whose global setup starts the test bed');
  subscriber = new Redis(process.env.REDIS_URL);
});
afterAll(() => {
  subscriber?.disconnect();
});

const delta = (i: number) => ({ type: 'stream_event', event: { type: 'content_block_delta', delta: { type: 'text_delta', text: `t${i} ` } } });

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('PartialPublisher', () => {
  it('publishes each event as JSON on the channel, in order', async () => {
    const channel = `test:partial:${Date.now()}`;
    const received: unknown[] = [];
    subscriber.on('message', (from: string, message: string) => {
      if (from === channel) received.push(JSON.parse(message));
    });
    await subscriber.subscribe(channel);
    const publisher = new PartialPublisher({ redisUrl: process.env.REDIS_URL!, channel, logger });
    await waitFor('the publisher to connect', async () => {
      publisher.publish(delta(0));
      return received.length > 0;
    }, { timeoutMs: 5_000, intervalMs: 50 });

    for (let i = 1; i <= 20; i++) publisher.publish(delta(i));
    const counts = await publisher.close(5_000);
    await waitFor('the 20 events', async () => received.length >= counts.published, { timeoutMs: 5_000, intervalMs: 20 });
    const texts = received.map((event) => (event as ReturnType<typeof delta>).event.delta.text);
    expect(texts.slice(-20)).toEqual(Array.from({ length: 20 }, (_, i) => `t${i + 1} `));
    expect(counts.published).toBe(received.length);
    await subscriber.unsubscribe(channel);
  });

  it('drops and counts events while Redis is unreachable, without throwing', async () => {
    const publisher = new PartialPublisher({ redisUrl: `redis://127.0.0.1:${await closedPort()}`, channel: 'test:partial:nowhere', logger });
    for (let i = 0; i < 50; i++) expect(() => publisher.publish(delta(i))).not.toThrow();
    expect(await publisher.close(1_000)).toEqual({ published: 0, dropped: 50 });
    expect(() => publisher.publish(delta(51))).not.toThrow(); // after close too
  });
});
