// A ClaudeSession whose events pass the Redis stream's cap loses none. The
// operator runs with EVENT_STREAM_MAX_LENGTH at its minimum (100) and trims the
// session's stream as it copies it into Postgres; one turn of 350 tool calls
// (the real CLI against the scripted API) writes about seven times that. A
// WebSocket follower from the start, a client that comes late from seq 0 and one
// that resumes from a trimmed seq each get every event once, in order, equal to
// the Postgres history: what Redis no longer holds comes from Postgres. The next
// message still has the long turn's context.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { seqOfEntry, workloadStreamKeys } from '../../packages/contracts/src/event-stream.ts';
import { follow, type Followed } from '../../api/src/stream/testing.ts';
import { waitFor } from '../support/cluster.ts';
import { sessionClient } from './support/session-client.ts';
import { carries, turnRequest } from './support/session-requests.ts';
import { startSessionStack, stopSessionStack, type SessionStack } from './support/session-stack.ts';

const streamCap = 100;
let stack: SessionStack | undefined;
beforeAll(async () => {
  stack = await startSessionStack('session-cap', { operatorEnv: { EVENT_STREAM_MAX_LENGTH: String(streamCap) } });
});
afterAll(() => stopSessionStack(stack));

const { send, createSession, streamUrl } = sessionClient(() => stack!);

interface Event { seq: number; type: string; messageId: string | undefined; data: unknown }

/** The session's events in Postgres up to `lastSeq`, in seq order. */
async function storedEvents(uid: string, lastSeq: number): Promise<Event[]> {
  const { rows } = await stack!.fixture.db.query(
    'SELECT seq, type, message_id, data FROM claude_session_events WHERE session_uid = $1 AND seq <= $2 ORDER BY seq', [uid, lastSeq]);
  return rows.map((row: { seq: string; type: string; message_id: string | null; data: unknown }) =>
    ({ seq: Number(row.seq), type: row.type, messageId: row.message_id ?? undefined, data: row.data }));
}

/** What a client received up to `lastSeq`, once it has that seq; the socket is closed then. */
async function receivedThrough(client: Followed, lastSeq: number, who: string): Promise<Event[]> {
  await waitFor(`${who} has seq ${lastSeq}`, async () => client.messages.some((m) => m.seq === lastSeq), { timeoutMs: 120_000 })
    .catch((error: Error) => { throw new Error(`${error.message}; it has ${client.messages.length}, the last ${client.messages.at(-1)?.seq}`); });
  client.ws.close();
  await client.closed;
  return client.messages.filter((m) => m.seq <= lastSeq).map((m) => ({ seq: m.seq, type: m.type, messageId: m.messageId, data: m.data }));
}

const seqsFrom = (first: number, last: number) => Array.from({ length: last - first + 1 }, (_s, i) => first + i);

test('a turn of seven times the stream cap in events: a follower, a late client from 0 and one from a trimmed seq get every event once; the next turn has the context', async () => {
  const { fixture, bearer } = stack!;
  const session = await createSession('many-events', { allowedTools: ['Bash'] });
  const follower = follow(streamUrl('many-events', 0), { token: bearer });
  await follower.opened;

  const answer = await send('many-events', 'the password is heron [[scenario:many-tools {"calls":50,"rounds":7}]]');
  expect(answer.status).toBe(200);
  expect(answer.json).toMatchObject({ state: 'answered', result: 'Ran 350 tools.' });
  const lastSeq = answer.json.lastSeq as number;
  // An assistant and a user event per tool call.
  expect(lastSeq).toBeGreaterThan(7 * streamCap);

  // The cap was passed: Redis holds neither the turn's start nor all of it.
  const key = workloadStreamKeys('session', fixture.ns.name, 'many-events').events;
  const [head] = await fixture.redis.xrange(key, '-', '+', 'COUNT', 1);
  const redisHead = seqOfEntry(head![1])!;
  expect(redisHead).toBeGreaterThan(1);
  expect(await fixture.redis.xlen(key)).toBeLessThan(lastSeq);

  // Postgres has all of them, gap-free.
  const stored = await storedEvents(session.metadata.uid!, lastSeq);
  expect(stored.map((event) => event.seq)).toEqual(seqsFrom(1, lastSeq));
  expect(stored.filter((event) => event.messageId === answer.json.messageId).length).toBeGreaterThan(7 * streamCap);

  // Live from the start, late from 0, and from a seq Redis trimmed: each is the history from its seq.
  expect(await receivedThrough(follower, lastSeq, 'the follower')).toEqual(stored);
  expect(await receivedThrough(follow(streamUrl('many-events', 0), { token: bearer }), lastSeq, 'the late client')).toEqual(stored);
  const resumeAfter = Math.floor(redisHead / 2);
  expect(await receivedThrough(follow(streamUrl('many-events', resumeAfter), { token: bearer }), lastSeq, 'the resuming client'))
    .toEqual(stored.slice(resumeAfter));

  const next = await send('many-events', 'which password did I name');
  expect(next.json).toMatchObject({ state: 'answered' });
  expect(next.json.firstSeq).toBeGreaterThan(lastSeq);
  carries(turnRequest(fixture.api.requests, session, 'which password did I name'), 'the password is heron', 'Ran 350 tools.');
});
