// The operator survives what operators meet: SIGKILL in the middle of a burst,
// and a second replica waiting behind the leader Lease.
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { CoordinationV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { terminalPhases, type ClaudeTask } from '../../crds/src/claude-task.ts';
import { workloadStreamKeys } from '../../packages/contracts/src/event-stream.ts';
import { bedSetting, kubeConfig, waitFor, type TestNamespace } from '../support/cluster.ts';
import type { OperatorUnderTest } from './support/operator-under-test.ts';
import { setUpTaskFixture, type TaskFixture } from './support/task-fixture.ts';

let ns: TestNamespace;
let operator: OperatorUnderTest;
let redis: Redis;
let db: pg.Client;
let fixture: TaskFixture | undefined;

beforeAll(async () => {
  fixture = await setUpTaskFixture('burst');
  ({ ns, operator, redis, db } = fixture);
});

afterAll(async () => {
  await fixture?.close();
});

async function listTasks(prefix: string): Promise<ClaudeTask[]> {
  const list = await kubeConfig().makeApiClient(CustomObjectsApi).listNamespacedCustomObject({
    group: 'claude-operator.io', version: 'v1alpha1', namespace: ns.name, plural: 'claudetasks' }) as { items: ClaudeTask[] };
  return list.items.filter((task) => task.metadata.name?.startsWith(prefix));
}

async function applyTasks(specs: Array<{ name: string; spec: Record<string, unknown> }>): Promise<void> {
  const file = path.join(bedSetting('BED_DIR'), `${ns.name}-${specs[0]?.name}-list.json`);
  await fs.writeFile(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: specs.map(({ name, spec }) =>
    ({ apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudeTask', metadata: { name }, spec })) }));
  const applied = await ns.kubectl('apply', '-f', file);
  expect(applied.code).toBe(0);
}

test('SIGKILL in the middle of a 50-task burst: every task ends with one Job and one terminal status, and Postgres agrees', async () => {
  const first = await operator.start();
  // Most use the Messages API engine (a small process each); some run the real CLI.
  await applyTasks(Array.from({ length: 50 }, (_, i) => ({
    name: `burst-${String(i).padStart(2, '0')}`,
    spec: { prompt: `burst task ${i} [[scenario:answer {"text":"done ${i}"}]]`, engine: i % 10 === 0 ? 'cli' : 'api', retries: 1 },
  })));
  await waitFor('some Jobs created', async () =>
    (await ns.batch.listNamespacedJob({ namespace: ns.name })).items.length >= 10, { timeoutMs: 60_000, intervalMs: 50 });
  process.kill(first.process.pid, 'SIGKILL');
  await first.process.exited;
  const jobsAtKill = (await ns.batch.listNamespacedJob({ namespace: ns.name })).items.length;
  expect(jobsAtKill).toBeLessThan(50);

  await operator.start({ logFile: `${operator.logFile}.restarted` });
  await waitFor('all 50 tasks terminal', async () => {
    const tasks = await listTasks('burst-');
    return tasks.length === 50 && tasks.every((t) => t.status?.phase && terminalPhases.has(t.status.phase));
  }, { timeoutMs: 240_000, intervalMs: 1000 });

  const tasks = await listTasks('burst-');
  const jobs = (await ns.batch.listNamespacedJob({ namespace: ns.name })).items;
  for (const task of tasks) {
    expect(`${task.metadata.name}: ${task.status?.phase}${task.status?.phase === 'Succeeded' ? '' : ` (${task.status?.reason}: ${task.status?.message})`}`)
      .toBe(`${task.metadata.name}: Succeeded`);
    const owned = jobs.filter((job) => job.metadata?.ownerReferences?.some((ref) => ref.uid === task.metadata.uid));
    expect(`${task.metadata.name}: ${owned.length} Job(s)`).toBe(`${task.metadata.name}: 1 Job(s)`);

    const record = await db.query('SELECT phase, finalized_at FROM claude_tasks WHERE uid = $1', [task.metadata.uid]);
    expect(record.rows[0]?.phase).toBe(task.status?.phase);
    expect(record.rows[0]?.finalized_at).not.toBeNull();
    const terminal = await db.query(
      `SELECT count(*)::int AS n FROM claude_task_transitions WHERE task_uid = $1 AND to_phase = ANY($2)`,
      [task.metadata.uid, [...terminalPhases]]);
    expect(`${task.metadata.name}: ${terminal.rows[0]?.n} terminal transition(s)`).toBe(`${task.metadata.name}: 1 terminal transition(s)`);
    const stored = await db.query('SELECT count(*)::int AS n FROM claude_task_events WHERE task_uid = $1', [task.metadata.uid]);
    expect(stored.rows[0]?.n).toBe(await redis.xlen(workloadStreamKeys('task', ns.name, task.metadata.name ?? '').events));
  }
  await operator.stop();
});

test('two replicas: only the Lease holder reconciles; when it dies, the other takes over', async () => {
  const leader = await operator.start({ logFile: `${operator.logFile}.a` });
  const standby = await operator.start({ waitReady: false, logFile: `${operator.logFile}.b` });
  await applyTasks([{ name: 'ha-one', spec: { prompt: 'ha one', engine: 'api' } }]);
  await waitFor('ha-one Succeeded', async () => (await listTasks('ha-one'))[0]?.status?.phase === 'Succeeded', { timeoutMs: 60_000 });
  // The standby has been waiting all along: Ready (readiness is not leadership, so a
  // rollout of 2 replicas completes), not leading, and it never reconciled.
  await waitFor('the standby Ready', async () => (await fetch(`${standby.metricsUrl}/readyz`)).ok, { timeoutMs: 60_000 });
  expect(await fetch(`${standby.metricsUrl}/metrics`).then((r) => r.text())).toMatch(/^claude_operator_leader 0$/m);
  expect(await fs.readFile(standby.logFile, 'utf8')).not.toContain('job created');

  const coordination = kubeConfig().makeApiClient(CoordinationV1Api);
  const before = await coordination.readNamespacedLease({ name: 'claude-operator-leader', namespace: operator.namespace });
  process.kill(leader.process.pid, 'SIGKILL');
  await waitFor('the standby to lead', async () =>
    /^claude_operator_leader 1$/m.test(await fetch(`${standby.metricsUrl}/metrics`).then((r) => r.text())), { timeoutMs: 60_000 });
  const after = await coordination.readNamespacedLease({ name: 'claude-operator-leader', namespace: operator.namespace });
  expect(after.spec?.holderIdentity).not.toBe(before.spec?.holderIdentity);
  expect(after.spec?.leaseTransitions).toBe((before.spec?.leaseTransitions ?? 0) + 1);

  await applyTasks([{ name: 'ha-two', spec: { prompt: 'ha two', engine: 'api' } }]);
  await waitFor('ha-two Succeeded', async () => (await listTasks('ha-two'))[0]?.status?.phase === 'Succeeded', { timeoutMs: 60_000 });
  await operator.stop();
});
