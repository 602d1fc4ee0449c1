import { describe, expect, it } from '@jest/globals';
import { FakeClock, flushPromises } from '../../../packages/platform/src/fake-clock.ts';
import { silentLogger } from './logger.ts';
import { PermanentError, RetrySoonError, WorkQueue, type WorkHandler } from './work-queue.ts';

function deferred() {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function makeQueue(rateLimit = { initialMs: 100, maxMs: 1_000 }) {
  const clock = new FakeClock();
  const queue = new WorkQueue({ name: 'test', logger: silentLogger, clock, rateLimit });
  return { clock, queue };
}

describe('WorkQueue', () => {
  it('keeps a key waiting only once however often it is added', async () => {
    const { queue } = makeQueue();
    queue.add('a');
    queue.add('b');
    queue.add('a');
    queue.add('a');
    expect(queue.length()).toBe(2);
    const seen: string[] = [];
    const running = queue.run(1, (key) => {
      seen.push(key);
    });
    await flushPromises();
    expect(seen).toEqual(['a', 'b']);
    await queue.shutDown();
    await running;
  });

  it('never gives one key to two workers; a key added meanwhile is processed once more after', async () => {
    const { queue } = makeQueue();
    const inFlight = new Set<string>();
    let overlaps = 0;
    const gates: Array<ReturnType<typeof deferred>> = [];
    const calls: string[] = [];
    const handler: WorkHandler = async (key) => {
      if (inFlight.has(key)) overlaps++;
      inFlight.add(key);
      calls.push(key);
      const gate = deferred();
      gates.push(gate);
      await gate.promise;
      inFlight.delete(key);
    };
    queue.add('a');
    const running = queue.run(4, handler);
    await flushPromises();
    expect(calls).toEqual(['a']);
    queue.add('a');
    queue.add('a');
    queue.add('b');
    await flushPromises();
    // b goes to a free worker; a waits for the worker that holds it.
    expect(calls).toEqual(['a', 'b']);
    gates[0]!.resolve();
    await flushPromises();
    expect(calls).toEqual(['a', 'b', 'a']);
    for (const gate of gates) gate.resolve();
    await flushPromises();
    expect(calls).toEqual(['a', 'b', 'a']);
    expect(overlaps).toBe(0);
    await queue.shutDown();
    await running;
  });

  it('reports how long each key waited for a worker, from its first add', async () => {
    const clock = new FakeClock();
    const waits: Array<[string, number]> = [];
    const queue = new WorkQueue({ name: 'test', logger: silentLogger, clock, metrics: { waited: (key, ms) => waits.push([key, ms]) } });
    queue.add('a');
    await clock.advance(30);
    queue.add('b');
    queue.add('a');
    await clock.advance(20);
    const running = queue.run(1, () => undefined);
    await flushPromises();
    expect(waits).toEqual([['a', 50], ['b', 20]]);
    await queue.shutDown();
    await running;
  });

  it('processes a key again after requeueAfterMs, not before', async () => {
    const { clock, queue } = makeQueue();
    const calls: number[] = [];
    const running = queue.run(2, () => {
      calls.push(clock.now());
      return calls.length === 1 ? { requeueAfterMs: 5_000 } : {};
    });
    const start = clock.now();
    queue.add('a');
    await flushPromises();
    expect(calls).toEqual([start]);
    await clock.advance(4_999);
    expect(calls).toHaveLength(1);
    await clock.advance(1);
    expect(calls).toEqual([start, start + 5_000]);
    await clock.advance(60_000);
    expect(calls).toHaveLength(2);
    await queue.shutDown();
    await running;
  });

  it('keeps the earlier time when a delayed key is added again later', async () => {
    const { clock, queue } = makeQueue();
    queue.addAfter('a', 1_000);
    queue.addAfter('a', 5_000);
    expect(clock.pendingDelays()).toEqual([1_000]);
    queue.addAfter('a', 500);
    expect(clock.pendingDelays()).toEqual([500]);
    await clock.advance(500);
    expect(queue.length()).toBe(1);
  });

  it('doubles the backoff of a key with each rate-limited add, up to the cap, until forgotten', () => {
    const { queue } = makeQueue({ initialMs: 100, maxMs: 1_000 });
    expect([1, 2, 3, 4, 5, 6].map(() => queue.addRateLimited('a'))).toEqual([100, 200, 400, 800, 1_000, 1_000]);
    expect(queue.retries('a')).toBe(6);
    expect(queue.addRateLimited('b')).toBe(100);
    queue.forget('a');
    expect(queue.retries('a')).toBe(0);
    expect(queue.addRateLimited('a')).toBe(100);
  });

  it('retries a key whose handler throws, ever more slowly, and resets once it succeeds', async () => {
    const { clock, queue } = makeQueue({ initialMs: 100, maxMs: 1_000 });
    const calls: number[] = [];
    const start = clock.now();
    const running = queue.run(1, () => {
      calls.push(clock.now() - start);
      if (calls.length <= 3) throw new Error('apiserver said no');
    });
    queue.add('a');
    await clock.advance(10_000);
    expect(calls).toEqual([0, 100, 300, 700]);
    expect(queue.retries('a')).toBe(0);
    await queue.shutDown();
    await running;
  });

  it('retries a key whose handler throws a RetrySoonError with the backoff, but never later than its retryAfterMs', async () => {
    const { clock, queue } = makeQueue({ initialMs: 100, maxMs: 60_000 });
    const calls: number[] = [];
    const start = clock.now();
    const running = queue.run(1, () => {
      calls.push(clock.now() - start);
      if (calls.length <= 5) throw new RetrySoonError('Postgres unreachable', 300);
    });
    queue.add('a');
    await clock.advance(10_000);
    // Delays 100, 200, then 300 (not 400, 800): the 6th try, once Postgres is back, comes at 1.2 s, not 3.1 s.
    expect(calls).toEqual([0, 100, 300, 600, 900, 1_200]);
    expect(queue.retries('a')).toBe(0);
    await queue.shutDown();
    await running;
  });

  it('does not retry a key whose handler throws a PermanentError', async () => {
    const { clock, queue } = makeQueue();
    let calls = 0;
    const running = queue.run(1, async () => {
      calls++;
      throw new PermanentError('spec is invalid');
    });
    queue.add('a');
    await clock.advance(60_000);
    expect(calls).toBe(1);
    expect(clock.pending()).toBe(0);
    expect(queue.retries('a')).toBe(0);
    await queue.shutDown();
    await running;
  });

  it('on shutDown with drain, processes what is queued, then stops; later adds are ignored', async () => {
    const { clock, queue } = makeQueue();
    const seen: string[] = [];
    const gate = deferred();
    const running = queue.run(1, async (key) => {
      seen.push(key);
      if (key === 'a') await gate.promise;
    });
    queue.add('a');
    queue.add('b');
    queue.add('c');
    queue.addAfter('later', 1_000);
    await flushPromises();
    const first = queue.shutDown({ drain: true });
    const second = queue.shutDown();
    queue.add('d');
    gate.resolve();
    await Promise.all([first, second, running]);
    expect(seen).toEqual(['a', 'b', 'c']);
    expect(clock.pending()).toBe(0);
    expect(queue.isShuttingDown()).toBe(true);
  });

  it('on shutDown without drain, lets in-flight work finish and drops the rest', async () => {
    const { queue } = makeQueue();
    const seen: string[] = [];
    const gate = deferred();
    let finished = false;
    const running = queue.run(1, async (key) => {
      seen.push(key);
      await gate.promise;
      finished = true;
    });
    queue.add('a');
    queue.add('b');
    await flushPromises();
    const stopping = queue.shutDown({ drain: false });
    await flushPromises();
    expect(finished).toBe(false);
    gate.resolve();
    await stopping;
    await running;
    expect(finished).toBe(true);
    expect(seen).toEqual(['a']);
  });

  it('resolves shutDown at once when no worker ever ran', async () => {
    const { queue } = makeQueue();
    queue.add('a');
    await queue.shutDown();
    await queue.shutDown();
  });
});
