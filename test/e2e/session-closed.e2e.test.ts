// A ClaudeSession that is Archived or Failed takes no more messages, reached as a
// user reaches it: archived by archiveAfterSeconds after its last message, or
// failed because the API key Secret it names was deleted while it was suspended.
// A message then is 409 (problem type conflict) with a detail that says the phase
// and why, nothing is stored, and the history still reads (the messages, and the
// event stream, which replays it and ends). A message that was waiting when the
// session failed fails too, with an error saying why, so its caller stops waiting.
// A session deleted with kubectl is 404, as one that never was.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { follow } from '../../api/src/stream/testing.ts';
import { waitFor } from '../support/cluster.ts';
import { sessionClient } from './support/session-client.ts';
import { startSessionStack, stopSessionStack, type SessionStack } from './support/session-stack.ts';

let stack: SessionStack | undefined;
beforeAll(async () => {
  stack = await startSessionStack('session-closed');
});
afterAll(() => stopSessionStack(stack));

const { curl, send, sessionWhen, createSession, streamUrl } = sessionClient(() => stack!);

const conflict = 'https://claude-operator.io/problems/conflict';

interface Message { messageId: string; text: string; state: string; result: string | null; error: string | null }
async function messagesOf(session: string): Promise<Message[]> {
  const listed = await curl('GET', `/sessions/${session}/messages`);
  expect(listed.status).toBe(200);
  return listed.json.items as Message[];
}

test('Archived after archiveAfterSeconds without a message: a message is 409 saying so; the history reads', async () => {
  await createSession('archived', { idleTimeoutSeconds: 10, archiveAfterSeconds: 60 });
  const first = await send('archived', 'a message before the archive');
  expect(first.json).toMatchObject({ state: 'answered' });
  const archived = await sessionWhen('archived', 'Archived', (s) => s.status?.phase === 'Archived', 180_000);
  expect(archived.status?.reason).toBe('Archived');

  const refused = await send('archived', 'a message after the archive');
  expect(refused.status).toBe(409);
  expect(refused.json).toMatchObject({ type: conflict, detail: `the session is Archived (${archived.status?.message}): it takes no more messages; its history still reads` });
  expect((await curl('POST', '/sessions/archived/messages?async=true', { text: 'and one more' })).status).toBe(409);

  const history = await messagesOf('archived');
  expect(history).toEqual([expect.objectContaining({ messageId: first.json.messageId, text: 'a message before the archive', state: 'answered',
    result: first.json.result })]);
  const one = await curl('GET', `/sessions/archived/messages/${first.json.messageId as string}`);
  expect([one.status, one.json.result]).toEqual([200, first.json.result]);
  // The stream replays the history and ends: nothing more comes.
  const replay = follow(streamUrl('archived', 0), { token: stack!.bearer });
  expect(await replay.closed).toMatchObject({ code: 1000 });
  expect(replay.messages.map((m) => m.seq)).toEqual(replay.messages.map((_m, i) => i + 1));
  expect(replay.messages.filter((m) => m.type === 'runner.turn_completed').map((m) => m.messageId)).toEqual([first.json.messageId]);
});

test('Failed when its API key Secret is gone: a message is 409 naming the Secret; the history reads', async () => {
  const { fixture } = stack!;
  const secret = 'team-api-key';
  await fixture.ns.core.createNamespacedSecret({ namespace: fixture.ns.name, body: { metadata: { name: secret }, stringData: { 'api-key': 'test-key' } } });
  await createSession('keyless', { idleTimeoutSeconds: 10, apiKeySecretRef: { name: secret } });
  const first = await send('keyless', 'a message while the key exists');
  expect(first.json).toMatchObject({ state: 'answered' });
  await sessionWhen('keyless', 'Suspended', (s) => s.status?.phase === 'Suspended');

  // The next message wakes the session; its new pod cannot start without the Secret.
  await fixture.ns.core.deleteNamespacedSecret({ name: secret, namespace: fixture.ns.name });
  const waiting = await curl('POST', '/sessions/keyless/messages?async=true', { text: 'a message after the key is gone' });
  expect(waiting.status).toBe(202);
  const failed = await sessionWhen('keyless', 'Failed', (s) => s.status?.phase === 'Failed');
  expect(failed.status).toMatchObject({ reason: 'APIKeySecretMissing', message: expect.stringContaining(secret) });

  const refused = await send('keyless', 'one more');
  expect(refused.status).toBe(409);
  expect(refused.json).toMatchObject({ type: conflict,
    detail: `the session is Failed (APIKeySecretMissing: ${failed.status?.message}): it takes no more messages; its history still reads` });

  // The message that woke it will never be answered: it fails, saying why, where its caller polls.
  const error = `the session became Failed (APIKeySecretMissing: ${failed.status?.message}) before this message was answered`;
  let polled: Message | undefined;
  await waitFor('the waiting message to fail', async () => {
    polled = (await curl('GET', `/sessions/keyless/messages/${waiting.json.messageId as string}`)).json as unknown as Message;
    return polled.state !== 'accepted';
  }, { timeoutMs: 60_000 });
  expect(polled).toMatchObject({ state: 'failed', result: null, error });
  const history = await messagesOf('keyless');
  expect(history.map((m) => [m.text, m.state])).toEqual([['a message while the key exists', 'answered'], ['a message after the key is gone', 'failed']]);
  expect(history[0]!.result).toBe(first.json.result);
});

test('deleted with kubectl: a message is 404, as for a session that never was', async () => {
  const { fixture } = stack!;
  await createSession('deleted', { idleTimeoutSeconds: 10 });
  const first = await send('deleted', 'a message before the delete');
  expect(first.json).toMatchObject({ state: 'answered' });
  const deleted = await fixture.ns.kubectl('delete', 'claudesession', 'deleted', '--wait=true', '--timeout=120s');
  expect(deleted.code).toBe(0);

  const refused = await send('deleted', 'a message after the delete');
  expect(refused.status).toBe(404);
  expect(refused.json.type).toBe('https://claude-operator.io/problems/not-found');
  expect((await curl('POST', '/sessions/deleted/messages?async=true', { text: 'and one more' })).status).toBe(404);
});
