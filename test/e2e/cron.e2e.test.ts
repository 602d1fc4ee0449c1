// ClaudeCronTasks on the bed, with one-minute schedules (so this file takes a
// few minutes; the decisions themselves are table-tested in
// operator/src/cron-schedule.test.ts): tasks made at their slots that succeed,
// history limits that prune while Postgres keeps the records, Forbid skipping
// a slot while a slow task runs, and an operator SIGKILLed across a slot that
// makes the slot's task once, late, after its restart.
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { CustomObjectsApi } from '@kubernetes/client-node';
import type { ClaudeCronTask } from '../../crds/src/claude-cron-task.ts';
import { group, terminalPhases, version, type ClaudeTask } from '../../crds/src/claude-task.ts';
import { bedSetting, kubeConfig, waitFor } from '../support/cluster.ts';
import type { RunningOperator } from './support/operator-under-test.ts';
import { cronPermissions, grantedByChart, operatorRequests, permission } from './support/rbac-audit.ts';
import { setUpTaskFixture, type TaskFixture } from './support/task-fixture.ts';
import { kubectlGet, taskTools, type TaskTools } from './support/tasks.ts';

let fixture: TaskFixture | undefined;
let running: RunningOperator;
let tools: TaskTools;
const custom = kubeConfig().makeApiClient(CustomObjectsApi);

beforeAll(async () => {
  fixture = await setUpTaskFixture('cron');
  tools = taskTools(fixture.ns, fixture.operator);
  running = await fixture.operator.start();
});

afterAll(async () => {
  await fixture?.close();
});

async function applyCron(name: string, spec: Record<string, unknown>): Promise<void> {
  const file = path.join(bedSetting('BED_DIR'), `${fixture!.ns.name}-cron-${name}-${Date.now()}.json`);
  await fs.writeFile(file, JSON.stringify({ apiVersion: `${group}/${version}`, kind: 'ClaudeCronTask', metadata: { name }, spec }));
  const applied = await fixture!.ns.kubectl('apply', '-f', file);
  expect({ code: applied.code, stderr: applied.stderr }).toEqual({ code: 0, stderr: '' });
}

const getCron = async (name: string) =>
  await custom.getNamespacedCustomObject({ group, version, namespace: fixture!.ns.name, plural: 'claudecrontasks', name }) as ClaudeCronTask;

/** The tasks the cron task made (by its label), oldest slot first. */
async function tasksOf(cron: string): Promise<ClaudeTask[]> {
  const list = await kubectlGet<{ items: ClaudeTask[] }>(fixture!.ns, 'ctask', '-l', `claude-operator.io/cron-task=${cron}`);
  return list.items.sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
}

const slotOf = (task: ClaudeTask) => task.metadata.annotations?.['claude-operator.io/scheduled-time'];
const minutes = (iso: string) => Date.parse(iso) / 60_000;
const finished = (task: ClaudeTask) => terminalPhases.has(task.status?.phase ?? '');

async function cronWhen(name: string, what: string, check: (cron: ClaudeCronTask) => boolean, timeoutMs = 200_000): Promise<ClaudeCronTask> {
  let last: ClaudeCronTask | undefined;
  await waitFor(`cron task ${name}: ${what}`, async () => check(last = await getCron(name)), { timeoutMs, intervalMs: 1000 })
    .catch(async (error: Error) => {
      throw new Error(`${error.message}\nlast status: ${JSON.stringify(last?.status)}\n--- operator log ---\n${await tools.operatorLog(40)}`);
    });
  return last!;
}

describe('on a one-minute schedule', () => {
  // Both at once, so their minutes overlap.
  beforeAll(async () => {
    await applyCron('every-minute', {
      schedule: '* * * * *', successfulTasksHistoryLimit: 1,
      taskTemplate: { metadata: { labels: { team: 'a' } }, spec: { prompt: 'every-minute [[scenario:answer {"text":"tick"}]]' } },
    });
    await applyCron('forbid-slow', {
      schedule: '* * * * *', concurrencyPolicy: 'Forbid',
      taskTemplate: { spec: { prompt: 'forbid-slow [[scenario:slow {"tokens":1500,"delayMs":100}]]', timeoutSeconds: 600 } },
    });
  });

  test('tasks are made at their slots, owned by the cron task, and succeed; the history limit prunes the older one, whose record stays in Postgres', async () => {
    const { ns, db } = fixture!;
    const table = await ns.kubectl('get', 'claudecrontasks');
    expect(table.stdout).toMatch(/^NAME\s+SCHEDULE\s+SUSPEND\s+ACTIVE\s+LAST SCHEDULE\s+AGE\s*$/m);
    expect((await ns.kubectl('get', 'claude')).stdout).toContain('claudecrontask.claude-operator.io/every-minute');

    const seen = new Map<string, ClaudeTask>();
    await waitFor('two tasks made and Succeeded', async () => {
      for (const task of await tasksOf('every-minute')) seen.set(task.metadata.name!, task);
      return [...seen.values()].filter((task) => task.status?.phase === 'Succeeded').length >= 2;
    }, { timeoutMs: 240_000, intervalMs: 1000 });
    const cron = await getCron('every-minute');
    const made = [...seen.values()].sort((a, b) => minutes(slotOf(a)!) - minutes(slotOf(b)!));
    for (const task of made) {
      const slot = slotOf(task)!;
      // The slot is a whole minute, the name carries it, and the task was made once it had come.
      expect(new Date(slot).getUTCSeconds()).toBe(0);
      expect(task.metadata.name).toBe(`every-minute-${minutes(slot)}`);
      expect(Date.parse(String(task.metadata.creationTimestamp))).toBeGreaterThanOrEqual(Date.parse(slot) - 1000);
      expect(task.metadata.labels).toMatchObject({ team: 'a', 'claude-operator.io/cron-task': 'every-minute' });
      expect(task.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'ClaudeCronTask', name: 'every-minute', uid: cron.metadata.uid, controller: true })]);
    }
    expect(minutes(slotOf(made[1]!)!) - minutes(slotOf(made[0]!)!)).toBe(1);

    // successfulTasksHistoryLimit 1: the older succeeded task goes; Postgres keeps its record and events.
    const oldest = made[0]!;
    await waitFor(`${oldest.metadata.name} pruned`, async () =>
      !(await tasksOf('every-minute')).some((task) => task.metadata.uid === oldest.metadata.uid), { timeoutMs: 120_000, intervalMs: 1000 });
    const record = await db.query('SELECT phase, finalized_at FROM claude_tasks WHERE uid = $1', [oldest.metadata.uid]);
    expect(record.rows[0]).toMatchObject({ phase: 'Succeeded', finalized_at: expect.any(Date) });
    const events = await db.query('SELECT count(*)::int AS n FROM claude_task_events WHERE task_uid = $1', [oldest.metadata.uid]);
    expect(events.rows[0].n).toBeGreaterThan(0);
    expect((await getCron('every-minute')).status).toMatchObject({ lastScheduleTime: expect.any(String), lastSuccessfulTime: expect.any(String) });
  });

  test('Forbid: while the slow task runs, the next slot is skipped and the skip is recorded', async () => {
    const { ns } = fixture!;
    const cron = await cronWhen('forbid-slow', 'a slot skipped', (c) => (c.status?.skipped ?? 0) >= 1);
    const tasks = await tasksOf('forbid-slow');
    expect(cron.status?.activeCount).toBe(1);
    expect(cron.status?.active).toEqual([{ name: tasks[0]!.metadata.name, uid: tasks[0]!.metadata.uid }]);
    // Every task made is for a slot before the skipped one; none for the skipped slot itself.
    const skipped = cron.status!.lastSkippedTime!;
    expect(tasks.map(slotOf)).not.toContain(skipped);
    expect(tasks.filter((task) => !finished(task))).toHaveLength(1);
    expect(tasks.every((task) => Date.parse(slotOf(task)!) < Date.parse(skipped))).toBe(true);
    const events = await ns.kubectl('get', 'events', '--field-selector', 'involvedObject.name=forbid-slow,involvedObject.kind=ClaudeCronTask', '-o', 'jsonpath={.items[*].reason}');
    expect(events.stdout.split(' ')).toEqual(expect.arrayContaining(['TaskCreated', 'SlotSkipped']));
    // Done with it: suspend and cancel, so the slow run does not hold the machine.
    expect((await ns.kubectl('patch', 'claudecrontask/forbid-slow', '--type=merge', '-p', '{"spec":{"suspend":true}}')).code).toBe(0);
    for (const task of tasks.filter((t) => !finished(t))) {
      expect((await ns.kubectl('patch', `ctask/${task.metadata.name}`, '--type=merge', '-p', '{"spec":{"cancel":true}}')).code).toBe(0);
    }
  });
});

describe('an operator SIGKILLed across a slot', () => {
  test('makes the slot\'s task once, after it restarts within startingDeadlineSeconds', async () => {
    const { ns } = fixture!;
    await ns.kubectl('patch', 'claudecrontask/every-minute', '--type=merge', '-p', '{"spec":{"suspend":true}}');
    await applyCron('across-kill', {
      schedule: '* * * * *', startingDeadlineSeconds: 120,
      taskTemplate: { spec: { prompt: 'across-kill [[scenario:answer]]' } },
    });
    // The first slot is made by the running operator.
    await waitFor('the first slot made', async () => (await tasksOf('across-kill')).length >= 1, { timeoutMs: 120_000, intervalMs: 500 });
    // Kill it well before the next slot, and restart it only after that slot has passed.
    await waitFor('the middle of the minute', async () => new Date().getUTCSeconds() >= 20 && new Date().getUTCSeconds() < 45, { timeoutMs: 70_000, intervalMs: 200 });
    process.kill(running.process.pid, 'SIGKILL');
    await running.process.exited;
    const lastMade = Math.max(...(await tasksOf('across-kill')).map((task) => minutes(slotOf(task)!)));
    const missed = Math.floor(Date.now() / 60_000) + 1;
    expect(missed).toBe(lastMade + 1);
    await waitFor('the slot passing while the operator is down', async () => Date.now() >= missed * 60_000 + 5_000, { timeoutMs: 70_000, intervalMs: 200 });
    expect((await tasksOf('across-kill')).map((task) => minutes(slotOf(task)!))).not.toContain(missed);

    running = await fixture!.operator.start({ logFile: `${fixture!.operator.logFile}.restarted` });
    await waitFor('the missed slot made', async () => (await tasksOf('across-kill')).some((task) => minutes(slotOf(task)!) === missed),
      { timeoutMs: 60_000, intervalMs: 500 });
    const missedTask = (await tasksOf('across-kill')).find((task) => minutes(slotOf(task)!) === missed)!;
    await tools.taskWhen(missedTask.metadata.name!, 'Succeeded', (task) => task.status?.phase === 'Succeeded', 120_000);
    // Once for every slot, made or missed: no slot doubled (names per slot are unique by construction, so count by slot annotation), none lost.
    const slots = (await tasksOf('across-kill')).map((task) => minutes(slotOf(task)!));
    expect(new Set(slots).size).toBe(slots.length);
    const first = Math.min(...slots);
    expect(slots.sort((a, b) => a - b)).toEqual(Array.from({ length: slots.length }, (_, i) => first + i));
    await ns.kubectl('patch', 'claudecrontask/across-kill', '--type=merge', '-p', '{"spec":{"suspend":true}}');
  });
});

test('the cron task permissions the chart grants are used, and none is refused', async () => {
  const { used, refused } = await operatorRequests(fixture!.operator);
  expect(refused).toEqual([]);
  const granted = await grantedByChart(fixture!.operator);
  const checkedAtAdmission = permission('claude-operator.io', 'claudecrontasks/finalizers', 'update');
  for (const needed of cronPermissions) expect(granted).toContain(needed);
  expect(cronPermissions.filter((p) => p !== checkedAtAdmission && !used.has(p))).toEqual([]);
});
