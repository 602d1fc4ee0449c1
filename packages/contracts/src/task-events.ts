// What a task's events are, wherever they are kept: the Redis Stream, the
// claude_task_events table, the REST history and the WebSocket all carry the
// same record, `{seq, type, data, time}`.
import { z } from 'zod';

/** An event as the runner publishes it: a CLI event as the CLI wrote it, or one of the runner's own. */
export interface TaskEvent {
  type: string;
  [key: string]: unknown;
}

export const TaskEventRecordSchema = z.object({
  seq: z.number().int().min(1),
  type: z.string(),
  time: z.string(),
  data: z.unknown().describe('The event as the runner wrote it.'),
});

/**
 * One event of a task's history. `seq` is 1, 2, ... without gaps across all
 * attempts of the task; `data` is the event object (it includes `type`); `time`
 * (ISO 8601) is when the runner took it.
 */
export type TaskEventRecord<Data = unknown> = Omit<z.infer<typeof TaskEventRecordSchema>, 'data'> & { data: Data };
