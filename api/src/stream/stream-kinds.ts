// What the WebSocket follows: a task's events or a session's. Each kind names
// its path segment, its Redis keys, where its history is in Postgres, how to
// look an object up and when its stream ends; the feed (replay.ts) and the
// server (ws-server.ts) are the same for both.
import type pg from 'pg';
import { closedSessionPhases } from '../../../crds/src/claude-session.ts';
import type { WorkloadKind } from '../../../packages/contracts/src/event-stream.ts';
import { readSessionRecord } from '../../../packages/database/src/session-records.ts';
import type { SessionStoreApi } from '../sessions/kube-sessions.ts';
import { kubeObjectLookup } from './kube-task-lookup.ts';
import { EventHistory, SessionEventHistory, type EventHistorySource } from './history.ts';
import { completion, type StreamEvent } from './stream-event.ts';
import { isFinished, type TaskLookup, type TaskRef } from './task-lookup.ts';

export interface StreamKind {
  /** The path segment: /api/v1/namespaces/{ns}/<collection>/{name}/stream. */
  collection: 'tasks' | 'sessions';
  /** For people: "no such <what>". */
  what: string;
  lookup: TaskLookup;
  /** Whether nothing more will be written for the object (it is gone or has ended for good). */
  isFinished(object: TaskRef | undefined): boolean;
  history: EventHistorySource;
  /** Whose Redis keys (workloadStreamKeys) the stream and partial channel are. */
  workload: WorkloadKind;
  completion(event: StreamEvent): 'final' | 'maybe-final' | undefined;
}

export function taskStreamKind(lookup: TaskLookup, pool: pg.Pool): StreamKind {
  return {
    collection: 'tasks', what: 'task', lookup, isFinished, history: new EventHistory(pool),
    workload: 'task', completion,
  };
}

/** A session's stream goes on across turns and pods; it ends when the session is closed (Failed, Archived) or gone. */
export function sessionStreamKind(lookup: TaskLookup, pool: pg.Pool): StreamKind {
  return {
    collection: 'sessions', what: 'session', lookup, history: new SessionEventHistory(pool),
    isFinished: (session) => session === undefined || closedSessionPhases.has(session.phase ?? ''),
    workload: 'session', completion: () => undefined,
  };
}

/** Sessions from the operator's records (written before every status update). */
export function postgresSessionLookup(pool: pg.Pool): TaskLookup {
  return async (namespace, name) => {
    const record = await readSessionRecord(pool, { namespace, name });
    return record ? { namespace, name, uid: record.uid, phase: record.phase } : undefined;
  };
}

/** Sessions from Kubernetes, else from Postgres for one already deleted. */
export function kubeSessionLookup(sessions: SessionStoreApi, pool: pg.Pool): TaskLookup {
  return kubeObjectLookup(sessions, postgresSessionLookup(pool));
}
