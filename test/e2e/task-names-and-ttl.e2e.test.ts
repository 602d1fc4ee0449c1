// Every valid object name runs, however long (label values hold 63 characters,
// names 253), and spec.ttlSecondsAfterFinished removes the finished task itself,
// with its Job and pod, while its record stays in Postgres.
// The long-named tasks use the Messages API engine (a small process, not the CLI):
// what is tested is what the operator makes of a task, and the machine is shared.
import { beforeAll, describe, expect, test } from '@jest/globals';
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import type pg from 'pg';
import type { ClaudeTask } from '../../crds/src/claude-task.ts';
import { waitFor, type TestNamespace } from '../support/cluster.ts';
import { useTaskFixture } from './support/task-fixture.ts';
import { kubectlGet, kubectlWaitTimeout as waitTimeout, type TaskTools } from './support/tasks.ts';

const taskLabel = 'claude-operator.io/task';
const taskNameAnnotation = 'claude-operator.io/task-name';

const fixture = useTaskFixture('names');
let ns: TestNamespace;
let db: pg.Client;
let tasks: TaskTools;
beforeAll(() => {
  ({ ns, db, tasks } = fixture());
});

const getJson = <T>(...args: string[]) => kubectlGet<T>(ns, ...args);

describe('names longer than a label value', () => {
  test.each([
    ['120 characters', `long-name-${'abcdefghij'.repeat(11)}`],
    ['253 characters (the most a name may have)', `longest.${'abcdefghij'.repeat(24)}.${'k'.repeat(4)}`],
  ])('a task named with %s runs to Succeeded; its Job and pod carry a short label and the full name as an annotation', async (_what, name) => {
    expect(name.length).toBeGreaterThan(63);
    const applied = await tasks.applyTask(name, { prompt: 'a long name [[scenario:answer]]', engine: 'api' });
    expect(applied.metadata.name).toBe(name);
    expect((await ns.kubectl('wait', '--for=condition=Succeeded', `ctask/${name}`, waitTimeout)).code).toBe(0);
    const task = await getJson<ClaudeTask>('ctask', name);
    expect(task.status?.phase).toBe('Succeeded');

    const job = await getJson<V1Job>('job', task.status?.jobName ?? '(no jobName)');
    const label = job.metadata?.labels?.[taskLabel] ?? '';
    expect(label.length).toBeGreaterThan(0);
    expect(label.length).toBeLessThanOrEqual(63);
    expect(label).not.toBe(name);
    expect(job.metadata?.annotations?.[taskNameAnnotation]).toBe(name);

    // The short label selects the task's Job and its pod, as `kubectl get -l` is used.
    const labelled = await getJson<{ items: Array<V1Job | V1Pod> }>('jobs,pods', '-l', `${taskLabel}=${label}`);
    expect(labelled.items.map((o) => `${o.kind}/${o.metadata?.name}`).sort()).toEqual([`Job/${job.metadata?.name}`, `Pod/${task.status?.podName}`].sort());
    for (const object of labelled.items) expect(object.metadata?.annotations?.[taskNameAnnotation]).toBe(name);

    expect((await tasks.eventsOf(name)).map((e) => e.reason)).toEqual(expect.arrayContaining(['JobCreated', 'Succeeded']));
  });
});

describe('spec.ttlSecondsAfterFinished', () => {
  test('the finished task is deleted (kubectl get says NotFound), its Job and pod go with it, and its record stays in Postgres', async () => {
    const applied = await tasks.applyTask('short-lived', { prompt: 'short-lived [[scenario:answer {"text":"kept in Postgres"}]]', ttlSecondsAfterFinished: 3 });
    const uid = applied.metadata.uid;
    expect(uid).toBeDefined();
    // The Job exists while the task runs (its pod may be gone already once the task is deleted).
    await waitFor('the Job of short-lived', async () =>
      (await ns.kubectl('get', 'jobs', '-l', `claude-operator.io/task-uid=${uid}`, '-o', 'name')).stdout.includes('job.batch/'));

    const deleted = await ns.kubectl('wait', '--for=delete', 'ctask/short-lived', waitTimeout);
    expect(deleted.code).toBe(0);
    const gone = await ns.kubectl('get', 'ctask', 'short-lived');
    expect(gone.code).not.toBe(0);
    expect(gone.stderr).toMatch(/NotFound/);
    await waitFor('no Job or pod of short-lived left', async () =>
      (await ns.kubectl('get', 'jobs,pods', '-l', `claude-operator.io/task-uid=${uid}`, '-o', 'name')).stdout.trim() === '', { timeoutMs: 60_000 });

    const record = await db.query('SELECT name, phase, result, finalized_at FROM claude_tasks WHERE uid = $1', [uid]);
    expect(record.rows).toEqual([{ name: 'short-lived', phase: 'Succeeded', result: 'kept in Postgres', finalized_at: expect.any(Date) }]);
    const events = await db.query('SELECT seq, type FROM claude_task_events WHERE task_uid = $1 ORDER BY seq', [uid]);
    expect(events.rows.map((row) => Number(row.seq))).toEqual(events.rows.map((_row, i) => i + 1));
    expect(events.rows.at(-1)).toMatchObject({ type: 'runner.completed' });
  });
});
