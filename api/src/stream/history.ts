// The Postgres side of a replay: the events the operator has copied into
// claude_task_events (in order from seq 1, while the task runs or once it has
// ended). Redis is capped (MAXLEN ~), may lose its data, and the stream is
// deleted with the task, so whatever Redis no longer has comes from here.
import type pg from 'pg';
import { makeEvent, type StreamEvent } from './stream-event.ts';

export interface TaskIdentity {
  namespace: string;
  name: string;
  /** The task's uid when known; otherwise the newest record under namespace/name. */
  uid: string | undefined;
}

export class EventHistory {
  private readonly pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.pool = pool;
  }

  /** Up to `limit` events with afterSeq < seq < beforeSeq, in seq order. */
  async page(task: TaskIdentity, afterSeq: number, limit: number, beforeSeq?: number): Promise<StreamEvent[]> {
    const taskUid = task.uid
      ? { sql: '$4::uuid', params: [task.uid] }
      : { sql: '(SELECT uid FROM claude_tasks WHERE namespace = $4 AND name = $5 ORDER BY created_at DESC LIMIT 1)', params: [task.namespace, task.name] };
    const { rows } = await this.pool.query<{ seq: string; type: string; data: unknown; time: Date }>(
      `SELECT seq, type, data, time FROM claude_task_events
       WHERE task_uid = ${taskUid.sql} AND seq > $1 AND ($2::bigint IS NULL OR seq < $2)
       ORDER BY seq LIMIT $3`,
      [afterSeq, beforeSeq ?? null, limit, ...taskUid.params],
    );
    return rows.map((row) => makeEvent(Number(row.seq), row.type, row.data, new Date(row.time).toISOString()));
  }
}
