// The session copier against the bed's real Redis and Postgres: a turn's events
// reach claude_session_events with their messageId, the message gets its answer
// and the transcript is stored with it, and only then do the persisted key and
// the answered hash say so.
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { pino } from 'pino';
import { Redis } from 'ioredis';
import type { ClaudeSession } from '../../../crds/src/claude-session.ts';
import { workloadStreamKeys } from '../../../packages/contracts/src/event-stream.ts';
import { sessionAnsweredKey, sessionTranscriptKey } from '../../../packages/contracts/src/session-stream.ts';
import { migrate } from '../../../packages/database/src/migrate.ts';
import { acceptMessage, readMessage, readTranscript, writeSessionStatus } from '../../../packages/database/src/session-records.ts';
import { bedSetting, waitFor } from '../../../test/support/cluster.ts';
import { EventCopier, type FollowedTask } from '../event-copier.ts';
import { sessionCopyTarget } from './session-copier.ts';

const logger = pino({ level: 'silent' });
const namespace = `scopier-${randomBytes(3).toString('hex')}`;
let db: pg.Pool;
let redis: Redis;
const closers: Array<() => Promise<unknown>> = [];

const env = bedSetting;

beforeAll(async () => {
  await migrate(env('DATABASE_URL'));
  db = new pg.Pool({ connectionString: env('DATABASE_URL'), max: 3 });
  redis = new Redis(env('REDIS_URL'));
});

afterAll(async () => {
  for (const close of closers.reverse()) await close();
  redis?.disconnect();
  await db?.end();
});

async function newSession(): Promise<FollowedTask> {
  const session = { namespace, name: `s-${randomBytes(4).toString('hex')}`, uid: randomUUID() };
  const resource: ClaudeSession = { apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudeSession',
    metadata: { ...session, creationTimestamp: new Date().toISOString() }, spec: {} };
  await writeSessionStatus(db, resource, { phase: 'Ready' });
  return session;
}

const messageId = () => `msg_${randomBytes(16).toString('hex')}`;

async function publish(session: FollowedTask, seq: number, data: { type: string; [key: string]: unknown }, message?: string): Promise<void> {
  await redis.xadd(workloadStreamKeys('session', session.namespace, session.name).events, '*', 'seq', String(seq), 'type', data.type,
    'data', JSON.stringify(data), 'time', new Date().toISOString(), ...(message ? ['messageId', message] : []));
}

function turnCompleted(message: string, firstSeq: number, sessionId: string | null) {
  return {
    type: 'runner.turn_completed', messageId: message, outcome: 'answered', result: 'four', stopReason: 'success', message: null,
    usage: { inputTokens: 3, outputTokens: 5, costUSD: '0.01', turns: 1 }, sessionId, model: 'claude-test', firstSeq,
  };
}

describe('session copier', () => {
  it('stores a turn with its messageIds, answer and transcript, then sets persisted and answered, and queues the session', async () => {
    const session = await newSession();
    const first = messageId();
    await acceptMessage(db, { sessionUid: session.uid, messageId: first, text: '2+2?', acceptedAt: new Date().toISOString() });
    const queued: string[] = [];
    const copier = new EventCopier({
      redisUrl: env('REDIS_URL'), logger, blockMs: 200,
      target: sessionCopyTarget({ db, onStatusEvent: (s) => queued.push(`${s.namespace}/${s.name}`) }),
    });
    closers.push(() => copier.close());
    copier.follow(session);

    await publish(session, 1, { type: 'runner.started' });
    await publish(session, 2, { type: 'runner.turn_started', messageId: first, delivery: 1, textLength: 4 }, first);
    await publish(session, 3, { type: 'assistant', message: { content: [{ type: 'text', text: 'four' }] } }, first);
    // The runner SETs the transcript before it publishes the turn's completion.
    await redis.set(sessionTranscriptKey(session.namespace, session.name), '{"line":1}\n');
    await publish(session, 4, turnCompleted(first, 2, null), first);

    const answered = sessionAnsweredKey(session.namespace, session.name);
    await waitFor('the answered hash', async () => (await redis.hget(answered, first)) === '4', { timeoutMs: 10_000, intervalMs: 50 });
    expect(await redis.get(workloadStreamKeys('session', session.namespace, session.name).persisted)).toBe('4');
    const { rows } = await db.query('SELECT seq, message_id FROM claude_session_events WHERE session_uid = $1 ORDER BY seq', [session.uid]);
    expect(rows.map((row) => [Number(row.seq), row.message_id])).toEqual([[1, null], [2, first], [3, first], [4, first]]);
    expect(await readMessage(db, session.uid, first)).toMatchObject({ state: 'answered', result: 'four', firstSeq: 2, lastSeq: 4 });
    // No sessionId in the event: the session's uid is the CLI's session id.
    expect(await readTranscript(db, session.uid)).toEqual({ claudeSessionId: session.uid, content: '{"line":1}\n', throughSeq: 4 });
    expect(queued).toContain(`${session.namespace}/${session.name}`);

    // A second turn replaces the transcript, with the id the event names.
    const second = messageId();
    await acceptMessage(db, { sessionUid: session.uid, messageId: second, text: 'and 3+3?', acceptedAt: new Date().toISOString() });
    await publish(session, 5, { type: 'runner.turn_started', messageId: second, delivery: 1, textLength: 8 }, second);
    await redis.set(sessionTranscriptKey(session.namespace, session.name), '{"line":1}\n{"line":2}\n');
    await publish(session, 6, turnCompleted(second, 5, session.uid), second);
    await waitFor('the second answer', async () => (await redis.hget(answered, second)) === '6', { timeoutMs: 10_000, intervalMs: 50 });
    expect(await readTranscript(db, session.uid)).toEqual({ claudeSessionId: session.uid, content: '{"line":1}\n{"line":2}\n', throughSeq: 6 });
    expect(await readMessage(db, session.uid, second)).toMatchObject({ state: 'answered', firstSeq: 5, lastSeq: 6 });
  });

  it('does not set the persisted key or the answered hash while Postgres refuses the batch', async () => {
    // No record for the session: the foreign key refuses its events.
    const session = { namespace, name: `orphan-${randomBytes(4).toString('hex')}`, uid: randomUUID() };
    const copier = new EventCopier({ redisUrl: env('REDIS_URL'), logger, blockMs: 200, target: sessionCopyTarget({ db }) });
    closers.push(() => copier.close());
    copier.follow(session);
    const message = messageId();
    await publish(session, 1, { type: 'runner.turn_started', messageId: message, delivery: 1, textLength: 1 }, message);
    await publish(session, 2, turnCompleted(message, 1, null), message);
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(await redis.get(workloadStreamKeys('session', session.namespace, session.name).persisted)).toBeNull();
    expect(await redis.hget(sessionAnsweredKey(session.namespace, session.name), message)).toBeNull();
    // Once the record exists the same batch goes through.
    await writeSessionStatus(db, { apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudeSession', metadata: session, spec: {} }, { phase: 'Ready' });
    await waitFor('the persisted key', async () => (await redis.get(workloadStreamKeys('session', session.namespace, session.name).persisted)) === '2',
      { timeoutMs: 10_000, intervalMs: 50 });
    expect(await redis.hget(sessionAnsweredKey(session.namespace, session.name), message)).toBe('2');
  });
});
