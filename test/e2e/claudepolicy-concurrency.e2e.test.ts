// ClaudePolicy concurrency on the whole system: under maxTasksPerNamespace 2,
// six tasks applied with kubectl never run more than two at once (sampled all
// along, from the Jobs the apiserver has), the others wait Queued with the
// reason and their place, and all six succeed in priority-then-FIFO order; the
// same holds when the operator is SIGKILLed in the middle and started again.
import fs from 'node:fs/promises';
import path from 'node:path';
import { expect, test } from '@jest/globals';
import { CustomObjectsApi, type V1Job } from '@kubernetes/client-node';
import { terminalPhases, type ClaudeTask } from '../../crds/src/claude-task.ts';
import { bedSetting, kubeConfig, waitFor } from '../support/cluster.ts';
import { useTestPolicies } from './support/policies.ts';
import { useTaskFixture } from './support/task-fixture.ts';

const fixture = useTaskFixture('concurrency');
const custom = () => kubeConfig().makeApiClient(CustomObjectsApi);
const testPolicies = useTestPolicies();

/** Once the operator has rendered the policy, it has it in its cache: tasks applied after are limited. */
async function limitTo(maxTasksPerNamespace: number): Promise<void> {
  await testPolicies.create('limit', fixture().ns.name, { concurrency: { maxTasksPerNamespace } });
}

async function applyTasks(prefix: string, specs: Array<Record<string, unknown>>): Promise<void> {
  const { ns } = fixture();
  const file = path.join(bedSetting('BED_DIR'), `${ns.name}-${prefix}-list.json`);
  await fs.writeFile(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: specs.map((spec, i) =>
    ({ apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudeTask', metadata: { name: `${prefix}-${i + 1}` }, spec })) }));
  const applied = await ns.kubectl('apply', '-f', file);
  expect(applied.stderr).toBe('');
}

async function tasksOf(prefix: string): Promise<ClaudeTask[]> {
  const list = await custom().listNamespacedCustomObject({ group: 'claude-operator.io', version: 'v1alpha1',
    namespace: fixture().ns.name, plural: 'claudetasks' }) as { items: ClaudeTask[] };
  return list.items.filter((task) => task.metadata.name?.startsWith(`${prefix}-`));
}

const unfinished = (job: V1Job) => !job.status?.conditions?.some((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');

/** Samples the Jobs that have not finished until stopped; the highest count seen. */
function sampleRunning(): { stop(): Promise<number> } {
  const { ns } = fixture();
  let highest = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const jobs = (await ns.batch.listNamespacedJob({ namespace: ns.name })).items;
      highest = Math.max(highest, jobs.filter(unfinished).length);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  return { async stop() { stopped = true; await loop; return highest; } };
}

/** Each task takes a few seconds (a slowly streamed answer), so the queue is seen. */
const slowSpec = (i: number, priority?: number) => ({
  prompt: `queued task ${i} [[scenario:slow {"tokens":20,"delayMs":150}]]`, ...(priority === undefined ? {} : { priority }),
});

async function allSucceeded(prefix: string): Promise<ClaudeTask[]> {
  let tasks: ClaudeTask[] = [];
  await waitFor(`all ${prefix} tasks ended`, async () => {
    tasks = await tasksOf(prefix);
    return tasks.length === 6 && tasks.every((t) => t.status?.phase && terminalPhases.has(t.status.phase));
  }, { timeoutMs: 300_000, intervalMs: 500 }).catch(async (error: Error) => {
    throw new Error(`${error.message}\n${tasks.map((t) => `${t.metadata.name}: ${t.status?.phase} ${t.status?.message}`).join('\n')}\n${await fixture().tasks.operatorLog()}`);
  });
  for (const task of tasks) expect(`${task.metadata.name}: ${task.status?.phase}`).toBe(`${task.metadata.name}: Succeeded`);
  return tasks;
}

/** The order in which the tasks got their Jobs: when each first left Queued (or first had a status), from Postgres' transitions. */
async function startOrder(prefix: string): Promise<string[]> {
  const { rows } = await fixture().db.query(
    `SELECT t.name, min(tr.at) AS started FROM claude_tasks t JOIN claude_task_transitions tr ON tr.task_uid = t.uid
     WHERE t.namespace = $1 AND t.name LIKE $2 AND tr.to_phase <> 'Queued' GROUP BY t.name ORDER BY started`,
    [fixture().ns.name, `${prefix}-%`]);
  return rows.map((row: { name: string }) => row.name);
}

test('under maxTasksPerNamespace 2, six tasks: never more than 2 run, the rest are Queued with the reason and place, all succeed by priority then FIFO', async () => {
  await limitTo(2);
  const sampler = sampleRunning();
  // Task 6 has the highest priority and task 5 the next: they go before 3 and 4, which were applied earlier.
  await applyTasks('q', [slowSpec(1), slowSpec(2), slowSpec(3), slowSpec(4), slowSpec(5, 5), slowSpec(6, 10)]);
  const queued = await fixture().tasks.taskWhen('q-4', 'Queued', (t) => t.status?.phase === 'Queued');
  expect(queued.status).toMatchObject({ reason: 'QuotaExceeded', message: expect.stringMatching(/maxTasksPerNamespace.*place \d in the queue/) });
  expect(queued.status?.conditions?.find((c) => c.type === 'Accepted')).toMatchObject({ status: 'False', reason: 'QuotaExceeded' });
  await allSucceeded('q');
  expect(await sampler.stop()).toBeLessThanOrEqual(2);
  const order = await startOrder('q');
  expect(order).toHaveLength(6);
  // The first two start before the others are all there; after them, the queue's order: priority, then the oldest.
  const queueOrder = ['q-6', 'q-5', 'q-1', 'q-2', 'q-3', 'q-4'];
  expect(order.slice(2)).toEqual(queueOrder.filter((name) => !order.slice(0, 2).includes(name)));
});

test('an operator SIGKILLed in the middle and started again still never runs more than 2, and all six succeed', async () => {
  const { operator } = fixture();
  await limitTo(2);
  const sampler = sampleRunning();
  await applyTasks('k', [1, 2, 3, 4, 5, 6].map((i) => slowSpec(i)));
  await fixture().tasks.taskWhen('k-3', 'Queued', (t) => t.status?.phase === 'Queued');
  // The fixture's operator is the one running: stop it the hard way, mid-queue.
  await operator.stop();
  const restarted = await operator.start({ logFile: `${operator.logFile}.restarted` });
  await waitFor('some queued task admitted after the restart', async () => (await tasksOf('k')).some((t) => t.metadata.name !== 'k-1'
    && t.metadata.name !== 'k-2' && t.status?.phase !== 'Queued'), { timeoutMs: 120_000 });
  process.kill(restarted.process.pid, 'SIGKILL');
  await restarted.process.exited;
  await operator.start({ logFile: `${operator.logFile}.restarted-2` });
  await allSucceeded('k');
  expect(await sampler.stop()).toBeLessThanOrEqual(2);
  expect(await startOrder('k')).toHaveLength(6);
});
