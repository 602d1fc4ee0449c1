import { describe, expect, test } from '@jest/globals';
import type { ClaudeCronTask, ClaudeCronTaskSpec, ClaudeCronTaskStatus } from '../../crds/src/claude-cron-task.ts';
import type { ClaudeTask, TaskPhase } from '../../crds/src/claude-task.ts';
import { decideCron, parseSchedule, taskNameForSlot } from './cron-schedule.ts';

const created = '2026-03-01T00:00:00Z';

function cronTask(spec: Partial<ClaudeCronTaskSpec>, status?: ClaudeCronTaskStatus): ClaudeCronTask {
  return {
    metadata: { name: 'nightly', namespace: 'team', uid: 'cron-uid', generation: 1, creationTimestamp: created },
    spec: { schedule: '* * * * *', taskTemplate: { spec: { prompt: 'hi' } }, ...spec },
    ...(status ? { status } : {}),
  };
}

function task(name: string, phase: TaskPhase | undefined, completionTime?: string): ClaudeTask {
  return {
    apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudeTask',
    metadata: { name, namespace: 'team', uid: `${name}-uid`, creationTimestamp: completionTime ?? created },
    spec: { prompt: 'hi' },
    ...(phase ? { status: { phase, ...(completionTime ? { completionTime } : {}) } } : {}),
  };
}

const at = (iso: string) => new Date(iso);
const slotName = (iso: string) => taskNameForSlot('nightly', at(iso));

describe('decideCron: which slot', () => {
  test.each([
    {
      case: 'nothing is due before the first slot after creation',
      spec: { schedule: '0 * * * *' }, status: undefined, now: '2026-03-01T00:30:00Z',
      slot: undefined, requeueAfterMs: 30 * 60_000,
    },
    {
      case: 'the slot that has come is made',
      spec: { schedule: '0 * * * *' }, status: undefined, now: '2026-03-01T01:00:00.500Z',
      slot: '2026-03-01T01:00:00Z', requeueAfterMs: 60 * 60_000 - 500,
    },
    {
      case: 'a slot already made is not made again',
      spec: { schedule: '0 * * * *' }, status: { lastScheduleTime: '2026-03-01T01:00:00Z' }, now: '2026-03-01T01:20:00Z',
      slot: undefined, requeueAfterMs: 40 * 60_000,
    },
    {
      case: 'of several missed slots only the most recent runs (without a deadline)',
      spec: { schedule: '0 * * * *' }, status: { lastScheduleTime: '2026-03-01T01:00:00Z' }, now: '2026-03-01T05:10:00Z',
      slot: '2026-03-01T05:00:00Z', requeueAfterMs: 50 * 60_000,
    },
    {
      case: 'a slot missed by less than startingDeadlineSeconds still runs late',
      spec: { schedule: '0 * * * *', startingDeadlineSeconds: 600 }, status: { lastScheduleTime: '2026-03-01T01:00:00Z' }, now: '2026-03-01T02:09:59Z',
      slot: '2026-03-01T02:00:00Z', requeueAfterMs: 50 * 60_000 + 1000,
    },
    {
      case: 'a slot missed by more than startingDeadlineSeconds does not',
      spec: { schedule: '0 * * * *', startingDeadlineSeconds: 600 }, status: { lastScheduleTime: '2026-03-01T01:00:00Z' }, now: '2026-03-01T02:10:01Z',
      slot: undefined, requeueAfterMs: 50 * 60_000 - 1000,
    },
    {
      case: 'a slot skipped by Forbid is not run late',
      spec: { schedule: '0 * * * *' }, status: { lastScheduleTime: '2026-03-01T01:00:00Z', lastSkippedTime: '2026-03-01T02:00:00Z' }, now: '2026-03-01T02:30:00Z',
      slot: undefined, requeueAfterMs: 30 * 60_000,
    },
    {
      case: 'a suspended cron task makes nothing',
      spec: { schedule: '0 * * * *', suspend: true }, status: undefined, now: '2026-03-01T01:00:00Z',
      slot: undefined, requeueAfterMs: 60 * 60_000,
    },
    // Europe/Berlin springs forward on 2026-03-29 at 02:00 (to 03:00): 02:30 does not exist that day, the slot runs at 03:00 CEST.
    {
      case: 'DST spring forward: a slot in the skipped hour runs at the hour after',
      spec: { schedule: '30 2 * * *', timeZone: 'Europe/Berlin' }, status: { lastScheduleTime: '2026-03-28T01:30:00Z' }, now: '2026-03-29T01:00:00Z',
      slot: '2026-03-29T01:00:00Z', requeueAfterMs: (24 * 60 - 30) * 60_000,
    },
    // America/New_York falls back on 2026-11-01 at 02:00 EDT (to 01:00 EST): 01:30 happens twice; the task is made once.
    {
      case: 'DST fall back: a slot in the repeated hour runs once',
      spec: { schedule: '30 1 * * *', timeZone: 'America/New_York' }, status: { lastScheduleTime: '2026-11-01T05:30:00Z' }, now: '2026-11-01T06:30:00Z',
      slot: undefined, requeueAfterMs: 24 * 60 * 60_000,
    },
    {
      case: 'the time zone decides the slot',
      spec: { schedule: '0 9 * * *', timeZone: 'Asia/Tokyo' }, status: { lastScheduleTime: '2026-03-01T00:00:00Z' }, now: '2026-03-02T00:00:00Z',
      slot: '2026-03-02T00:00:00Z', requeueAfterMs: 24 * 60 * 60_000,
    },
  ])('$case', ({ spec, status, now, slot, requeueAfterMs }) => {
    const decision = decideCron({ cron: cronTask(spec, status), tasks: [], now: at(now) });
    expect(decision.create).toEqual(slot ? { slot: at(slot), name: slotName(slot) } : undefined);
    expect(decision.requeueAfterMs).toBe(requeueAfterMs);
    if (slot) expect(decision.status.lastScheduleTime).toBe(at(slot).toISOString());
  });
});

describe('decideCron: concurrency', () => {
  const due = { spec: { schedule: '0 * * * *' }, status: { lastScheduleTime: '2026-03-01T01:00:00Z' }, now: at('2026-03-01T02:00:05Z') };
  const running = task(slotName('2026-03-01T01:00:00Z'), 'Running');

  test('Allow makes the next task while one runs', () => {
    const decision = decideCron({ cron: cronTask({ ...due.spec, concurrencyPolicy: 'Allow' }, due.status), tasks: [running], now: due.now });
    expect(decision.create?.name).toBe(slotName('2026-03-01T02:00:00Z'));
    expect(decision.status.active).toEqual([{ name: running.metadata.name, uid: running.metadata.uid }]);
  });

  test('Forbid while a task runs skips the slot and records it', () => {
    const decision = decideCron({ cron: cronTask({ ...due.spec, concurrencyPolicy: 'Forbid' }, due.status), tasks: [running], now: due.now });
    expect(decision.create).toBeUndefined();
    expect(decision.skipped).toEqual(at('2026-03-01T02:00:00Z'));
    expect(decision.status).toMatchObject({ lastScheduleTime: '2026-03-01T01:00:00Z', lastSkippedTime: '2026-03-01T02:00:00.000Z', skipped: 1, activeCount: 1 });
    // The next pass, with the skip recorded, skips nothing more.
    const again = decideCron({ cron: cronTask({ ...due.spec, concurrencyPolicy: 'Forbid' }, decision.status), tasks: [running], now: due.now });
    expect([again.create, again.skipped, again.status.skipped]).toEqual([undefined, undefined, 1]);
  });

  test('Forbid makes the task once the earlier one has ended', () => {
    const done = task(running.metadata.name!, 'Succeeded', '2026-03-01T01:30:00Z');
    const decision = decideCron({ cron: cronTask({ ...due.spec, concurrencyPolicy: 'Forbid' }, due.status), tasks: [done], now: due.now });
    expect(decision.create?.name).toBe(slotName('2026-03-01T02:00:00Z'));
    expect(decision.status).toMatchObject({ activeCount: 0, lastSuccessfulTime: '2026-03-01T01:30:00.000Z' });
  });

  test('Forbid does not count the slot\'s own task (made before a restart) as another', () => {
    const own = task(slotName('2026-03-01T02:00:00Z'), 'Pending');
    const decision = decideCron({ cron: cronTask({ ...due.spec, concurrencyPolicy: 'Forbid' }, due.status), tasks: [own], now: due.now });
    expect(decision.create?.name).toBe(own.metadata.name);
  });

  test('Replace cancels the running task and makes the new one', () => {
    const decision = decideCron({ cron: cronTask({ ...due.spec, concurrencyPolicy: 'Replace' }, due.status), tasks: [running], now: due.now });
    expect(decision.cancel).toEqual([running.metadata.name]);
    expect(decision.create?.name).toBe(slotName('2026-03-01T02:00:00Z'));
  });
});

describe('decideCron: history and errors', () => {
  test('history limits keep the newest finished tasks of each kind and prune the rest, oldest first', () => {
    const tasks = [
      task('s1', 'Succeeded', '2026-03-01T01:00:00Z'), task('s2', 'Succeeded', '2026-03-01T02:00:00Z'),
      task('s3', 'Succeeded', '2026-03-01T03:00:00Z'), task('f1', 'Failed', '2026-03-01T01:30:00Z'),
      task('f2', 'TimedOut', '2026-03-01T02:30:00Z'), task('r', 'Running'),
    ];
    const decision = decideCron({ cron: cronTask({ successfulTasksHistoryLimit: 1, failedTasksHistoryLimit: 1 }), tasks, now: at('2026-03-01T03:00:30Z') });
    expect(decision.prune).toEqual(['s1', 's2', 'f1']);
    expect(decideCron({ cron: cronTask({}), tasks, now: at('2026-03-01T03:00:30Z') }).prune).toEqual(['f1']);
  });

  test.each([
    ['a schedule that does not parse', { schedule: '61 * * * *' }, 'spec.schedule "61 * * * *" cannot be used: CronPattern: Invalid value for minute: 61'],
    ['a schedule with seconds (a task per minute at most)', { schedule: '*/5 * * * * *' }, 'spec.schedule "*/5 * * * * *" cannot be used'],
    ['an unknown time zone', { timeZone: 'Mars/Base' }, 'spec.schedule "* * * * *" in Mars/Base cannot be used'],
  ])('%s makes nothing and says why', (_case, spec, message) => {
    const decision = decideCron({ cron: cronTask(spec), tasks: [], now: at('2026-03-01T01:00:00Z') });
    expect(decision.create).toBeUndefined();
    expect(decision.requeueAfterMs).toBeUndefined();
    expect(decision.status.message).toContain(message);
  });

  test('a schedule with names and macros parses', () => {
    expect(parseSchedule('@hourly', undefined).ok).toBe(true);
    expect(parseSchedule('0 9 * * MON-FRI', 'Europe/Berlin').ok).toBe(true);
  });

  test('slot names are the cron task\'s and the slot\'s minutes since the epoch', () => {
    expect(taskNameForSlot('nightly', at('2026-03-01T01:00:00Z'))).toBe(`nightly-${Date.parse('2026-03-01T01:00:00Z') / 60_000}`);
  });
});
