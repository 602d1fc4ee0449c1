// The Redis Stream a task's events go to: shared by the runner (writer), the API
// (SSE to clients) and the operator (reader), so all three agree on key and fields.
//
// Each entry has the fields `seq` (1, 2, ... without gaps across all attempts of
// the task), `type`, `data` (the event as JSON, including `type`) and `time`
// (ISO 8601, when the runner took the event). The Stream is the record; the
// wake channel only wakes readers up and carries the newest seq. Partial
// messages (token deltas) never go to the Stream: they go, best-effort, to the
// partial channel, for clients that want to show text as it comes.
import type { z } from 'zod';
import type { UsageSchema } from '../../../crds/src/claude-task.ts';
import type { TaskEvent, TaskEventRecord } from './task-events.ts';

export type { TaskEvent, TaskEventRecord };

export const eventStreamPrefix = 'claude-operator:task:';

export function taskEventStreamKey(namespace: string, name: string): string {
  return `${eventStreamPrefix}${namespace}/${name}:events`;
}

/** PUBLISHed with the newest seq after each write; a hint, never the only copy of an event. */
export function taskEventWakeChannel(namespace: string, name: string): string {
  return `${taskEventStreamKey(namespace, name)}:wake`;
}

/** The highest seq of the task's events that the operator has stored in Postgres,
 * as a decimal string; SET by the operator as it copies the stream, read by the runner. */
export function taskEventPersistedKey(namespace: string, name: string): string {
  return `${taskEventStreamKey(namespace, name)}:persisted`;
}

/**
 * PUBLISHed with each partial event (isPartialEvent) as JSON, best-effort: nothing
 * is stored or retried, a reader that is not subscribed misses them. The whole
 * message follows in the Stream (an `assistant` event whose message.id is the
 * partials' api_message_id).
 */
export function taskPartialChannel(namespace: string, name: string): string {
  return `${taskEventStreamKey(namespace, name)}:partial`;
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

export const outcomes = ['succeeded', 'failed', 'cancelled'] as const;
export type Outcome = (typeof outcomes)[number];

/** The `usage` of the task status, so the operator can copy it as is. */
export type TaskUsage = z.infer<typeof UsageSchema>;

/**
 * Why an attempt failed, when the runner can say it in a word (the operator may use
 * it as a condition reason); null otherwise:
 * - BudgetExceeded: the run cost more than spec.maxBudgetUSD (the CLI's error_max_budget_usd).
 * - MaxTurnsExceeded: spec.maxTurns ran out (error_max_turns).
 * - StructuredOutputMissing: spec.jsonSchema was given, but Claude returned no output matching it.
 */
export const completionReasons = ['BudgetExceeded', 'MaxTurnsExceeded', 'StructuredOutputMissing'] as const;
export type CompletionReason = (typeof completionReasons)[number];

/** The last event of every attempt. */
// A type, not an interface, so that it is assignable to TaskEvent's index signature.
export type RunnerCompletedEvent = {
  type: 'runner.completed';
  outcome: Outcome;
  /** The runner's own exit code (see runner/README.md). */
  exitCode: number;
  /** Human-readable: why it failed, or a short success note. */
  message: string;
  /** Machine-readable: why it failed (see completionReasons), else null. */
  reason: CompletionReason | null;
  /** The final answer text (with spec.jsonSchema: the validated JSON); null when the run did not succeed.
   * Fields without a value are null, never missing. */
  result: string | null;
  usage: TaskUsage | null;
  sessionId: string | null;
  /** The model the CLI's init event names (engine api: the model it called); null before the engine started. */
  model: string | null;
};

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
