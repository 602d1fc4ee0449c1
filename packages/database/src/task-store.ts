// The task history in Postgres: the task's record (spec, status, result), every
// phase transition, and the runner's events. Every write is idempotent, so a
// reconcile that runs twice (after a crash, or a retry) writes nothing twice.
import pg from 'pg';
import { createdByAnnotation, type ClaudeTask, type ClaudeTaskStatus } from '../../../crds/src/claude-task.ts';
import type { TaskEventRecord } from '../../contracts/src/task-events.ts';
import { readEventLog, readTaskRecord, writeEvents, type TaskRecord } from './task-records.ts';
import { createPool, inTransaction, type PoolOptions } from './pool.ts';
import { readSpend, recordUsage, sumUsage, type SpendTotals, type UsageQuery, type UsageRow } from './usage-ledger.ts';
import { readWebhookAttempts, recordWebhookAttempt, type WebhookAttempt } from './webhook-attempts.ts';

export class TaskStore {
  private readonly pool: pg.Pool;
  private closed = false;

  constructor(databaseUrl: string, options: Pick<PoolOptions, 'onIdleError' | 'connectionTimeoutMillis'> = {}) {
    this.pool = createPool(databaseUrl, { max: 5, ...options });
  }

  /** Upserts the task's record and, when its phase changed, records the transition.
   * True when it did: the row lock makes that the one answer to "did the phase change?",
   * however stale the caller's view of the task was. */
  async recordStatus(task: ClaudeTask, status: ClaudeTaskStatus, transition?: { reason?: string; message?: string }): Promise<boolean> {
    const uid = task.metadata.uid ?? '';
    const phase = status.phase ?? 'Pending';
    const createdBy = task.metadata.annotations?.[createdByAnnotation] ?? null;
    return inTransaction(this.pool, async (client) => {
      const previous = await client.query<{ phase: string }>('SELECT phase FROM claude_tasks WHERE uid = $1 FOR UPDATE', [uid]);
      await client.query(
        `INSERT INTO claude_tasks (uid, namespace, name, spec, status, phase, result, created_at, completed_at, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (uid) DO UPDATE SET status = EXCLUDED.status, phase = EXCLUDED.phase,
           result = COALESCE(EXCLUDED.result, claude_tasks.result), completed_at = EXCLUDED.completed_at,
           created_by = COALESCE(claude_tasks.created_by, EXCLUDED.created_by), updated_at = now()`,
        [uid, task.metadata.namespace, task.metadata.name, JSON.stringify(task.spec), JSON.stringify(status), phase,
          status.result ?? null, new Date(task.metadata.creationTimestamp ?? Date.now()), status.completionTime ?? null,
          createdBy],
      );
      // The usage goes to the ledger in the same transaction as the status that reports it.
      if (status.usage) {
        await recordUsage(client, {
          kind: 'ClaudeTask', uid, namespace: task.metadata.namespace ?? '', name: task.metadata.name ?? '',
          user: createdBy, model: status.model ?? task.spec.model ?? null, usage: status.usage,
          at: new Date(status.completionTime ?? Date.now()),
        });
      }
      const from = previous.rows[0]?.phase ?? null;
      const changed = from !== phase;
      if (changed) {
        await client.query(
          'INSERT INTO claude_task_transitions (task_uid, from_phase, to_phase, reason, message) VALUES ($1, $2, $3, $4, $5)',
          [uid, from, phase, transition?.reason ?? null, transition?.message ?? status.message ?? null],
        );
      }
      return changed;
    });
  }

  /** Stores events; those already stored (same seq) are left as they are. */
  async recordEvents(taskUid: string, events: TaskEventRecord[]): Promise<void> {
    await writeEvents(this.pool, taskUid, events);
  }

  /** The highest seq stored for the task; 0 when none is. */
  async maxEventSeq(taskUid: string): Promise<number> {
    const { rows } = await this.pool.query<{ max: string | null }>('SELECT max(seq) AS max FROM claude_task_events WHERE task_uid = $1', [taskUid]);
    return Number(rows[0]?.max ?? 0);
  }

  async markFinalized(taskUid: string, result?: string): Promise<void> {
    await this.pool.query(
      'UPDATE claude_tasks SET finalized_at = COALESCE(finalized_at, now()), result = COALESCE($2, result) WHERE uid = $1',
      [taskUid, result ?? null],
    );
  }

  async get(taskUid: string): Promise<TaskRecord | undefined> {
    return readTaskRecord(this.pool, { uid: taskUid });
  }

  async events(taskUid: string): Promise<TaskEventRecord[]> {
    return readEventLog(this.pool, { uid: taskUid });
  }

  async transitions(taskUid: string): Promise<Array<{ from: string | null; to: string }>> {
    const { rows } = await this.pool.query(
      'SELECT from_phase, to_phase FROM claude_task_transitions WHERE task_uid = $1 ORDER BY id', [taskUid]);
    return rows.map((row) => ({ from: row.from_phase, to: row.to_phase }));
  }

  async webhookAttempts(taskUid: string): Promise<WebhookAttempt[]> {
    return readWebhookAttempts(this.pool, taskUid);
  }

  async recordWebhookAttempt(attempt: WebhookAttempt): Promise<boolean> {
    return recordWebhookAttempt(this.pool, attempt);
  }

  /** What a namespace or a user spent from a UTC day on (usage-ledger.ts): for the ClaudePolicies' budgets. */
  async spend(scope: { namespace: string } | { user: string }, from: Date): Promise<SpendTotals> {
    return readSpend(this.pool, scope, from);
  }

  /** The ledger summed (usage-ledger.ts): for the ClaudePolicies' status. */
  async usage(query: UsageQuery): Promise<UsageRow[]> {
    return sumUsage(this.pool, query);
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}
