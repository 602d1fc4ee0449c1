// The Redis Stream a task's (or session's) events go to: shared by the runner (writer), the API
// (SSE to clients) and the operator (reader), so all three agree on key and fields.
//
// Each entry has the fields `seq` (1, 2, ... without gaps across all attempts of
// the task), `type`, `data` (the event as JSON, including `type`) and `time`
// (ISO 8601, when the runner took the event). The Stream is the record; the
// wake channel only wakes readers up and carries the newest seq. Partial
// messages (token deltas) never go to the Stream: they go, best-effort, to the
// partial channel, for clients that want to show text as it comes.
import type { TaskEvent, TaskEventRecord } from './task-events.ts';

/** What runs the CLI and has its own event stream: a ClaudeTask or a ClaudeSession. */
export type WorkloadKind = 'task' | 'session';

/** The prefix of every Redis key of one workload: `claude-operator:<kind>:<namespace>/<name>`. */
export function workloadKeyBase(kind: WorkloadKind, namespace: string, name: string): string {
  return `claude-operator:${kind}:${namespace}/${name}`;
}

/** The Redis keys of one workload's event stream; a session has more (session-stream.ts). */
export interface WorkloadStreamKeys {
  /** The Stream of the workload's events. */
  events: string;
  /** PUBLISHed with the newest seq after each write; a hint, never the only copy of an event. */
  wake: string;
  /** The highest seq of the workload's events that the operator has stored in Postgres,
   * as a decimal string; SET by the operator as it copies the stream, read by the runner. */
  persisted: string;
  /**
   * PUBLISHed with each partial event (isPartialEvent) as JSON, best-effort: nothing
   * is stored or retried, a reader that is not subscribed misses them. The whole
   * message follows in the Stream (an `assistant` event whose message.id is the
   * partials' api_message_id).
   */
  partial: string;
}

/** The one spelling of a workload's stream keys, for the runner (writer), the API and the operator. */
export function workloadStreamKeys(kind: WorkloadKind, namespace: string, name: string): WorkloadStreamKeys {
  const events = `${workloadKeyBase(kind, namespace, name)}:events`;
  return { events, wake: `${events}:wake`, persisted: `${events}:persisted`, partial: `${events}:partial` };
}

/**
 * What `--include-partial-messages` adds to the CLI's output (the api engine emits the
 * same `stream_event` shape): `stream_event` (one SSE event of the Messages API) and
 * the `system` `status` events that announce each request. Without them the Stream
 * holds what it would hold without the flag.
 */
export function isPartialEvent(event: TaskEvent): boolean {
  return event.type === 'stream_event' || (event.type === 'system' && event.subtype === 'status');
}

/** Past this many entries the operator trims the stream, but only what it has copied to Postgres. */
export const defaultEventStreamMaxLength = 10_000;

/** An event as read from the Stream: the record and its entry id. */
export interface StreamEntry extends TaskEventRecord<TaskEvent> {
  /** The Stream entry id, e.g. 1700000000000-0. */
  id: string;
}

/** Reads one entry as XRANGE/XREAD return it ([id, [field, value, ...]]). */
export function parseStreamEntry(id: string, fields: string[]): StreamEntry {
  const values = fieldMap(fields);
  const seq = seqOfEntry(fields);
  if (seq === undefined) throw new Error(`stream entry ${id} has no valid seq`);
  const data = values.get('data') ?? '{}';
  return {
    id,
    seq,
    type: values.get('type') ?? 'unknown',
    time: values.get('time') ?? '',
    data: JSON.parse(data) as TaskEvent,
    // A session's events carry the message whose turn they belong to (session-stream.ts).
    ...(values.has('messageId') ? { messageId: values.get('messageId')! } : {}),
  };
}

/** The entry's seq, undefined when it has none that is valid. */
export function seqOfEntry(fields: string[]): number | undefined {
  const seq = Number(fieldMap(fields).get('seq'));
  return Number.isSafeInteger(seq) && seq >= 1 ? seq : undefined;
}

function fieldMap(fields: string[]): Map<string, string> {
  const values = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) values.set(fields[i]!, fields[i + 1]!);
  return values;
}
