// What a run's report reads from Postgres: the task's record with its spec and
// phase transitions, and its events page by page (keyset on seq), so a report of
// any length is rendered in bounded memory.
import type { TaskEventRecord } from '../../contracts/src/task-events.ts';
import { readEventLog, readTaskRecord, type Queryable, type TaskRef } from './task-records.ts';

export interface ReportRecord {
  uid: string;
  namespace: string;
  name: string;
  phase: string;
  spec: Record<string, unknown>;
  status: Record<string, unknown>;
  result: string | null;
  createdAt: Date;
  completedAt: Date | null;
  transitions: Array<{ from: string | null; to: string; reason: string | null; at: Date }>;
}

export async function readReportRecord(db: Queryable, task: TaskRef): Promise<ReportRecord | undefined> {
  const record = await readTaskRecord(db, task);
  if (!record) return undefined;
  const [{ rows: [row] }, { rows: transitions }] = await Promise.all([
    db.query<{ spec: Record<string, unknown>; created_at: Date; completed_at: Date | null }>(
      'SELECT spec, created_at, completed_at FROM claude_tasks WHERE uid = $1', [record.uid]),
    db.query<{ from_phase: string | null; to_phase: string; reason: string | null; at: Date }>(
      'SELECT from_phase, to_phase, reason, at FROM claude_task_transitions WHERE task_uid = $1 ORDER BY id', [record.uid]),
  ]);
  return {
    uid: record.uid, namespace: record.namespace, name: record.name, phase: record.phase, status: record.status, result: record.result,
    spec: row?.spec ?? {}, createdAt: row?.created_at ?? new Date(0), completedAt: row?.completed_at ?? null,
    transitions: transitions.map((t) => ({ from: t.from_phase, to: t.to_phase, reason: t.reason, at: t.at })),
  };
}

/** The task's stored events in seq order, `pageSize` rows per query: at most one page in memory. */
export async function* storedEvents(db: Queryable, uid: string, pageSize = 500): AsyncGenerator<TaskEventRecord> {
  let after = 0;
  for (;;) {
    const page = await readEventLog(db, { uid }, { after, limit: pageSize });
    yield* page;
    if (page.length < pageSize) return;
    after = page.at(-1)!.seq;
  }
}
