// One event as the WebSocket sends it: `{seq, type, data, time}` (a session's
// events also `messageId`, when they belong to a message's turn), whether it
// came from the Redis Stream or from the Postgres history. Encoded to JSON once,
// so a live event followed by 200 clients is serialised once, not 200 times.
import { parseStreamEntry } from '../../../packages/contracts/src/event-stream.ts';
import type { TaskEventRecord } from '../../../packages/contracts/src/task-events.ts';

export interface StreamEvent extends TaskEventRecord {
  /** JSON of `{seq, type, data, time, messageId?}`: what goes on the wire. */
  json: string;
  /** The Redis Stream entry id, for events read from Redis. */
  id?: string;
}

export function makeEvent(seq: number, type: string, data: unknown, time: string, messageId?: string): StreamEvent {
  const record = { seq, type, data, time, ...(messageId === undefined ? {} : { messageId }) };
  return { ...record, json: JSON.stringify(record) };
}

/** An entry as XRANGE/XREAD return it; undefined when it is not a valid event (no seq, bad JSON). */
export function eventFromEntry(id: string, fields: string[]): StreamEvent | undefined {
  try {
    const stored = parseStreamEntry(id, fields);
    return { ...makeEvent(stored.seq, stored.type, stored.data, stored.time, stored.messageId), id };
  } catch {
    return undefined;
  }
}

/**
 * Whether this event ends the task's stream by itself. A task can run several
 * attempts, each ending with `runner.completed`: succeeded and cancelled are never
 * followed by another attempt, but after `failed` another attempt may follow, so
 * only the task's phase can tell (see EventFeed).
 */
export function completion(event: StreamEvent): 'final' | 'maybe-final' | undefined {
  if (event.type !== 'runner.completed') return undefined;
  const outcome = (event.data as { outcome?: unknown } | null)?.outcome;
  return outcome === 'succeeded' || outcome === 'cancelled' ? 'final' : 'maybe-final';
}
