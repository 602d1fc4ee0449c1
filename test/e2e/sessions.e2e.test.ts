// ClaudeSession end to end: the real operator, API and runner (its pods on the
// bed's node, on a PVC), the real CLI against the scripted Messages API, which
// records what each request carried. A conversation through curl keeps its
// context across turns, pods, idle suspends and a lost volume.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { ClaudeSession } from '../../crds/src/claude-session.ts';
import type { ApiServer } from '../../api/src/server.ts';
import { follow } from '../../api/src/stream/testing.ts';
import { waitFor } from '../support/cluster.ts';
import { grantedByChart, operatorRequests, permission, sessionPermissions } from './support/rbac-audit.ts';
import { carries, conversationTexts, turnRequest as firstRequestOfTurn } from './support/session-requests.ts';
import { sessionRunnerPid } from './support/runner-process.ts';
import { sessionClient, type Answer } from './support/session-client.ts';
import { startSessionStack, stopSessionStack, type SessionStack } from './support/session-stack.ts';
import type { TaskFixture } from './support/task-fixture.ts';

let fixture: TaskFixture;
let api: ApiServer;
let bearer: string;

let stack: SessionStack | undefined;
beforeAll(async () => {
  stack = await startSessionStack('sessions');
  ({ fixture, api, bearer } = stack);
});
afterAll(() => stopSessionStack(stack));

const { curl, send, getSession, sessionWhen, createSession } = sessionClient(() => stack!);

const turnRequest = (session: ClaudeSession, text: string) => firstRequestOfTurn(fixture.api.requests, session, text);

describe('a conversation', () => {
  test('three messages through curl, each answered in its POST; each request to the model carries the messages and answers before it', async () => {
    const session = await createSession('talk');
    expect(session.status).toMatchObject({ phase: 'Ready', claudeSessionId: session.metadata.uid });

    const answers: Answer[] = [];
    for (const text of ['first question alpha', 'second question bravo', 'third question charlie']) {
      const answer = await send('talk', text);
      expect(answer.status).toBe(200);
      expect(answer.json).toMatchObject({ messageId: expect.stringMatching(/^msg_[0-9a-f]{32}$/), state: 'answered',
        result: expect.stringContaining('scripted answer'), firstSeq: expect.any(Number), lastSeq: expect.any(Number) });
      answers.push(answer);
    }
    carries(turnRequest(session, 'second question bravo'), 'first question alpha', answers[0]!.json.result as string);
    carries(turnRequest(session, 'third question charlie'), 'first question alpha', 'second question bravo', answers[1]!.json.result as string);
    // The first turn had nothing before it.
    expect(conversationTexts(turnRequest(session, 'first question alpha')!).join('\n')).not.toContain('bravo');
    // The turns' seq ranges follow each other without a gap.
    expect(answers[1]!.json.firstSeq).toBeGreaterThan(answers[0]!.json.lastSeq as number);

    const listed = await curl('GET', '/sessions/talk/messages');
    expect(listed.status).toBe(200);
    expect((listed.json.items as Array<{ text: string; result: string }>).map((m) => m.text))
      .toEqual(['first question alpha', 'second question bravo', 'third question charlie']);
    const status = (await sessionWhen('talk', '3 messages counted', (s) => s.status?.messages === 3)).status!;
    expect(status.usage?.costUSD).toMatch(/^[0-9.]+$/);
  });

  test('kubectl shows the columns, explains the fields, and waits for condition=Ready', async () => {
    const got = await fixture.ns.kubectl('get', 'csess', 'talk');
    expect(got.stderr).toBe('');
    expect(got.stdout.split('\n')[0]).toMatch(/^NAME\s+PHASE\s+MODEL\s+MESSAGES\s+COST\s+LAST ACTIVITY\s+AGE$/);
    const explained = await fixture.ns.kubectl('explain', 'claudesession.spec.idleTimeoutSeconds');
    expect(explained.stdout).toContain('Suspend the session');
    // Answered and not yet idle (the default idleTimeoutSeconds is 300): Ready.
    const waited = await fixture.ns.kubectl('wait', '--for=condition=Ready', 'csess/talk', '--timeout=60s');
    expect({ code: waited.code, stdout: waited.stdout.trim(), stderr: waited.stderr }).toEqual({ code: 0, stdout: 'claudesession.claude-operator.io/talk condition met', stderr: '' });
  });
});

describe('idle and volumes', () => {
  test('idle: the pod goes and the session is Suspended while a WebSocket follower stays; the next message resumes with the context', async () => {
    const session = await createSession('idler', { idleTimeoutSeconds: 10 });
    const first = await send('idler', 'remember the word zebra');
    expect(first.status).toBe(200);
    const follower = follow(`${api.url.replace('http', 'ws')}/api/v1/namespaces/${fixture.ns.name}/sessions/idler/stream?from=0`, { token: bearer });
    await follower.opened;
    await sessionWhen('idler', 'Suspended', (s) => s.status?.phase === 'Suspended');
    await waitFor('idler pods gone', async () => (await fixture.ns.core.listNamespacedPod({ namespace: fixture.ns.name,
      labelSelector: 'claude-operator.io/session=idler' })).items.every((pod) => pod.status?.phase !== 'Running'), { timeoutMs: 60_000 });
    let closed = false;
    void follower.closed.then(() => { closed = true; });
    await new Promise((resolve) => setImmediate(resolve));
    expect(closed).toBe(false);

    const second = await send('idler', 'which word did I ask you to remember');
    expect(second.status).toBe(200);
    carries(turnRequest(session, 'which word'), 'remember the word zebra');
    expect((await getSession('idler')).status?.activations).toBeGreaterThanOrEqual(2);

    // The follower saw both turns, seq gap-free, across the two pods.
    await waitFor('follower has the second answer', async () =>
      follower.messages.some((m) => m.type === 'runner.turn_completed' && (m.data as { messageId?: string }).messageId === second.json.messageId));
    const seqs = follower.messages.map((m) => m.seq);
    expect(seqs).toEqual(seqs.map((_s, i) => i + 1));
    follower.ws.close();
  });

  test('losing the volume while Suspended: the next message still has the whole context, from the transcript in Postgres', async () => {
    const session = await createSession('lost-volume', { idleTimeoutSeconds: 10 });
    expect((await send('lost-volume', 'the secret number is 4711')).status).toBe(200);
    const suspended = await sessionWhen('lost-volume', 'Suspended', (s) => s.status?.phase === 'Suspended');
    const pvc = suspended.status!.workspacePVC!;
    const lost = await fixture.ns.core.readNamespacedPersistentVolumeClaim({ name: pvc, namespace: fixture.ns.name });
    await fixture.ns.core.deleteNamespacedPersistentVolumeClaim({ name: pvc, namespace: fixture.ns.name });
    // The operator may make a new one at once; the old volume, by uid, must be gone.
    await waitFor(`${pvc} gone`, async () => (await fixture.ns.core.listNamespacedPersistentVolumeClaim({ namespace: fixture.ns.name }))
      .items.every((item) => item.metadata?.uid !== lost.metadata?.uid), { timeoutMs: 60_000 });

    const answer = await send('lost-volume', 'what is the secret number');
    expect(answer.status).toBe(200);
    carries(turnRequest(session, 'what is the secret'), 'the secret number is 4711');
  });
});

/** A turn that streams for several seconds, so something can happen in the middle of it. */
const slowTurn = (text: string) => `${text} [[scenario:slow {"tokens":60,"delayMs":200}]]`;

async function sendAsync(session: string, text: string, headers: string[] = []): Promise<string> {
  const accepted = await curl('POST', `/sessions/${session}/messages?async=true`, { text }, headers);
  expect(accepted.status).toBe(202);
  return accepted.json.messageId as string;
}

async function messageWhen(session: string, messageId: string, check: (m: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  let last: Record<string, unknown> = {};
  await waitFor(`message ${messageId}`, async () => check(last = (await curl('GET', `/sessions/${session}/messages/${messageId}`)).json),
    { timeoutMs: 180_000, intervalMs: 500 });
  return last;
}

/** The runner.turn_completed events Postgres holds for one message. */
async function completionsOf(session: ClaudeSession, messageId: string): Promise<number> {
  const { rows } = await fixture.db.query(
    "SELECT count(*)::int AS n FROM claude_session_events WHERE session_uid = $1 AND message_id = $2 AND type = 'runner.turn_completed'",
    [session.metadata.uid, messageId]);
  return rows[0].n as number;
}

describe('turns in flight', () => {
  test('interrupt mid-turn ends that turn as interrupted; the next message is answered with the context', async () => {
    const session = await createSession('interrupted');
    expect((await send('interrupted', 'the colour is teal')).status).toBe(200);
    const slow = await sendAsync('interrupted', slowTurn('tell me a long story'));
    await sessionWhen('interrupted', 'Busy with the slow turn', (s) => s.status?.phase === 'Busy' && s.status.activeTurn === slow);
    const interrupt = await curl('POST', '/sessions/interrupted/interrupt');
    expect(interrupt.status).toBe(202);
    const ended = await messageWhen('interrupted', slow, (m) => m.state !== 'accepted');
    expect(ended).toMatchObject({ state: 'interrupted', stopReason: 'interrupted', result: null });
    const next = await send('interrupted', 'which colour did I name');
    expect(next.json).toMatchObject({ state: 'answered' });
    carries(turnRequest(session, 'which colour did I name'), 'the colour is teal');
  });

  test('the pod force-deleted mid-turn: the message is answered exactly once, the retry with its Idempotency-Key gets that answer, and the context holds', async () => {
    const session = await createSession('pod-lost');
    expect((await send('pod-lost', 'the city is Lisbon')).status).toBe(200);
    const key = ['Idempotency-Key: pod-lost-slow-1'];
    const slow = await sendAsync('pod-lost', slowTurn('describe the city at length'), key);
    const busy = await sessionWhen('pod-lost', 'Busy with the slow turn', (s) => s.status?.phase === 'Busy' && s.status.activeTurn === slow);
    const deleted = await fixture.ns.kubectl('delete', 'pod', busy.status!.podName!, '--grace-period=0', '--force');
    expect(deleted.code).toBe(0);
    const retried = await send('pod-lost', slowTurn('describe the city at length'), key);
    expect(retried.status).toBe(200);
    expect(retried.json).toMatchObject({ messageId: slow, state: 'answered', result: expect.any(String) });
    expect(await completionsOf(session, slow)).toBe(1);
    const listed = (await curl('GET', '/sessions/pod-lost/messages')).json.items as Array<{ messageId: string }>;
    expect(listed.filter((m) => m.messageId === slow)).toHaveLength(1);
    const next = await send('pod-lost', 'which city did I name');
    expect(next.json).toMatchObject({ state: 'answered' });
    carries(turnRequest(session, 'which city did I name'), 'the city is Lisbon');
  });

  test('a WebSocket client reconnecting mid-turn with from= gets no gap and no duplicate; the joined list is the Postgres history', async () => {
    const session = await createSession('rejoin');
    const url = (from: number) => `${api.url.replace('http', 'ws')}/api/v1/namespaces/${fixture.ns.name}/sessions/rejoin/stream?from=${from}`;
    let slow = '';
    // The first client leaves in the middle of the slow turn: after its second event.
    const first = follow(url(0), { token: bearer, onMessage: (_message, ws) => {
      if (first.messages.filter((m) => m.messageId !== undefined && m.messageId === slow).length === 2) ws.close();
    } });
    await first.opened;
    slow = await sendAsync('rejoin', slowTurn('stream this slowly'));
    await first.closed;
    const lastSeq = first.messages.at(-1)!.seq;
    const second = follow(url(lastSeq), { token: bearer });
    await second.opened;
    await messageWhen('rejoin', slow, (m) => m.state === 'answered');
    await waitFor('the follower has the turn\'s end', async () => second.messages.some((m) => m.type === 'runner.turn_completed'));
    second.ws.close();
    await second.closed;
    const joined = [...first.messages, ...second.messages];
    expect(joined.map((m) => m.seq)).toEqual(joined.map((_m, i) => i + 1));
    const { rows } = await fixture.db.query('SELECT seq, type FROM claude_session_events WHERE session_uid = $1 AND seq <= $2 ORDER BY seq',
      [session.metadata.uid, joined.at(-1)!.seq]);
    expect(joined.map((m) => ({ seq: m.seq, type: m.type }))).toEqual(rows.map((row: { seq: string; type: string }) => ({ seq: Number(row.seq), type: row.type })));
    expect(joined.filter((m) => m.messageId === slow).length).toBeGreaterThan(0);
  });
});

describe('turns and pods', () => {
  test('a turn that runs longer than idleTimeoutSeconds is never suspended', async () => {
    await createSession('long-turn', { idleTimeoutSeconds: 10 });
    // About 16 s of streaming: longer than the idle timeout.
    const answer = await send('long-turn', 'a long answer [[scenario:slow {"tokens":80,"delayMs":200}]]');
    expect(answer.json).toMatchObject({ state: 'answered' });
    expect((await getSession('long-turn')).status?.activations).toBe(1);
  });

  test('the runner process SIGKILLed mid-turn: the Job\'s next pod answers the message exactly once, with the context', async () => {
    const session = await createSession('runner-killed');
    expect((await send('runner-killed', 'the river is the Tagus')).status).toBe(200);
    const slow = await sendAsync('runner-killed', slowTurn('tell me about the river'));
    await sessionWhen('runner-killed', 'Busy with the slow turn', (s) => s.status?.phase === 'Busy' && s.status.activeTurn === slow);
    process.kill(await sessionRunnerPid(fixture.ns.name, 'runner-killed'), 'SIGKILL');
    const answered = await messageWhen('runner-killed', slow, (m) => m.state !== 'accepted');
    expect(answered).toMatchObject({ state: 'answered', result: expect.any(String) });
    expect(await completionsOf(session, slow)).toBe(1);
    const next = await send('runner-killed', 'which river did I name');
    expect(next.json).toMatchObject({ state: 'answered' });
    carries(turnRequest(session, 'which river did I name'), 'the river is the Tagus');
  });
});

describe('bad input', () => {
  test('unknown session 404, oversized message 413, empty text 400', async () => {
    expect((await send('no-such-session', 'hello')).status).toBe(404);
    await createSession('strict');
    const oversized = await send('strict', 'x'.repeat(100 * 1024 + 1));
    expect(oversized.status).toBe(413);
    expect(oversized.json.detail).toEqual(expect.any(String));
    expect((await curl('POST', '/sessions/strict/messages', { text: '' })).status).toBe(400);
  });

  test('five messages sent at once are answered in the order accepted, one turn at a time', async () => {
    await createSession('burst');
    const answers = await Promise.all([1, 2, 3, 4, 5].map((i) => send('burst', `burst message ${i}`)));
    for (const answer of answers) expect(answer.status).toBe(200);
    const listed = await curl('GET', '/sessions/burst/messages');
    const items = listed.json.items as Array<{ text: string; firstSeq: number; lastSeq: number; state: string }>;
    expect(items.every((m) => m.state === 'answered')).toBe(true);
    // One at a time: each turn's events end before the next turn's start, in the order accepted.
    for (let i = 1; i < items.length; i++) expect(items[i]!.firstSeq).toBeGreaterThan(items[i - 1]!.lastSeq);
  });
});

test('the operator uses every permission the chart grants only for sessions, and is refused none', async () => {
  // A whole life, so this test needs no other: two activations with an idle suspend between, then deletion.
  await createSession('whole-life', { idleTimeoutSeconds: 10 });
  expect((await send('whole-life', 'first')).status).toBe(200);
  await sessionWhen('whole-life', 'Suspended', (s) => s.status?.phase === 'Suspended');
  expect((await send('whole-life', 'second')).status).toBe(200);
  expect((await fixture.ns.kubectl('delete', 'claudesession/whole-life', '--timeout=120s')).stderr).toBe('');
  const { used, refused } = await operatorRequests(fixture.operator);
  expect(refused).toEqual([]);
  const granted = await grantedByChart(fixture.operator);
  for (const needed of sessionPermissions) expect(granted).toContain(needed);
  // Checked inside the admission of what is created with blockOwnerDeletion on the session, never requested itself.
  const checkedAtAdmission = permission('claude-operator.io', 'claudesessions/finalizers', 'update');
  expect(sessionPermissions.filter((p) => p !== checkedAtAdmission && !used.has(p))).toEqual([]);
});
