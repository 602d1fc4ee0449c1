// Rate-limit-aware admission on the whole system (operator/src/policy/rate-limits.ts).
// The scripted API rate-limits one API key (the default Secret's) for a while;
// another Secret's key answers normally.
// - A running task meets the 429 and its CLI retries it itself (retry-after up to
//   60 s); from its api_retry event the operator holds the Secret: tasks applied
//   then wait Queued RateLimited (the message names the Secret and the reset),
//   no Job of theirs is made until the reset, and then they run and succeed. A
//   task with the other Secret runs and succeeds meanwhile. None fails.
// - A task whose CLI gives up on the 429 at once (retry-after above 60 s) does not
//   end Failed: it waits Queued RateLimited and runs again after the hold.
// - Under a ClaudePolicy's maxTasksPerNamespace 1, the tasks held until a reset
//   start after it one at a time, not all at once.
import crypto from 'node:crypto';
import { afterAll, expect, test } from '@jest/globals';
import { CustomObjectsApi, type V1Job } from '@kubernetes/client-node';
import { terminalPhases, type ClaudeTask } from '../../crds/src/claude-task.ts';
import { admissionObjectName } from '../../operator/src/policy/admission-objects.ts';
import { kubeConfig, kubectl, waitFor } from '../support/cluster.ts';
import { useTaskFixture } from './support/task-fixture.ts';

const keyB = 'key-b';
const fixture = useTaskFixture('ratelimits', { moreApiKeys: [keyB] });
/** The fixture's default Secret, which the operator mounts for tasks without spec.apiKeySecretRef. */
const secretA = { name: 'anthropic-api-key', key: 'test-key' };
const secretB = 'anthropic-api-key-b';

const custom = () => kubeConfig().makeApiClient(CustomObjectsApi);
const policies: string[] = [];
afterAll(async () => {
  for (const name of policies) {
    await custom().deleteClusterCustomObject({ group: 'claude-operator.io', version: 'v1alpha1', plural: 'claudepolicies', name }).catch(() => undefined);
  }
});

const ended = (task: ClaudeTask) => task.status?.phase !== undefined && terminalPhases.has(task.status.phase);
const queuedRateLimited = (task: ClaudeTask) => task.status?.phase === 'Queued' && task.status.reason === 'RateLimited';

async function jobOf(task: ClaudeTask): Promise<V1Job> {
  const { ns } = fixture();
  const jobs = (await ns.batch.listNamespacedJob({ namespace: ns.name })).items;
  const job = jobs.find((j) => j.metadata?.annotations?.['claude-operator.io/task-name'] === task.metadata.name);
  if (!job) throw new Error(`no Job for task ${task.metadata.name}`);
  return job;
}

async function eventsOf(task: ClaudeTask): Promise<Array<Record<string, unknown>>> {
  const { rows } = await fixture().db.query('SELECT data FROM claude_task_events WHERE task_uid = $1 ORDER BY seq', [task.metadata.uid]);
  return rows.map((row: { data: Record<string, unknown> }) => row.data);
}

/** Runs a task of key A and rate-limits key A for `forMs` between its two model calls; returns the API's reset
 * once the task's CLI has reported its retry of the 429 (and so the operator holds the Secret). */
async function rateLimitWhileRunning(name: string, forMs: number): Promise<Date> {
  const { tasks, api } = fixture();
  // One Bash call between two model calls: the limit begins while the task runs, before its second call.
  const before = api.requests.length;
  await tasks.applyTask(name, { prompt: '[[scenario:bash {"command":"sleep 5"}]]', allowedTools: ['Bash'] });
  await waitFor(`${name} made its first model call`, async () => api.requests.slice(before)
    .some((r) => r.headers['x-api-key'] === secretA.key && r.scenario === 'bash' && r.status === 200), { timeoutMs: 120_000, intervalMs: 100 });
  const resetAt = new Date(Date.now() + forMs);
  api.rateLimitKey(secretA.key, resetAt);
  // The CLI retries the 429 itself and says so (system api_retry); once the copier stored it, the operator holds the Secret.
  const task = await tasks.getTask(name);
  await waitFor(`${name} reported its retry of the 429`, async () =>
    (await eventsOf(task)).some((e) => e.type === 'system' && e.subtype === 'api_retry' && e.error_status === 429), { timeoutMs: 60_000 });
  expect(Date.now()).toBeLessThan(resetAt.getTime()); // the scenario's premise: the limit is still on
  return resetAt;
}

test('while one key is rate-limited, new tasks using its Secret wait Queued RateLimited until the reset and then succeed; another Secret\'s task runs meanwhile', async () => {
  const { tasks, ns } = fixture();
  await ns.core.createNamespacedSecret({ namespace: ns.name, body: { metadata: { name: secretB }, stringData: { 'api-key': keyB } } });

  const resetAt = await rateLimitWhileRunning('first-a', 25_000);

  await tasks.applyTask('held-1', { prompt: 'held task 1' });
  await tasks.applyTask('held-2', { prompt: 'held task 2' });
  await tasks.applyTask('other-b', { prompt: 'a task with the other key', apiKeySecretRef: { name: secretB } });

  const holdEnds: Date[] = [];
  for (const name of ['held-1', 'held-2']) {
    const held = await tasks.taskWhen(name, 'Queued RateLimited', queuedRateLimited);
    const message = held.status?.message ?? '';
    const match = /^the Messages API rate-limits the API key in Secret anthropic-api-key \(429\); the task waits until the limit resets at (\S+)$/.exec(message);
    expect({ message, matches: match !== null }).toEqual({ message, matches: true });
    const until = new Date(match![1]!);
    // The hold lasts at least until the API's reset (the CLI's retry delay adds its jitter), and not past the 1 h cap.
    expect(until.getTime()).toBeGreaterThanOrEqual(resetAt.getTime() - 1_000);
    expect(until.getTime()).toBeLessThan(Date.now() + 3600_000);
    holdEnds.push(until);
  }

  const otherB = await tasks.taskWhen('other-b', 'ended', ended, 180_000);
  expect(otherB.status).toMatchObject({ phase: 'Succeeded' });
  const holdEnd = Math.min(...holdEnds.map((d) => d.getTime()));
  // Key B's task did not wait for key A's reset.
  expect(new Date((await jobOf(otherB)).metadata!.creationTimestamp!).getTime()).toBeLessThan(holdEnd);

  const finals = await Promise.all(['first-a', 'held-1', 'held-2'].map((name) => tasks.taskWhen(name, 'ended', ended, 240_000)));
  // None failed because of the limit: a terminal phase is final, so Succeeded now means never Failed.
  expect(finals.map((t) => [t.metadata.name, t.status?.phase])).toEqual([['first-a', 'Succeeded'], ['held-1', 'Succeeded'], ['held-2', 'Succeeded']]);
  for (const held of finals.slice(1)) {
    // Held until the reset: the Job was made only then (creationTimestamp has whole seconds).
    expect(new Date((await jobOf(held)).metadata!.creationTimestamp!).getTime()).toBeGreaterThanOrEqual(holdEnd - 1_000);
    // So its run met no 429.
    expect((await eventsOf(held)).filter((e) => e.type === 'system' && e.subtype === 'api_retry')).toEqual([]);
  }
  // The running task was left alone: its CLI waited out the 429 and finished in its one attempt.
  expect(finals[0]!.status?.attempts).toBe(1);
}, 600_000);

test('a task whose run ends on a 429 is not Failed: it waits Queued RateLimited and runs again after the hold', async () => {
  const { tasks, api } = fixture();
  // retry-after above 60 s: the CLI gives up at once, and the run cannot learn the reset.
  api.rateLimitKey(secretA.key, new Date(Date.now() + 10 * 60_000));
  await tasks.applyTask('gives-up', { prompt: 'a task that meets a long rate limit' });
  const queued = await tasks.taskWhen('gives-up', 'Queued RateLimited after its attempt', queuedRateLimited, 180_000);
  // First the reconciler's word for the attempt that ended, then, once its Job is gone, the gate's for the hold on the Secret.
  expect(queued.status?.message).toMatch(new RegExp('^(the Messages API rate-limited the last attempt \\(429\\); the task runs again after the limit resets at '
    + '|the Messages API rate-limits the API key in Secret anthropic-api-key \\(429\\); the task waits until the limit resets at )\\d{4}-\\d\\d-\\d\\dT\\S+Z$'));
  // The limit lifts while the task waits; the operator's hold (60 s for an unknown reset) still decides when it runs.
  api.rateLimitKey(secretA.key, new Date(0));

  const done = await tasks.taskWhen('gives-up', 'ended', ended, 300_000);
  expect(done.status).toMatchObject({ phase: 'Succeeded' });
  // Its history: an attempt that ended RateLimited (exit code 5), then one that succeeded.
  const completions = (await eventsOf(done)).filter((e) => e.type === 'runner.completed').map((e) => [e.outcome, e.reason, e.exitCode]);
  expect(completions).toEqual([['failed', 'RateLimited', 5], ['succeeded', null, 0]]);
  // The operator said so as the attempt ended (a Normal Event, not a Failed one).
  const events = await tasks.eventsOf('gives-up');
  const limited = events.filter((e) => e.reason === 'RateLimited');
  expect(limited.length).toBeGreaterThan(0);
  for (const event of limited) {
    expect(event).toMatchObject({ type: 'Normal',
      message: expect.stringMatching(/^the Messages API rate-limited the last attempt \(429\); the task runs again after the limit resets at \S+Z$/) });
  }
  expect(events.map((e) => e.reason)).not.toContain('Failed');
}, 600_000);

test('under maxTasksPerNamespace 1, the tasks held until the reset start one at a time after it', async () => {
  const { tasks, ns } = fixture();
  const policy = `one-${crypto.randomBytes(3).toString('hex')}`;
  policies.push(policy);
  await custom().createClusterCustomObject({ group: 'claude-operator.io', version: 'v1alpha1', plural: 'claudepolicies', body: {
    apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudePolicy', metadata: { name: policy },
    spec: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns.name } }, concurrency: { maxTasksPerNamespace: 1 } },
  } });
  await waitFor(`the operator has rendered ${policy}`, async () =>
    (await kubectl('get', 'validatingadmissionpolicy', admissionObjectName(policy))).code === 0, { timeoutMs: 60_000 });

  await rateLimitWhileRunning('probe', 20_000);
  const names = ['burst-1', 'burst-2', 'burst-3'];
  for (const name of names) await tasks.applyTask(name, { prompt: `${name} [[scenario:slow {"tokens":10,"delayMs":150}]]` });
  for (const name of names) expect((await tasks.taskWhen(name, 'Queued RateLimited', queuedRateLimited)).status?.reason).toBe('RateLimited');

  const finals = await Promise.all(['probe', ...names].map((name) => tasks.taskWhen(name, 'ended', ended, 300_000)));
  expect(finals.map((t) => t.status?.phase)).toEqual(['Succeeded', 'Succeeded', 'Succeeded', 'Succeeded']);
  // One at a time: no two Jobs' runs overlap (startTime and completionTime have whole seconds, so a Job that
  // starts in the second the one before ended does not count as overlapping).
  const runs = await Promise.all(finals.map(async (t) => {
    const job = await jobOf(t);
    return { name: t.metadata.name, start: new Date(job.status!.startTime!).getTime(), end: new Date(job.status!.completionTime!).getTime() };
  }));
  const overlapping = runs.flatMap((a, i) => runs.slice(i + 1).filter((b) => a.start < b.end && b.start < a.end).map((b) => `${a.name}+${b.name}`));
  expect({ overlapping, runs }).toEqual({ overlapping: [], runs });
}, 600_000);

