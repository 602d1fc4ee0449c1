// What the stream needs to know of a task: that it exists (or 404), its uid (to
// find its history in Postgres) and its phase (to know when the stream ends).
// Injected, so the server can answer from Kubernetes; postgresTaskLookup answers
// from the operator's records, which it writes before every status update.
import type pg from 'pg';
import { terminalPhases } from '../../../crds/src/claude-task.ts';
import { readTaskRecord } from '../../../packages/database/src/task-records.ts';

export interface TaskRef {
  namespace: string;
  name: string;
  uid: string | undefined;
  phase: string | undefined;
}

/** undefined when there is no such task. */
export type TaskLookup = (namespace: string, name: string) => Promise<TaskRef | undefined>;

/** A task that is gone counts as finished: nothing more will be written for it. */
export function isFinished(task: TaskRef | undefined): boolean {
  return task === undefined || (task.phase !== undefined && terminalPhases.has(task.phase));
}

export function postgresTaskLookup(pool: pg.Pool): TaskLookup {
  return async (namespace, name) => {
    const record = await readTaskRecord(pool, { namespace, name });
    return record ? { namespace, name, uid: record.uid, phase: record.phase } : undefined;
  };
}
