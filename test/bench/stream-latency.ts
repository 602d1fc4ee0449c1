// Benchmark (not a test): events/s and latency from the runner's EventPublisher
// (XADD) to a WebSocket client, for 1 and for 200 concurrent clients of one task.
//
//   node_modules/.bin/node test/bench/stream-latency.ts [events]
//
// Starts its own redis-server and Postgres database (or uses REDIS_URL /
// DATABASE_URL), the stream server on a loopback port, and its clients in this
// process (so publisher and clients share one clock). Two runs per client count:
// - paced: 1,000 events/s; latency is publish() to receipt, so it includes the
//   publisher's batching, the XADD, the reader's XREAD and the WebSocket.
// - burst: every event published at once; events/s is what the clients received
//   in total, per second, from the first publish to the last receipt.
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { migrate } from '../../packages/database/src/migrate.ts';
import { EventPublisher } from '../../runner/src/event-publisher.ts';
import { workloadStreamKeys } from '../../packages/contracts/src/event-stream.ts';
import { follow, insertTask, startStreamStack, type StreamStack } from '../../api/src/stream/testing.ts';
import { provisionPostgres } from '../bed/postgres.ts';
import { provisionRedis } from '../bed/redis.ts';
import { waitFor } from '../bed/process.ts';

const logger = pino({ level: 'silent' });
const namespace = 'bench';
const token = 'bench-token';
const events = Number(process.argv[2] ?? 5_000);

interface Result { clients: number; mode: string; events: number; seconds: number; eventsPerSecond: number; p50: number; p99: number; max: number }

async function run(stack: StreamStack, redisUrl: string, clients: number, mode: 'paced' | 'burst'): Promise<Result> {
  const name = `bench-${mode}-${clients}-${randomUUID().slice(0, 8)}`;
  await insertTask(stack.pool, { uid: randomUUID(), namespace, name, phase: 'Running' });
  const latencies: number[] = [];
  let lastReceipt = 0;
  const followers = Array.from({ length: clients }, () => follow(stack.streamUrl(namespace, name), {
    token,
    onMessage(message) {
      const now = performance.now();
      latencies.push(now - (message.data.at as number));
      lastReceipt = now;
    },
  }));
  await Promise.all(followers.map((f) => f.opened));
  await waitFor('every subscriber', async () => stack.reader.stats().subscribers === clients, { timeoutMs: 30_000, intervalMs: 10 });

  const publisher = new EventPublisher({
    redisUrl, streamKey: workloadStreamKeys('task', namespace, name).events, wakeChannel: workloadStreamKeys('task', namespace, name).wake, persistedKey: undefined, logger,
  });
  const count = mode === 'paced' ? Math.min(events, 2_000) : events;
  const started = performance.now();
  for (let i = 1; i <= count; i++) {
    if (mode === 'paced' && i % 10 === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    const type = i === count ? 'runner.completed' : 'assistant.text';
    publisher.publish({ type, at: performance.now(), i, text: 'x'.repeat(200), ...(i === count ? { outcome: 'succeeded' } : {}) });
  }
  await publisher.close(60_000);
  const closes = await Promise.all(followers.map((f) => f.closed));
  const complete = followers.every((f) => f.messages.length === count) && closes.every((c) => c.code === 1000);
  if (!complete) throw new Error(`${clients} clients, ${mode}: not every client got ${count} events and a normal close`);
  const seconds = (lastReceipt - started) / 1_000;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  return { clients, mode, events: count, seconds, eventsPerSecond: (count * clients) / seconds, p50: at(0.5), p99: at(0.99), max: at(1) };
}

async function main(): Promise<void> {
  const logDir = path.join(os.tmpdir(), 'claude-operator-bench-logs');
  const redis = await provisionRedis({ logDir });
  const postgres = await provisionPostgres({ logDir }).catch(async (error: unknown) => {
    await redis.close();
    throw error;
  });
  let stack: StreamStack | undefined;
  try {
    await migrate(postgres.url);
    stack = await startStreamStack({
      redisUrl: redis.url, databaseUrl: postgres.url, logger,
      callers: { [token]: { subject: 'bench', tenant: 'bench', namespaces: [namespace], role: 'viewer' } },
      maxBufferedBytes: 8 * 1024 * 1024,
    });
    const results: Result[] = [];
    for (const clients of [1, 200]) {
      for (const mode of ['paced', 'burst'] as const) results.push(await run(stack, redis.url, clients, mode));
    }
    console.log(`stream latency, runner EventPublisher -> WebSocket client (${os.cpus().length} CPUs, 200-byte events)`);
    console.log('clients  mode   events  seconds  delivered events/s  p50 ms  p99 ms  max ms');
    for (const r of results) {
      console.log(`${String(r.clients).padStart(7)}  ${r.mode.padEnd(5)}  ${String(r.events).padStart(6)}  ${r.seconds.toFixed(2).padStart(7)}  ` +
        `${Math.round(r.eventsPerSecond).toString().padStart(18)}  ${r.p50.toFixed(1).padStart(6)}  ${r.p99.toFixed(1).padStart(6)}  ${r.max.toFixed(1).padStart(6)}`);
    }
    console.log(`redis reader: ${JSON.stringify(stack.reader.stats())}`);
  } finally {
    await stack?.close();
    await postgres.close();
    await redis.close();
  }
}

await main();
