// The task history in Postgres: the task's record (spec, status, result), every
// phase transition, and the runner's events. Every write is idempotent, so a
// reconcile that runs twice (after a crash, or a retry) writes nothing twice.
import pg from 'pg';
import type { ClaudeTask, ClaudeTaskStatus } from '../../../crds/src/claude-task.ts';

export interface StoredEvent {
  seq: number;
  type: string;
  data: unknown;
  time: string;
}

export interface TaskRecord {
  uid: string;
  namespace: string;
  name: string;
  phase: string;
  spec: unknown;
  status: ClaudeTaskStatus;
  result: string | null;
  finalizedAt: Date | null;
}

export class TaskStore {
  private readonly pool: pg.Pool;
  private closed = false;

  constructor(databaseUrl: string) {
    this.pool = new pg.Pool({ connectionString: databaseUrl, max: 5 });
  }

  /** Upserts the task's record and, when its phase changed, records the transition.
   * True when it did: the row lock makes that the one answer to "did the phase change?",
   * however stale the caller's view of the task was. */
  async recordStatus(task: ClaudeTask, status: ClaudeTaskStatus, transition?: { reason?: string; message?: string }): Promise<boolean> {
    const uid = task.metadata.uid ?? '';
    const phase = status.phase ?? 'Pending';
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const previous = await client.query<{ phase: string }>('SELECT phase FROM claude_tasks WHERE uid = $1 FOR UPDATE', [uid]);
      await client.query(
        `INSERT INTO claude_tasks (uid, namespace, name, spec, status, phase, result, created_at, completed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (uid) DO UPDATE SET status = EXCLUDED.status, phase = EXCLUDED.phase,
           result = COALESCE(EXCLUDED.result, claude_tasks.result), completed_at = EXCLUDED.completed_at, updated_at = now()`,
        [uid, task.metadata.namespace, task.metadata.name, JSON.stringify(task.spec), JSON.stringify(status), phase,
          status.result ?? null, new Date(task.metadata.creationTimestamp ?? Date.now()), status.completionTime ?? null],
      );
      const from = previous.rows[0]?.phase ?? null;
      const changed = from !== phase;
      if (changed) {
        await client.query(
          'INSERT INTO claude_task_transitions (task_uid, from_phase, to_phase, reason, message) VALUES ($1, $2, $3, $4, $5)',
          [uid, from, phase, transition?.reason ?? null, transition?.message ?? status.message ?? null],
        );
      }
      await client.query('COMMIT');
      return changed;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /** Stores events; those already stored (same seq) are left as they are. */
  async recordEvents(taskUid: string, events: StoredEvent[]): Promise<void> {
    const batchSize = 500;
    for (let start = 0; start < events.length; start += batchSize) {
      const batch = events.slice(start, start + batchSize);
      await this.pool.query(
        `INSERT INTO claude_task_events (task_uid, seq, type, data, time)
         SELECT $1, e.seq, e.type, e.data, e.time
         FROM jsonb_to_recordset($2::jsonb) AS e(seq bigint, type text, data jsonb, time timestamptz)
         ON CONFLICT (task_uid, seq) DO NOTHING`,
        [taskUid, JSON.stringify(batch)],
      );
    }
  }

  /** The highest seq stored for the task; 0 when none is. */
  async maxEventSeq(taskUid: string): Promise<number> {
    const { rows } = await this.pool.query<{ max: string | null }>('SELECT max(seq) AS max FROM claude_task_events WHERE task_uid = $1', [taskUid]);
    return Number(rows[0]?.max ?? 0);
  }

  async markFinalized(taskUid: string, result?: string): Promise<void> {
    await this.pool.query(
      'UPDATE claude_tasks SET finalized_at = COALESCE(finalized_at, now()), result = COALESCE($2, result) WHERE uid = $1',
      [taskUid, result ?? null],
    );
  }

  async get(taskUid: string): Promise<TaskRecord | undefined> {
    const { rows } = await this.pool.query(
      'SELECT uid, namespace, name, phase, spec, status, result, finalized_at FROM claude_tasks WHERE uid = $1', [taskUid]);
    const row = rows[0];
    if (!row) return undefined;
    return { uid: row.uid, namespace: row.namespace, name: row.name, phase: row.phase, spec: row.spec, status: row.status,
      result: row.result, finalizedAt: row.finalized_at };
  }

  async events(taskUid: string): Promise<StoredEvent[]> {
    const { rows } = await this.pool.query(
      'SELECT seq, type, data, time FROM claude_task_events WHERE task_uid = $1 ORDER BY seq', [taskUid]);
    return rows.map((row) => ({ seq: Number(row.seq), type: row.type, data: row.data, time: new Date(row.time).toISOString() }));
  }

  async transitions(taskUid: string): Promise<Array<{ from: string | null; to: string }>> {
    const { rows } = await this.pool.query(
      'SELECT from_phase, to_phase FROM claude_task_transitions WHERE task_uid = $1 ORDER BY id', [taskUid]);
    return rows.map((row) => ({ from: row.from_phase, to: row.to_phase }));
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}
