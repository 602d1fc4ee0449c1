// A ClaudeSession on a ClaudePolicy budget, on the whole system (the real
// operator, API, runner and CLI, the scripted Messages API): the session is not
// failed when the budget is spent. Its pod is stopped between turns and it is
// Suspended (BudgetExhausted) with its context kept; a message sent meanwhile
// waits; raising the budget resumes it, and the waiting message is answered
// with the conversation before it.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { waitFor } from '../support/cluster.ts';
import { useTestPolicies } from './support/policies.ts';
import { sessionClient } from './support/session-client.ts';
import { conversationTexts, turnRequest } from './support/session-requests.ts';
import { startSessionStack, stopSessionStack, type SessionStack } from './support/session-stack.ts';

const policies = useTestPolicies();

let stack: SessionStack | undefined;
beforeAll(async () => {
  stack = await startSessionStack('session-budget');
});
afterAll(() => stopSessionStack(stack));

const { curl: rest, getSession, sessionWhen } = sessionClient(() => stack!);

const daily = (maxCostUSD: string) => [{ scope: 'Namespace' as const, period: 'Daily' as const, maxCostUSD }];
// About 0.41 USD with the CLI's default model: one answer spends more than the budget below.
const costly = (text: string) => `${text} [[scenario:answer {"inputTokens":100000}]]`;

test('a spent budget suspends the session (BudgetExhausted) with its context; raising it resumes the session and answers the waiting message', async () => {
  const policy = await policies.create('session-budget', stack!.fixture.ns.name, { budgets: daily('0.30') });
  expect((await rest('POST', '/sessions', { name: 'frugal', spec: {} })).status).toBe(202);
  await sessionWhen('frugal', 'Ready', (s) => s.status?.phase === 'Ready', 180_000);

  // Nothing is spent yet: the first message is answered, and spends more than the budget.
  const first = await rest('POST', '/sessions/frugal/messages', { text: costly('first question alpha') });
  expect(first.status).toBe(200);
  expect(first.json).toMatchObject({ state: 'answered', result: expect.stringContaining('scripted answer') });

  // Not Failed: Suspended, for the budget, naming the policy; its pod stopped, its volume kept.
  const held = await sessionWhen('frugal', 'Suspended BudgetExhausted', (s) => s.status?.phase === 'Suspended' && s.status.reason === 'BudgetExhausted', 180_000);
  expect(held.status?.message).toContain(policy);
  expect(held.status?.conditions?.find((c) => c.type === 'Suspended')).toMatchObject({ status: 'True', reason: 'BudgetExhausted' });
  expect(held.status?.podName).toBeUndefined();
  expect(held.status?.activations).toBe(1);
  expect((await stack!.fixture.ns.kubectl('get', 'pvc', held.status!.workspacePVC!, '-o', 'name')).code).toBe(0);

  // A message sent meanwhile is accepted and waits; the wake it sends does not start a pod (sampled for a while).
  const second = await rest('POST', '/sessions/frugal/messages?async=true', { text: 'second question bravo' });
  expect(second.status).toBe(202);
  const messageId = second.json.messageId as string;
  for (let sample = 0; sample < 10; sample++) {
    expect((await getSession('frugal')).status).toMatchObject({ phase: 'Suspended', reason: 'BudgetExhausted', activations: 1 });
    expect((await rest('GET', `/sessions/frugal/messages/${messageId}`)).json.state).toBe('accepted');
    await new Promise((resolve) => setTimeout(resolve, 500));
  }

  // Raised: the session resumes on a new pod, made after the raise, and the waiting message is answered with the first turn as its context.
  const raisedAt = Math.floor(Date.now() / 1000) * 1000;
  await policies.patchSpec(policy, { budgets: daily('5.00') });
  await waitFor('the second message answered', async () => (await rest('GET', `/sessions/frugal/messages/${messageId}`)).json.state === 'answered',
    { timeoutMs: 180_000, intervalMs: 500 });
  const resumed = await getSession('frugal');
  expect(resumed.status?.activations).toBe(2);
  const { fixture } = stack!;
  const job = await fixture.ns.batch.readNamespacedJob({ namespace: fixture.ns.name, name: resumed.status!.jobName! });
  expect(new Date(job.metadata!.creationTimestamp!).getTime()).toBeGreaterThanOrEqual(raisedAt);
  const request = turnRequest(fixture.api.requests, resumed, 'second question bravo');
  expect(request).toBeDefined();
  const carried = conversationTexts(request!).join('\n');
  expect(carried).toContain('first question alpha');
  expect(carried).toContain(first.json.result as string);
});
