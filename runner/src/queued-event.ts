// The EventPublisher's (event-publisher.ts) unit of work: one event waiting for
// the stream, its seq once it has one, and the pure steps the pump takes with
// such events: cutting a batch, marking events written, reading the stream's last seq.
import { seqOfEntry } from '../../packages/contracts/src/event-stream.ts';
import type { Logger } from '../../packages/platform/src/logger.ts';

export interface QueuedEvent {
  type: string;
  data: string;
  time: string;
  /** A session's events: the stream field `messageId` (session-stream.ts). */
  messageId: string | undefined;
  /** Assigned when the event first goes into a batch, kept across retries and rewrites. */
  seq: number | undefined;
  /** Called once, when the event is first known to be in the stream. */
  onWritten: ((seq: number) => void) | undefined;
}

/** The queue's head that goes into one MULTI/EXEC: at most `size` events and `bytes` of data, but at least one event. */
export function takeBatch(queue: readonly QueuedEvent[], size: number, bytes: number): QueuedEvent[] {
  const batch: QueuedEvent[] = [];
  let taken = 0;
  for (const event of queue) {
    if (batch.length >= size) break;
    if (batch.length > 0 && taken + event.data.length > bytes) break;
    batch.push(event);
    taken += event.data.length;
  }
  return batch;
}

/** The event is in the stream: its publisher hears so once. */
export function markWritten(event: QueuedEvent): QueuedEvent {
  event.onWritten?.(event.seq!);
  event.onWritten = undefined;
  return event;
}

/** The seq of the newest entry as XREVRANGE … COUNT 1 returns it; 0 for an empty stream (or an entry without a valid seq). */
export function lastSeqOf(entries: Array<[id: string, fields: string[]]>, logger: Logger): number {
  const last = entries[0];
  if (!last) return 0;
  const seq = seqOfEntry(last[1]);
  if (seq === undefined) logger.warn({ entry: last[0] }, 'last event stream entry has no valid seq; counting from 0');
  return seq ?? 0;
}
