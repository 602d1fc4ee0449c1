// What the session reconciler reads on every pass, against the bed's real
// Postgres: the totals of the session's messages and its last event of the
// types asked for, in one query, for a session with history and one without.
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import pg from 'pg';
import type { ClaudeSession } from '../../../crds/src/claude-session.ts';
import { bedSetting } from '../../../test/support/cluster.ts';
import { migrate } from './migrate.ts';
import {
  acceptMessage, ensureSessionRecord, failWaitingMessages, readMessages, readSessionTotalsAndLastEvent, writeSessionEvents,
} from './session-records.ts';

const namespace = `records-${randomBytes(3).toString('hex')}`;
let pool: pg.Pool;

beforeAll(async () => {
  await migrate(bedSetting('DATABASE_URL'));
  pool = new pg.Pool({ connectionString: bedSetting('DATABASE_URL'), max: 2 });
});

afterAll(async () => {
  await pool?.end();
});

async function newSession(name: string): Promise<string> {
  const session = {
    apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudeSession',
    metadata: { name, namespace, uid: randomUUID(), creationTimestamp: '2026-12-01T10:00:00Z' },
    spec: {},
  } as unknown as ClaudeSession;
  await ensureSessionRecord(pool, session);
  return session.metadata.uid ?? '';
}

const lifecycle = ['runner.started', 'runner.session_ended'];

describe('readSessionTotalsAndLastEvent', () => {
  test('a session without messages or events: zeros, no activity, no event', async () => {
    const uid = await newSession('empty');
    expect(await readSessionTotalsAndLastEvent(pool, uid, lifecycle)).toEqual({
      totals: {
        messages: 0, waiting: 0, turns: 0, lastActivityTime: null,
        usage: { inputTokens: 0, outputTokens: 0, cacheReadInputTokens: 0, cacheCreationInputTokens: 0, costUSD: '0', turns: 0 },
      },
      lastEvent: undefined,
    });
  });

  test('sums the answered turns, counts the waiting message and finds the newest event of the types asked for', async () => {
    const uid = await newSession('chat');
    const turn = (seq: number, messageId: string, costUSD: string) => ({
      seq, type: 'runner.turn_completed', messageId, time: `2026-12-01T10:0${seq}:00.000Z`,
      data: { type: 'runner.turn_completed', messageId, outcome: 'answered', result: 'ok', stopReason: 'success', message: null,
        usage: { inputTokens: 20, outputTokens: 10, cacheReadInputTokens: 3, costUSD, turns: 2 }, sessionId: uid, model: null, firstSeq: seq - 1 },
    });
    for (const messageId of ['m1', 'm2', 'm3']) {
      await acceptMessage(pool, { sessionUid: uid, messageId, text: 'hi', acceptedAt: '2026-12-01T10:00:30.000Z' });
    }
    await writeSessionEvents(pool, uid, [
      { seq: 1, type: 'runner.started', time: '2026-12-01T10:01:00.000Z', data: { type: 'runner.started' } },
      { seq: 2, type: 'assistant', messageId: 'm1', time: '2026-12-01T10:01:30.000Z', data: { type: 'assistant' } },
      turn(3, 'm1', '0.1'),
      { seq: 4, type: 'runner.session_ended', time: '2026-12-01T10:04:00.000Z', data: { type: 'runner.session_ended', reason: 'idle' } },
      { seq: 5, type: 'runner.started', time: '2026-12-01T10:05:00.000Z', data: { type: 'runner.started' } },
      turn(7, 'm2', '0.25'),
    ]);

    const { totals, lastEvent } = await readSessionTotalsAndLastEvent(pool, uid, lifecycle);
    expect(totals).toEqual({
      messages: 2, waiting: 1, turns: 4, lastActivityTime: '2026-12-01T10:07:00.000Z',
      usage: { inputTokens: 40, outputTokens: 20, cacheReadInputTokens: 6, cacheCreationInputTokens: 0, costUSD: '0.35', turns: 4 },
    });
    expect(lastEvent).toEqual({ seq: 5, type: 'runner.started', time: '2026-12-01T10:05:00.000Z', data: { type: 'runner.started' } });
    expect((await readSessionTotalsAndLastEvent(pool, uid, ['runner.session_ended'])).lastEvent?.seq).toBe(4);
    expect((await readSessionTotalsAndLastEvent(pool, uid, ['assistant'])).lastEvent).toEqual(
      { seq: 2, type: 'assistant', messageId: 'm1', time: '2026-12-01T10:01:30.000Z', data: { type: 'assistant' } });
    expect((await readSessionTotalsAndLastEvent(pool, uid, [])).lastEvent).toBeUndefined();
  });
});

describe('failWaitingMessages', () => {
  test('fails the waiting messages, oldest first, with the error; an answered one keeps its answer, and an answer that comes later is not taken', async () => {
    const uid = await newSession('closed');
    for (const messageId of ['m1', 'm2', 'm3']) {
      await acceptMessage(pool, { sessionUid: uid, messageId, text: `text of ${messageId}`, acceptedAt: '2026-12-01T10:00:30.000Z' });
    }
    const answer = (seq: number, messageId: string) => ({
      seq, type: 'runner.turn_completed', messageId, time: '2026-12-01T10:01:00.000Z',
      data: { type: 'runner.turn_completed', messageId, outcome: 'answered', result: 'ok', stopReason: 'success', message: null,
        usage: null, sessionId: uid, model: null, firstSeq: seq },
    });
    await writeSessionEvents(pool, uid, [answer(1, 'm1')]);

    const error = 'the session became Failed (APIKeySecretMissing: secret "k" not found) before this message was answered';
    expect(await failWaitingMessages(pool, uid, error, new Date('2026-12-01T10:02:00.000Z'))).toEqual(['m2', 'm3']);
    expect(await failWaitingMessages(pool, uid, 'again', new Date())).toEqual([]);
    await writeSessionEvents(pool, uid, [answer(2, 'm2')]);

    const messages = await readMessages(pool, uid);
    expect(messages.map((m) => [m.messageId, m.state, m.result, m.error])).toEqual([
      ['m1', 'answered', 'ok', null], ['m2', 'failed', null, error], ['m3', 'failed', null, error],
    ]);
    expect(messages[1]!.answeredAt).toBe('2026-12-01T10:02:00.000Z');
    expect((await readSessionTotalsAndLastEvent(pool, uid, lifecycle)).totals).toMatchObject({ messages: 1, waiting: 0 });
  });
});
