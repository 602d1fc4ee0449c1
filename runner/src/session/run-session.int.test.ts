// The runner in session mode, as the operator starts it (testing/run-session-runner.ts):
// the real runner process, the real CLI, the scripted Messages API and the bed's Redis.
// The harness plays the operator's part in Redis (persisted key, answered hash).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { StreamEntry } from '../../../packages/contracts/src/event-stream.ts';
import { inboxGroup } from '../../../packages/contracts/src/session-stream.ts';
import { RunnerTurnCompletedEventSchema, type RunnerTurnCompletedEvent } from '../../../packages/contracts/src/task-events.ts';
import { waitFor } from '../../../test/bed/process.ts';
import { startSessionHarness, type SessionHarness, type TestSession } from '../testing/run-session-runner.ts';

let harness: SessionHarness;

beforeAll(async () => {
  harness = await startSessionHarness('runner-session-int');
});

afterAll(async () => {
  await harness?.close();
});

const answer = (marker: string, reply: string) => `${marker} [[scenario:answer {"text":"${reply}"}]]`;

function expectGapFree(events: StreamEntry[]): void {
  expect(events.map((e) => e.seq)).toEqual(Array.from({ length: events.length }, (_, i) => i + 1));
}

function completions(events: StreamEntry[]): RunnerTurnCompletedEvent[] {
  return events.filter((e) => e.type === 'runner.turn_completed').map((e) => RunnerTurnCompletedEventSchema.parse(e.data));
}

/** The conversation the scripted API was sent in the first request of the turn whose prompt holds `marker`. */
function conversationOf(session: TestSession, marker: string): string {
  const request = harness.requestsOf(session).find((r) => JSON.stringify(r.body?.messages ?? []).includes(marker));
  if (!request) throw new Error(`no request of the session carried ${marker}`);
  return JSON.stringify(request.body!.messages);
}

const occurrences = (text: string, part: string) => text.split(part).length - 1;

async function pendingCount(session: TestSession): Promise<number> {
  const [count] = await harness.redis.xpending(session.keys.inbox, inboxGroup) as [number, ...unknown[]];
  return Number(count);
}

async function slowRequestSeen(session: TestSession): Promise<void> {
  await waitFor('the CLI to ask the API for the slow answer', async () => harness.requestsOf(session).some((r) => r.scenario === 'slow'),
    { timeoutMs: 30_000, intervalMs: 50 });
}

describe('the runner in session mode', () => {
  it('answers the inbox\'s messages in order, one turn at a time, each with the context of the earlier ones', async () => {
    const session = harness.newSession();
    const ids = [
      await harness.send(session, answer('alpha-111', 'reply-alpha')),
      await harness.send(session, answer('beta-222', 'reply-beta')),
      await harness.send(session, answer('gamma-333', 'reply-gamma')),
    ];
    const runner = await harness.startRunner(session);
    expect(await runner.exited).toEqual({ exitCode: 0, signal: null });

    const events = await harness.events(session);
    expectGapFree(events);
    expect(events[0]!.data).toMatchObject({ type: 'runner.started', name: session.name, uid: session.uid, engine: 'cli' });
    expect(events.at(-1)!.data).toMatchObject({ type: 'runner.session_ended', reason: 'Idle' });
    expect(events[0]!.messageId).toBeUndefined();
    expect(events.at(-1)!.messageId).toBeUndefined();

    // Each turn is a run of events tagged with its message, from runner.turn_started to runner.turn_completed, in inbox order.
    const turnEvents = events.slice(1, -1);
    const runs = turnEvents.reduce<Array<{ messageId: string | undefined; types: string[] }>>((acc, e) => {
      if (acc.at(-1)?.messageId !== e.messageId) acc.push({ messageId: e.messageId, types: [] });
      acc.at(-1)!.types.push(e.type);
      return acc;
    }, []);
    expect(runs.map((r) => r.messageId)).toEqual(ids);
    for (const run of runs) {
      expect(run.types[0]).toBe('runner.turn_started');
      expect(run.types.at(-1)).toBe('runner.turn_completed');
      expect(run.types).toContain('assistant');
      expect(run.types).not.toContain('stream_event'); // partial events go to the partial channel
    }
    const started = turnEvents.filter((e) => e.type === 'runner.turn_started');
    expect(started.map((e) => e.data)).toEqual(ids.map((messageId, i) => ({
      type: 'runner.turn_started', messageId, delivery: 1, textLength: [answer('alpha-111', 'reply-alpha'), answer('beta-222', 'reply-beta'),
        answer('gamma-333', 'reply-gamma')][i]!.length,
    })));
    expect(completions(events)).toEqual(ids.map((messageId, i) => expect.objectContaining({
      messageId, outcome: 'answered', result: ['reply-alpha', 'reply-beta', 'reply-gamma'][i], stopReason: 'success', message: null,
      sessionId: session.uid, firstSeq: started[i]!.seq, usage: expect.objectContaining({ turns: 1 }),
    })));

    // The context: message 2 was asked with message 1 and its answer, message 3 with both.
    expect(conversationOf(session, 'alpha-111')).not.toContain('beta-222');
    const second = conversationOf(session, 'beta-222');
    for (const part of ['alpha-111', 'reply-alpha']) expect(second).toContain(part);
    const third = conversationOf(session, 'gamma-333');
    for (const part of ['alpha-111', 'reply-alpha', 'beta-222', 'reply-beta']) expect(third).toContain(part);

    expect(await pendingCount(session)).toBe(0);
    expect(await harness.redis.get(session.keys.transcript)).toContain('reply-gamma');
  });

  it('exits 0 when idle, and the next runner on the same volume resumes with the context', async () => {
    const session = harness.newSession();
    const rootfs = await harness.runner.newRootfs();
    await harness.send(session, answer('first-444', 'reply-first'));
    const first = await harness.startRunner(session, { rootfs, idleTimeoutSeconds: 1 });
    expect(await first.exited).toEqual({ exitCode: 0, signal: null });
    expect((await harness.events(session)).at(-1)!.data).toEqual({ type: 'runner.session_ended', reason: 'Idle', message: 'No message for 1 s.' });

    const id = await harness.send(session, answer('second-555', 'reply-second'));
    const second = await harness.startRunner(session, { rootfs, idleTimeoutSeconds: 1 });
    expect(await second.exited).toEqual({ exitCode: 0, signal: null });
    const events = await harness.events(session);
    expectGapFree(events);
    expect(events.filter((e) => e.type === 'runner.started')).toHaveLength(2);
    expect(completions(events).at(-1)).toMatchObject({ messageId: id, outcome: 'answered', result: 'reply-second' });
    const conversation = conversationOf(session, 'second-555');
    for (const part of ['first-444', 'reply-first']) expect(conversation).toContain(part);
  });

  it('restores the transcript from its key onto an empty volume and keeps the context', async () => {
    const session = harness.newSession();
    await harness.send(session, answer('lost-666', 'reply-lost'));
    expect((await (await harness.startRunner(session, { idleTimeoutSeconds: 1 })).exited).exitCode).toBe(0);

    // A new pod on a new, empty volume (another rootfs: another workspace path too).
    await harness.send(session, answer('found-777', 'reply-found'));
    const runner = await harness.startRunner(session, { idleTimeoutSeconds: 1 });
    expect((await runner.exited).exitCode).toBe(0);
    expect(runner.output()).toContain('"transcript":"redis"');
    expect(completions(await harness.events(session)).map((c) => c.result)).toEqual(['reply-lost', 'reply-found']);
    const conversation = conversationOf(session, 'found-777');
    for (const part of ['lost-666', 'reply-lost']) expect(conversation).toContain(part);
  });

  it('copies the transcript from another project dir when the workspace path changed', async () => {
    const session = harness.newSession();
    const rootfs = await harness.runner.newRootfs();
    await harness.send(session, answer('moved-121', 'reply-moved'));
    expect((await (await harness.startRunner(session, { rootfs, idleTimeoutSeconds: 1 })).exited).exitCode).toBe(0);
    await harness.redis.del(session.keys.transcript); // so only the other project dir can carry the context

    await harness.send(session, answer('elsewhere-232', 'reply-elsewhere'));
    const runner = await harness.startRunner(session, { rootfs, idleTimeoutSeconds: 1, env: { WORKSPACE_DIR: '/var/lib/claude-session/moved' } });
    expect((await runner.exited).exitCode).toBe(0);
    expect(runner.output()).toContain('"transcript":"other-project"');
    const conversation = conversationOf(session, 'elsewhere-232');
    for (const part of ['moved-121', 'reply-moved']) expect(conversation).toContain(part);
  });

  it('acknowledges a message only once the operator has its answer (the persisted key)', async () => {
    const session = harness.newSession();
    harness.setOperator(false);
    try {
      await harness.send(session, answer('held-343', 'reply-held'));
      const runner = await harness.startRunner(session, { idleTimeoutSeconds: 1 });
      const [completed] = await harness.waitForEvents(session, 'the turn\'s completion', (events) => completions(events).length === 1)
        .then((events) => events.filter((e) => e.type === 'runner.turn_completed'));
      await harness.redis.set(session.keys.persisted, String(completed!.seq - 1));
      await new Promise((resolve) => setTimeout(resolve, 1_500)); // several of the runner's reads of the key
      expect(await pendingCount(session)).toBe(1);
      harness.setOperator(true);
      expect((await runner.exited).exitCode).toBe(0);
      expect(await pendingCount(session)).toBe(0);
    } finally {
      harness.setOperator(true);
    }
  });

  it('ends a turn as interrupted on the control channel\'s interrupt, and answers the next message with the context', async () => {
    const session = harness.newSession();
    const slowId = await harness.send(session, 'slow-888 [[scenario:slow {"tokens":300,"delayMs":100}]]');
    const runner = await harness.startRunner(session, { idleTimeoutSeconds: 2 });
    await slowRequestSeen(session);
    await harness.interrupt(session);
    await harness.waitForEvents(session, 'the interrupted turn\'s completion', (events) => completions(events).length === 1);

    const nextId = await harness.send(session, answer('after-999', 'reply-after'));
    expect(await runner.exited).toEqual({ exitCode: 0, signal: null });
    const events = await harness.events(session);
    expectGapFree(events);
    expect(completions(events)).toEqual([
      expect.objectContaining({ messageId: slowId, outcome: 'interrupted', stopReason: 'interrupted', result: null }),
      expect.objectContaining({ messageId: nextId, outcome: 'answered', result: 'reply-after' }),
    ]);
    expect(await pendingCount(session)).toBe(0);
    expect(conversationOf(session, 'after-999')).toContain('slow-888');
  });

  it('answers a message exactly once when the runner is SIGKILLed mid-turn, the half turn left out of the context', async () => {
    const session = harness.newSession();
    const rootfs = await harness.runner.newRootfs();
    await harness.send(session, answer('before-101', 'reply-before'));
    expect((await (await harness.startRunner(session, { rootfs, idleTimeoutSeconds: 1 })).exited).exitCode).toBe(0);

    const id = await harness.send(session, 'killed-202 [[scenario:slow {"tokens":30,"delayMs":100}]]');
    const killed = await harness.startRunner(session, { rootfs, idleTimeoutSeconds: 1 });
    await slowRequestSeen(session);
    process.kill(killed.pid, 'SIGKILL');
    await killed.exited;

    const next = await harness.startRunner(session, { rootfs, idleTimeoutSeconds: 1 });
    expect((await next.exited).exitCode).toBe(0);
    const events = await harness.events(session);
    expectGapFree(events);
    expect(events.filter((e) => e.type === 'runner.turn_started' && e.messageId === id).map((e) => e.data.delivery)).toEqual([1, 2]);
    expect(completions(events).filter((c) => c.messageId === id)).toEqual([expect.objectContaining({ outcome: 'answered' })]);
    expect(await pendingCount(session)).toBe(0);
    // The second delivery's turn was asked with the turn before it, and the killed prompt only once.
    const retried = harness.requestsOf(session).filter((r) => JSON.stringify(r.body?.messages ?? []).includes('killed-202')).at(-1)!;
    const conversation = JSON.stringify(retried.body!.messages);
    expect(conversation).toContain('reply-before');
    expect(occurrences(conversation, 'killed-202')).toBe(1);
  });

  it('on SIGTERM stops the turn without answering it, exits 143, and the next runner answers it', async () => {
    const session = harness.newSession();
    const rootfs = await harness.runner.newRootfs();
    const id = await harness.send(session, 'stopped-303 [[scenario:slow {"tokens":30,"delayMs":100}]]');
    const stopped = await harness.startRunner(session, { rootfs });
    await slowRequestSeen(session);
    process.kill(stopped.pid, 'SIGTERM');
    expect(await stopped.exited).toEqual({ exitCode: 143, signal: null });
    let events = await harness.events(session);
    expect(events.at(-1)!.data).toMatchObject({ type: 'runner.session_ended', reason: 'Stopped' });
    expect(completions(events)).toEqual([]);
    expect(await pendingCount(session)).toBe(1);

    const next = await harness.startRunner(session, { rootfs, idleTimeoutSeconds: 1 });
    expect((await next.exited).exitCode).toBe(0);
    events = await harness.events(session);
    expectGapFree(events);
    expect(completions(events)).toEqual([expect.objectContaining({ messageId: id, outcome: 'answered' })]);
  });

  it('exits 2 with runner.session_ended Failed for a spec it cannot run', async () => {
    const session = harness.newSession();
    const runner = await harness.startRunner(session, { spec: { engine: 'api' } });
    expect((await runner.exited).exitCode).toBe(2);
    const events = await harness.events(session);
    expect(events.map((e) => e.type)).toEqual(['runner.started', 'runner.session_ended']);
    expect(events[1]!.data).toMatchObject({ reason: 'Failed', message: expect.stringMatching(/engine api/) });
  });
});
