// What a ClaudeCronTask should do now: which slot to make a task for, which
// slot to skip, which tasks to cancel or prune, and when to look again. Pure:
// the clock comes in as `now`, so the decision is table-tested (DST, missed
// slots, Forbid while a task runs); cron-controller.ts reads and applies it.
//
// Like the CronJob controller: only the most recent missed slot is run, and
// only if it is no older than startingDeadlineSeconds; the task's name is the
// cron task's and the slot's, so a restarted operator that decides the same
// slot again makes nothing twice (the create answers 409).
import { Cron } from 'croner';
import type { ClaudeCronTask, ClaudeCronTaskStatus } from '../../crds/src/claude-cron-task.ts';
import { terminalPhases, type ClaudeTask } from '../../crds/src/claude-task.ts';

export interface CronObservation {
  cron: ClaudeCronTask;
  /** The tasks the cron task owns (controller owner reference), any order. */
  tasks: ClaudeTask[];
  now: Date;
}

export interface CronDecision {
  /** The slot to make a task for, and the task's name. */
  create?: { slot: Date; name: string };
  /** Active tasks to cancel first (concurrencyPolicy Replace). */
  cancel: string[];
  /** Finished tasks past the history limits, oldest first. */
  prune: string[];
  status: ClaudeCronTaskStatus;
  /** When the next slot is due; undefined when there is none (a schedule that does not parse). */
  requeueAfterMs?: number;
  /** Set when a slot was skipped on this pass (Forbid), for the log and the Event. */
  skipped?: Date;
}

export const defaultSuccessfulHistory = 3;
export const defaultFailedHistory = 1;
/** Names carry the slot in minutes since the epoch, as CronJob's Jobs do. */
const maxCronNameLength = 52;

/** `<cron name>-<slot in minutes since the epoch>`: the same for the same slot on every pass and every operator. */
export function taskNameForSlot(cronName: string, slot: Date): string {
  return `${cronName.slice(0, maxCronNameLength)}-${Math.floor(slot.getTime() / 60_000)}`;
}

/** The schedule, or why it cannot be one; a bad time zone shows only on first use, so it is tried here. */
export function parseSchedule(schedule: string, timeZone: string | undefined): { ok: true; cron: Cron } | { ok: false; message: string } {
  try {
    // Five fields, as CronJob: task names carry the slot's minute, so two slots in one minute would be one task.
    const cron = new Cron(schedule, { paused: true, timezone: timeZone ?? 'UTC', mode: '5-part' });
    cron.nextRun(new Date(0));
    return { ok: true, cron };
  } catch (error) {
    return { ok: false, message: `spec.schedule ${JSON.stringify(schedule)}${timeZone ? ` in ${timeZone}` : ''} cannot be used: ${error instanceof Error ? error.message : String(error)}` };
  }
}

function time(value: string | Date | undefined): Date | undefined {
  return value === undefined ? undefined : new Date(value);
}

const later = (a: Date | undefined, b: Date | undefined) => (a && b ? (a > b ? a : b) : a ?? b);

/**
 * The latest slot after `after` and at or before `now`, or undefined. Walks
 * the slots one by one: a long outage of a per-minute schedule costs one
 * iteration per missed minute, bounded by startingDeadlineSeconds when set and
 * by `maxSlots` otherwise (CronJob stops at 100 and says so).
 */
function mostRecentSlot(cron: Cron, after: Date, now: Date, maxSlots = 10_000): Date | undefined {
  let slot: Date | undefined;
  let next = cron.nextRun(after);
  for (let i = 0; next && next <= now && i < maxSlots; i++) {
    slot = next;
    next = cron.nextRun(next);
  }
  return slot;
}

export function decideCron({ cron, tasks, now }: CronObservation): CronDecision {
  const { spec } = cron;
  const previous = cron.status ?? {};
  const active = tasks.filter((task) => !(task.status?.phase && terminalPhases.has(task.status.phase)) && !task.metadata.deletionTimestamp);
  const finished = tasks.filter((task) => task.status?.phase && terminalPhases.has(task.status.phase));
  const prunable = finished.filter((task) => !task.metadata.deletionTimestamp);
  const lastSuccess = finished.filter((task) => task.status?.phase === 'Succeeded')
    .map((task) => time(task.status?.completionTime)).reduce(later, time(previous.lastSuccessfulTime));

  const status: ClaudeCronTaskStatus = {
    ...previous,
    active: active.map((task) => ({ name: task.metadata.name ?? '', ...(task.metadata.uid ? { uid: task.metadata.uid } : {}) })),
    activeCount: active.length,
    ...(lastSuccess ? { lastSuccessfulTime: lastSuccess.toISOString() } : {}),
    ...(cron.metadata.generation !== undefined ? { observedGeneration: cron.metadata.generation } : {}),
  };
  delete status.message;
  const decision: CronDecision = { cancel: [], prune: prune(cron, prunable), status };

  const parsed = parseSchedule(spec.schedule, spec.timeZone);
  if (!parsed.ok) return { ...decision, status: { ...status, message: parsed.message } };
  const next = parsed.cron.nextRun(now);
  if (next) decision.requeueAfterMs = Math.max(0, next.getTime() - now.getTime());
  if (spec.suspend) return decision;

  // Slots after the last one acted on (made or skipped), else after the cron task was made.
  let after = later(time(previous.lastScheduleTime), time(previous.lastSkippedTime)) ?? time(cron.metadata.creationTimestamp) ?? now;
  const deadline = spec.startingDeadlineSeconds;
  if (deadline !== undefined) after = later(after, new Date(now.getTime() - deadline * 1000 - 1))!;
  const slot = mostRecentSlot(parsed.cron, after, now);
  if (!slot) return decision;

  const name = taskNameForSlot(cron.metadata.name ?? '', slot);
  const policy = spec.concurrencyPolicy ?? 'Allow';
  const othersActive = active.filter((task) => task.metadata.name !== name);
  if (policy === 'Forbid' && othersActive.length > 0) {
    return {
      ...decision, skipped: slot,
      status: { ...status, lastSkippedTime: slot.toISOString(), skipped: (previous.skipped ?? 0) + 1 },
    };
  }
  if (policy === 'Replace') decision.cancel = othersActive.filter((task) => !task.spec.cancel).map((task) => task.metadata.name ?? '');
  return { ...decision, create: { slot, name }, status: { ...status, lastScheduleTime: slot.toISOString() } };
}

/** Finished tasks beyond the limits, oldest first (by when they ended, else when they were made). */
function prune(cron: ClaudeCronTask, finished: ClaudeTask[]): string[] {
  const ended = (task: ClaudeTask) => (time(task.status?.completionTime) ?? time(task.metadata.creationTimestamp) ?? new Date(0)).getTime();
  const over = (group: ClaudeTask[], limit: number) =>
    [...group].sort((a, b) => ended(b) - ended(a)).slice(limit).reverse().map((task) => task.metadata.name ?? '');
  const succeeded = finished.filter((task) => task.status?.phase === 'Succeeded');
  const failed = finished.filter((task) => task.status?.phase !== 'Succeeded');
  return [
    ...over(succeeded, cron.spec.successfulTasksHistoryLimit ?? defaultSuccessfulHistory),
    ...over(failed, cron.spec.failedTasksHistoryLimit ?? defaultFailedHistory),
  ];
}
