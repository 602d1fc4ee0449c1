// The Postgres side of a replay: the events the operator has copied (in order
// from seq 1, while the task or session runs or once it has ended). Redis is
// capped (MAXLEN ~), may lose its data, and the stream is deleted with the
// task or session, so whatever Redis no longer has comes from here. A task's
// events are in claude_task_events, a session's in claude_session_events.
import type pg from 'pg';
import { readSessionEvents, readSessionRecord } from '../../../packages/database/src/session-records.ts';
import { readEventLog } from '../../../packages/database/src/task-records.ts';
import { makeEvent, type StreamEvent } from './stream-event.ts';

export interface TaskIdentity {
  namespace: string;
  name: string;
  /** The uid when known; otherwise the newest record under namespace/name. */
  uid: string | undefined;
}

export interface EventHistorySource {
  /** Up to `limit` events with afterSeq < seq < beforeSeq, in seq order. */
  page(object: TaskIdentity, afterSeq: number, limit: number, beforeSeq?: number): Promise<StreamEvent[]>;
}

export class EventHistory implements EventHistorySource {
  private readonly pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.pool = pool;
  }

  async page(task: TaskIdentity, afterSeq: number, limit: number, beforeSeq?: number): Promise<StreamEvent[]> {
    const events = await readEventLog(this.pool, task.uid ? { uid: task.uid } : { namespace: task.namespace, name: task.name },
      { after: afterSeq, before: beforeSeq, limit });
    return events.map((event) => makeEvent(event.seq, event.type, event.data, event.time));
  }
}

export class SessionEventHistory implements EventHistorySource {
  private readonly pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.pool = pool;
  }

  async page(session: TaskIdentity, afterSeq: number, limit: number, beforeSeq?: number): Promise<StreamEvent[]> {
    const uid = session.uid ?? (await readSessionRecord(this.pool, { namespace: session.namespace, name: session.name }))?.uid;
    if (!uid) return [];
    const events = await readSessionEvents(this.pool, uid, { after: afterSeq, before: beforeSeq, limit });
    return events.map((event) => makeEvent(event.seq, event.type, event.data, event.time, event.messageId));
  }
}
