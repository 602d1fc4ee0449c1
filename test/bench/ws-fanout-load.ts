// The load process of ws-fanout.ts (started by it with an IPC channel; not run by
// hand): many WebSocket followers of live tasks against one API process, and a
// raw XREAD reader, on an event loop of their own. Each receipt's latency is its
// time on the parent's clock minus the time the parent stamped into the event.
import { Redis } from 'ioredis';
import { WebSocket } from 'ws';
import { inParallel, sleep, spread, type Spread } from './support.ts';

export interface LoadSetup {
  apiUrl: string;
  token: string;
  namespace: string;
  tasks: string[];
  followers: number;
  redisUrl: string;
  rawKey: string;
}

export type ToLoad =
  | { type: 'setup'; setup: LoadSetup }
  | { type: 'ping'; id: number }
  | { type: 'offset'; offsetMs: number }
  | { type: 'open' }
  | { type: 'finish'; expected: Record<string, number> };

export interface LoadResult {
  ws: Spread;
  raw: Record<string, Spread>;
  closes: Record<string, number>;
  /** Followers that did not get every event of their task. */
  incomplete: number;
  messages: number;
}

export type FromLoad =
  | { type: 'raw-ready' }
  | { type: 'pong'; id: number; at: number }
  | { type: 'opened'; followers: number; refusedWith429: number; seconds: number }
  | { type: 'result'; result: LoadResult };

/** A time comparable across processes on one machine, in ms with sub-ms precision. */
export function clockMs(): number {
  return performance.timeOrigin + performance.now();
}

/** A growable array of latencies, without an object per sample. */
class Samples {
  private values = new Float64Array(1 << 16);
  length = 0;

  push(value: number): void {
    if (this.length === this.values.length) {
      const bigger = new Float64Array(this.values.length * 2);
      bigger.set(this.values);
      this.values = bigger;
    }
    this.values[this.length++] = value;
  }

  spread(): Spread {
    return spread(this.values.subarray(0, this.length));
  }
}

interface Follower {
  task: string;
  ws: WebSocket;
  received: number;
  closed: Promise<number>;
}

const send = (message: FromLoad) => new Promise<void>((resolve) => process.send?.(message, () => resolve()));
let offsetMs = 0;
const wsLatencies = new Samples();
const rawLatencies = new Map<string, Samples>();
const followers: Follower[] = [];
let setup: LoadSetup | undefined;
let rawReader: Redis | undefined;

/** Parent-clock now. */
const parentNow = () => clockMs() - offsetMs;

async function readRaw(redis: Redis, key: string): Promise<void> {
  let last = '$';
  for (;;) {
    const reply = await redis.xread('BLOCK', 0, 'STREAMS', key, last).catch(() => null);
    if (!reply) {
      if (redis.status === 'end') return;
      continue;
    }
    const now = parentNow();
    for (const [, entries] of reply) {
      for (const [id, fields] of entries) {
        last = id;
        const at = Number(fields[fields.indexOf('at') + 1]);
        const phase = fields[fields.indexOf('phase') + 1] ?? '';
        let samples = rawLatencies.get(phase);
        if (!samples) rawLatencies.set(phase, (samples = new Samples()));
        samples.push(now - at);
      }
    }
  }
}

/** One follower; a 429 is waited out (Retry-After) and tried again. */
async function openFollower(task: string, counters: { refusedWith429: number }): Promise<Follower> {
  const url = `${setup!.apiUrl.replace(/^http/, 'ws')}/api/v1/namespaces/${setup!.namespace}/tasks/${task}/stream`;
  for (let attempt = 1; ; attempt++) {
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${setup!.token}` }, perMessageDeflate: false });
    const follower: Follower = { task, ws, received: 0, closed: new Promise((resolve) => ws.once('close', (code) => resolve(code))) };
    ws.on('message', (raw) => {
      const now = parentNow();
      const message = JSON.parse(String(raw)) as { data?: { at?: number } };
      follower.received++;
      if (typeof message.data?.at === 'number') wsLatencies.push(now - message.data.at);
    });
    const outcome = await new Promise<{ ok: true } | { ok: false; status: number; retryAfter: number; error: string }>((resolve) => {
      ws.once('open', () => resolve({ ok: true }));
      ws.once('unexpected-response', (_request, response) => {
        response.resume();
        resolve({ ok: false, status: response.statusCode ?? 0, retryAfter: Number(response.headers['retry-after'] ?? 1), error: `HTTP ${response.statusCode}` });
      });
      ws.once('error', (error) => resolve({ ok: false, status: 0, retryAfter: 1, error: error.message }));
    });
    if (outcome.ok) return follower;
    ws.terminate();
    if (outcome.status === 429) counters.refusedWith429++;
    else if (attempt >= 5) throw new Error(`follower of ${task}: ${outcome.error}`);
    await sleep(Math.max(1, outcome.retryAfter) * 1000);
  }
}

async function openAll(): Promise<void> {
  const started = performance.now();
  const counters = { refusedWith429: 0 };
  const tasks = Array.from({ length: setup!.followers }, (_, i) => setup!.tasks[i % setup!.tasks.length]!);
  await inParallel(tasks, 50, async (task) => {
    followers.push(await openFollower(task, counters));
  });
  await send({ type: 'opened', followers: followers.length, refusedWith429: counters.refusedWith429, seconds: (performance.now() - started) / 1000 });
}

async function finish(expected: Record<string, number>): Promise<void> {
  const timeout = sleep(120_000).then(() => -1);
  const codes = await Promise.all(followers.map((f) => Promise.race([f.closed, timeout])));
  const closes: Record<string, number> = {};
  for (const code of codes) closes[String(code)] = (closes[String(code)] ?? 0) + 1;
  const result: LoadResult = {
    ws: wsLatencies.spread(),
    raw: Object.fromEntries([...rawLatencies].map(([phase, samples]) => [phase, samples.spread()])),
    closes,
    incomplete: followers.filter((f) => f.received !== expected[f.task]).length,
    messages: wsLatencies.length,
  };
  for (const f of followers) f.ws.terminate();
  rawReader?.disconnect();
  await send({ type: 'result', result });
}

process.on('message', (message: ToLoad) => {
  switch (message.type) {
    case 'setup':
      setup = message.setup;
      rawReader = new Redis(setup.redisUrl, { maxRetriesPerRequest: null });
      void rawReader.ping().then(() => {
        void readRaw(rawReader!, setup!.rawKey);
        void send({ type: 'raw-ready' });
      });
      break;
    case 'ping':
      void send({ type: 'pong', id: message.id, at: clockMs() });
      break;
    case 'offset':
      offsetMs = message.offsetMs;
      break;
    case 'open':
      void openAll().catch((error: unknown) => {
        console.error(`[ws-fanout-load] ${String(error)}`);
        process.exit(1);
      });
      break;
    case 'finish':
      void finish(message.expected).then(() => process.exit(0));
      break;
  }
});
// The parent going away (Ctrl-C, a crash) ends this process too.
process.on('disconnect', () => process.exit(0));
