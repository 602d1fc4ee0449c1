// Task records and their event log in Postgres, read and written the one way
// both the operator and the API use: the REST history, the WebSocket replay and
// the stream's task lookup read through here, and so does the operator's store.
// A task is found by uid or, once it is gone from Kubernetes, as the newest
// record under its name (a task recreated with the same name is another task,
// with a uid of its own): that lookup is written here once.
import type pg from 'pg';
import type { TaskEventRecord } from '../../contracts/src/task-events.ts';

/** A pool or a client. */
export type Queryable = Pick<pg.Pool, 'query'>;

/** A task by uid, or the newest record under namespace/name. */
export type TaskRef = { uid: string } | { namespace: string; name: string };

export interface TaskRecord {
  uid: string;
  namespace: string;
  name: string;
  phase: string;
  /** The ClaudeTask status as the operator last recorded it. */
  status: Record<string, unknown>;
  result: string | null;
  /** Set once the final status and every event are stored. */
  finalizedAt: Date | null;
}

const uidPattern = /^[0-9a-f-]{36}$/i;

/** The task's uid as SQL with its parameters ($1, $2), or undefined for a uid that cannot be one (no such task). */
function taskUid(task: TaskRef): { sql: string; params: string[] } | undefined {
  if ('uid' in task) return uidPattern.test(task.uid) ? { sql: '$1::uuid', params: [task.uid] } : undefined;
  return {
    sql: '(SELECT uid FROM claude_tasks WHERE namespace = $1 AND name = $2 ORDER BY created_at DESC LIMIT 1)',
    params: [task.namespace, task.name],
  };
}

export async function readTaskRecord(db: Queryable, task: TaskRef): Promise<TaskRecord | undefined> {
  const uid = taskUid(task);
  if (!uid) return undefined;
  const { rows } = await db.query<{
    uid: string; namespace: string; name: string; phase: string; status: Record<string, unknown> | null; result: string | null; finalized_at: Date | null;
  }>(`SELECT uid, namespace, name, phase, status, result, finalized_at FROM claude_tasks WHERE uid = ${uid.sql}`, uid.params);
  const row = rows[0];
  if (!row) return undefined;
  return { uid: row.uid, namespace: row.namespace, name: row.name, phase: row.phase, status: row.status ?? {}, result: row.result,
    finalizedAt: row.finalized_at };
}

/**
 * The task's stored events with after < seq (< before, when given), in seq order, at most `limit`.
 * The operator stores them in order from seq 1, so what is here is a prefix of the history.
 */
export async function readEventLog(db: Queryable, task: TaskRef, range: { after?: number; before?: number; limit?: number } = {}): Promise<TaskEventRecord[]> {
  const uid = taskUid(task);
  if (!uid) return [];
  const [after, before, limit] = [1, 2, 3].map((i) => `$${uid.params.length + i}`);
  const { rows } = await db.query<{ seq: string; type: string; data: unknown; time: Date }>(
    `SELECT seq, type, data, time FROM claude_task_events
     WHERE task_uid = ${uid.sql} AND seq > ${after} AND (${before}::bigint IS NULL OR seq < ${before})
     ORDER BY seq LIMIT ${limit}`,
    [...uid.params, range.after ?? 0, range.before ?? null, range.limit ?? null],
  );
  return rows.map((row) => ({ seq: Number(row.seq), type: row.type, data: row.data, time: new Date(row.time).toISOString() }));
}

/** Stores events; those already stored (same seq) are left as they are. */
export async function writeEvents(db: Queryable, taskUid: string, events: TaskEventRecord[]): Promise<void> {
  const batchSize = 500;
  for (let start = 0; start < events.length; start += batchSize) {
    const batch = events.slice(start, start + batchSize);
    await db.query(
      `INSERT INTO claude_task_events (task_uid, seq, type, data, time)
       SELECT $1, e.seq, e.type, e.data, e.time
       FROM jsonb_to_recordset($2::jsonb) AS e(seq bigint, type text, data jsonb, time timestamptz)
       ON CONFLICT (task_uid, seq) DO NOTHING`,
      [taskUid, JSON.stringify(batch)],
    );
  }
}
