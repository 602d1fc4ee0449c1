// The completion webhooks' delivery attempts (claude_task_webhook_attempts):
// written by the operator's notifications controller, one row per attempt.
import type { Queryable } from './task-records.ts';

export type AttemptOutcome = 'delivered' | 'retry' | 'failed';

export interface WebhookAttempt {
  taskUid: string;
  webhookIndex: number;
  /** Without credentials or query. */
  url: string;
  eventId: string;
  /** 1, 2, ... per webhook and event. */
  attempt: number;
  startedAt: Date;
  finishedAt: Date;
  outcome: AttemptOutcome;
  responseCode?: number;
  error?: string;
}

/** Every attempt for the task, by webhook and attempt. */
export async function readWebhookAttempts(db: Queryable, taskUid: string): Promise<WebhookAttempt[]> {
  const { rows } = await db.query<{
    task_uid: string; webhook_index: number; url: string; event_id: string; attempt: number; started_at: Date; finished_at: Date;
    outcome: AttemptOutcome; response_code: number | null; error: string | null;
  }>(
    `SELECT task_uid, webhook_index, url, event_id, attempt, started_at, finished_at, outcome, response_code, error
     FROM claude_task_webhook_attempts WHERE task_uid = $1 ORDER BY webhook_index, attempt`, [taskUid]);
  return rows.map((row) => ({
    taskUid: row.task_uid, webhookIndex: row.webhook_index, url: row.url, eventId: row.event_id, attempt: row.attempt,
    startedAt: row.started_at, finishedAt: row.finished_at, outcome: row.outcome,
    ...(row.response_code === null ? {} : { responseCode: row.response_code }),
    ...(row.error === null ? {} : { error: row.error }),
  }));
}

/** Records an attempt; false when one with the same number is already recorded (another writer got there first). */
export async function recordWebhookAttempt(db: Queryable, attempt: WebhookAttempt): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO claude_task_webhook_attempts
       (task_uid, webhook_index, url, event_id, attempt, started_at, finished_at, outcome, response_code, error)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
     ON CONFLICT (task_uid, webhook_index, event_id, attempt) DO NOTHING`,
    [attempt.taskUid, attempt.webhookIndex, attempt.url, attempt.eventId, attempt.attempt, attempt.startedAt, attempt.finishedAt,
      attempt.outcome, attempt.responseCode ?? null, attempt.error?.slice(0, 1024) ?? null],
  );
  return rowCount === 1;
}
