// Completion webhooks on the bed: a receiver on loopback, written here, gets the
// CloudEvent of each finished task from the operator; it verifies the signature
// with the Standard Webhooks library and the CloudEvents attributes against the
// spec. The operator allows private addresses (the receiver is on loopback) and
// retries after 1s, 2s, ...
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Webhook } from 'standardwebhooks';
import type { ClaudeTask } from '../../crds/src/claude-task.ts';
import { waitFor } from '../bed/process.ts';
import { bedSetting } from '../support/cluster.ts';
import { operatorRequests, webhookPermissions } from './support/rbac-audit.ts';
import { useTaskFixture } from './support/task-fixture.ts';

interface Received { path: string; headers: http.IncomingHttpHeaders; body: string }

const fixture = useTaskFixture('hooks', { operatorEnv: {
  WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true', WEBHOOK_RETRY_INITIAL_SECONDS: '1', WEBHOOK_DELETE_GRACE_SECONDS: '8' } });
const hmacKey = 'a-webhook-key-of-the-test';
const received: Received[] = [];
/** Per path, the statuses to answer in turn; the last one repeats. */
const answers: Record<string, number[]> = { '/ok': [200], '/flaky': [503, 503, 200], '/bad': [400], '/second-time': [503, 200], '/down': [503] };
let receiver: http.Server;
let base: string;

beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => { body += chunk; });
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://receiver');
      const seen = received.filter((r) => r.path === url.pathname && r.headers['webhook-id'] === req.headers['webhook-id']).length;
      received.push({ path: url.pathname, headers: req.headers, body });
      const statuses = answers[url.pathname] ?? [404];
      res.writeHead(statuses[Math.min(seen, statuses.length - 1)]!).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  const { ns } = fixture();
  await ns.core.createNamespacedSecret({ namespace: ns.name, body: { metadata: { name: 'hook-key' }, stringData: { hmac: hmacKey } } });
});

afterAll(async () => {
  await new Promise((resolve) => receiver?.close(resolve));
});

const signed = (hookPath: string, events?: string[]) =>
  ({ url: `${base}${hookPath}?token=not-shown`, secretRef: { name: 'hook-key', key: 'hmac' }, ...(events ? { events } : {}) });

/** The CloudEvent in `r`, after checking its signature, content type and CloudEvents 1.0 attributes for `task`. */
function verifiedEvent(r: Received, task: ClaudeTask): Record<string, unknown> {
  const event = new Webhook(hmacKey, { format: 'raw' }).verify(r.body, {
    'webhook-id': String(r.headers['webhook-id']), 'webhook-timestamp': String(r.headers['webhook-timestamp']),
    'webhook-signature': String(r.headers['webhook-signature']),
  }) as Record<string, unknown>;
  expect(r.headers['content-type']).toBe('application/cloudevents+json; charset=utf-8');
  expect(event).toMatchObject({
    specversion: '1.0', type: 'io.claude-operator.task.finished', id: `${task.metadata.uid}/${task.status?.phase}`,
    source: `/apis/claude-operator.io/v1alpha1/namespaces/${task.metadata.namespace}/claudetasks/${task.metadata.name}`,
    subject: task.metadata.name, time: task.status?.completionTime, datacontenttype: 'application/json',
    data: { phase: task.status?.phase, uid: task.metadata.uid, name: task.metadata.name, namespace: task.metadata.namespace },
  });
  expect(r.headers['webhook-id']).toBe(event.id);
  return event;
}

const eventsFor = (task: ClaudeTask, hookPath: string) =>
  received.filter((r) => r.path === hookPath && (JSON.parse(r.body) as { subject: string }).subject === task.metadata.name);

const settled = (task: ClaudeTask) => (task.status?.notifications?.length ?? 0) > 0 && task.status!.notifications!.every((n) => n.state !== 'Pending');

describe('completion webhooks', () => {
  test('one verified CloudEvent per terminal phase; 503, 503, 200 is delivered on the 3rd attempt; a 400 is not retried', async () => {
    const { tasks, db } = fixture();
    await tasks.applyTask('hook-succeeded', {
      prompt: 'hook-succeeded [[scenario:answer {"text":"the hooked answer"}]]',
      notify: { webhooks: [signed('/ok'), signed('/flaky'), signed('/ok', ['Failed'])] },
    });
    await tasks.applyTask('hook-failed', {
      prompt: 'hook-failed [[scenario:server-error]]', retries: 0, notify: { webhooks: [signed('/ok'), signed('/bad')] },
      // Without it the CLI retries the 500s with backoff for minutes before it gives up.
      env: [{ name: 'CLAUDE_CODE_MAX_RETRIES', value: '0' }],
    });
    await tasks.applyTask('hook-cancelled', { prompt: 'never runs', cancel: true, notify: { webhooks: [signed('/ok')] } });
    await tasks.applyTask('hook-timed-out', {
      prompt: 'hook-timed-out [[scenario:slow {"tokens":600,"delayMs":100}]]', timeoutSeconds: 4, notify: { webhooks: [signed('/ok')] },
    });

    const succeeded = await tasks.taskWhen('hook-succeeded', 'its webhooks settled', settled, 180_000);
    const failed = await tasks.taskWhen('hook-failed', 'its webhooks settled', settled, 180_000);
    const cancelled = await tasks.taskWhen('hook-cancelled', 'its webhooks settled', settled, 180_000);
    const timedOut = await tasks.taskWhen('hook-timed-out', 'its webhooks settled', settled, 180_000);
    expect([succeeded, failed, cancelled, timedOut].map((t) => t.status?.phase)).toEqual(['Succeeded', 'Failed', 'Cancelled', 'TimedOut']);

    // Exactly one event per task at /ok (the Failed-only webhook of the succeeded task was not called), each verified.
    for (const task of [succeeded, failed, cancelled, timedOut]) {
      const events = eventsFor(task, '/ok');
      expect(events).toHaveLength(1);
      verifiedEvent(events[0]!, task);
    }
    const answer = verifiedEvent(eventsFor(succeeded, '/ok')[0]!, succeeded);
    expect(answer.data).toMatchObject({ result: 'the hooked answer', usage: { turns: expect.any(Number) } });

    // The flaky receiver: three attempts of the same event, the third delivered.
    const flaky = eventsFor(succeeded, '/flaky');
    expect(flaky).toHaveLength(3);
    for (const r of flaky) verifiedEvent(r, succeeded);
    expect(new Set(flaky.map((r) => r.headers['webhook-id'])).size).toBe(1);
    expect(succeeded.status?.notifications).toEqual([
      expect.objectContaining({ url: `${base}/ok`, state: 'Delivered', attempts: 1, lastResponseCode: 200 }),
      expect.objectContaining({ url: `${base}/flaky`, state: 'Delivered', attempts: 3, lastResponseCode: 200, message: 'delivered on attempt 3' }),
    ]);
    expect(JSON.stringify(succeeded.status)).not.toContain('not-shown');
    const { rows } = await db.query(
      'SELECT webhook_index, attempt, outcome, response_code FROM claude_task_webhook_attempts WHERE task_uid = $1 ORDER BY webhook_index, attempt',
      [succeeded.metadata.uid]);
    expect(rows).toEqual([
      { webhook_index: 0, attempt: 1, outcome: 'delivered', response_code: 200 },
      { webhook_index: 1, attempt: 1, outcome: 'retry', response_code: 503 },
      { webhook_index: 1, attempt: 2, outcome: 'retry', response_code: 503 },
      { webhook_index: 1, attempt: 3, outcome: 'delivered', response_code: 200 },
    ]);

    // The 400: one attempt, Failed, and still one after longer than the first two retries' backoff.
    expect(failed.status?.notifications?.[1]).toMatchObject({ url: `${base}/bad`, state: 'Failed', attempts: 1, lastResponseCode: 400 });
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    expect(eventsFor(failed, '/bad')).toHaveLength(1);
    expect((await tasks.getTask('hook-failed')).status?.notifications?.[1]).toMatchObject({ state: 'Failed', attempts: 1 });
    // The chart's `get secrets` is what read the HMAC keys (claudetask.e2e.test.ts's RBAC test counts on this).
    const { used } = await operatorRequests(fixture().operator);
    for (const needed of webhookPermissions) expect(used).toContain(needed);
  });

  test('a task deleted as it ends, or while it runs, still sends its event, retries included; a receiver that stays down holds the delete only for the grace', async () => {
    const { ns, tasks, db } = fixture();
    const gone = (name: string) => waitFor(`task ${name} gone`, async () =>
      (await ns.kubectl('get', 'claudetask', name, '--ignore-not-found', '-o', 'name')).stdout.trim() === '', { timeoutMs: 120_000 });
    const deleteNow = async (name: string) => expect((await ns.kubectl('delete', 'claudetask', name, '--wait=false')).code).toBe(0);

    // Deleted the moment it is Succeeded: the first attempt gets 503; the retry a second later must still happen.
    await tasks.applyTask('hook-deleted-done', { prompt: 'hook-deleted-done [[scenario:answer]]', notify: { webhooks: [signed('/second-time')] } });
    await tasks.taskWhen('hook-deleted-done', 'held by the notify finalizer', (t) => t.metadata.finalizers?.includes('claude-operator.io/notify') === true);
    const done = await tasks.taskWhen('hook-deleted-done', 'Succeeded', (t) => t.status?.phase === 'Succeeded', 180_000);
    await deleteNow('hook-deleted-done');
    await gone('hook-deleted-done');
    expect(eventsFor(done, '/second-time').map((r) => verifiedEvent(r, done).id)).toEqual([`${done.metadata.uid}/Succeeded`, `${done.metadata.uid}/Succeeded`]);

    // Deleted while it runs: it ends Cancelled, and that event is sent before the task goes.
    await tasks.applyTask('hook-deleted-running', { prompt: 'hook-deleted-running [[scenario:bash {"command":"sleep 30; echo slept"}]]', notify: { webhooks: [signed('/ok')] } });
    const running = await tasks.taskWhen('hook-deleted-running', 'Running', (t) => t.status?.phase === 'Running', 180_000);
    await deleteNow('hook-deleted-running');
    await gone('hook-deleted-running');
    const cancelled = received.filter((r) => r.path === '/ok' && (JSON.parse(r.body) as { subject: string }).subject === 'hook-deleted-running');
    expect(cancelled).toHaveLength(1);
    expect(JSON.parse(cancelled[0]!.body)).toMatchObject({ id: `${running.metadata.uid}/Cancelled`, data: { phase: 'Cancelled' } });

    // A receiver that stays down: the delete waits the grace (8 s here), not the retry window (a day), and the attempts stay in Postgres.
    await tasks.applyTask('hook-deleted-down', { prompt: 'hook-deleted-down [[scenario:answer]]', notify: { webhooks: [signed('/down')] } });
    const down = await tasks.taskWhen('hook-deleted-down', 'an attempt made', (t) => (t.status?.notifications?.[0]?.attempts ?? 0) > 0, 180_000);
    await deleteNow('hook-deleted-down');
    await gone('hook-deleted-down');
    const { rows } = await db.query<{ outcome: string }>('SELECT outcome FROM claude_task_webhook_attempts WHERE task_uid = $1', [down.metadata.uid]);
    expect(rows.length).toBeGreaterThan(0);
    expect(new Set(rows.map((row) => row.outcome))).toEqual(new Set(['retry']));
  });

  test.each([
    ['ftp://hooks.example.com/x', 'must be an http:// or https:// URL with a host'],
    ['http://169.254.169.254/latest/meta-data/', 'must not be a link-local address'],
    ['http://[fe80::1]:8080/hook', 'must not be a link-local address'],
  ])('%s is refused at apply time', async (url, message) => {
    const { ns } = fixture();
    const file = path.join(bedSetting('BED_DIR'), `${ns.name}-refused-hook-${Date.now()}.json`);
    await fs.writeFile(file, JSON.stringify({
      apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudeTask', metadata: { name: 'refused-hook' },
      spec: { prompt: 'never runs', notify: { webhooks: [{ url }] } },
    }));
    const applied = await ns.kubectl('apply', '-f', file);
    expect(applied.code).not.toBe(0);
    expect(applied.stderr).toContain('spec.notify.webhooks[0].url');
    expect(applied.stderr).toContain(message);
  });
});

