// The Postgres side of a replay: the events the operator has copied into
// claude_task_events (in order from seq 1, while the task runs or once it has
// ended). Redis is capped (MAXLEN ~), may lose its data, and the stream is
// deleted with the task, so whatever Redis no longer has comes from here.
import type pg from 'pg';
import { readEventLog } from '../../../packages/database/src/task-records.ts';
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
    const events = await readEventLog(this.pool, task.uid ? { uid: task.uid } : { namespace: task.namespace, name: task.name },
      { after: afterSeq, before: beforeSeq, limit });
    return events.map((event) => makeEvent(event.seq, event.type, event.data, event.time));
  }
}
