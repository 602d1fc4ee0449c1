// A task's history as the API reads it: Postgres once the operator has finalized
// the task (every event stored), the task's Redis stream before that (the live
// record while it runs). Paginated by seq.
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { parseStreamEntry, taskEventStreamKey } from '../../../runner/src/event-stream.ts';

export interface HistoryEvent {
  seq: number;
  type: string;
  time: string;
  data: unknown;
}

export interface TaskKey { namespace: string; name: string; uid: string }

export interface StoredTask {
  uid: string;
  phase: string;
  status: Record<string, unknown>;
  result: string | null;
  finalized: boolean;
}

export interface TaskHistory {
  /** The stored record of a task, by uid. */
  record(uid: string): Promise<StoredTask | undefined>;
  /** The newest stored record under this name (for tasks already deleted from Kubernetes). */
  latestByName(namespace: string, name: string): Promise<StoredTask | undefined>;
  events(task: TaskKey, options: { after: number; limit: number }): Promise<{ items: HistoryEvent[]; source: 'postgres' | 'redis' }>;
  /** Every event (for the result's files changed), at most `max`. */
  allEvents(task: TaskKey, max: number): Promise<HistoryEvent[]>;
}

const redisChunk = 500;

export class PgRedisHistory implements TaskHistory {
  private readonly pool: pg.Pool;
  private readonly redis: Redis;

  constructor(pool: pg.Pool, redis: Redis) {
    this.pool = pool;
    this.redis = redis;
  }

  async record(uid: string): Promise<StoredTask | undefined> {
    if (!/^[0-9a-f-]{36}$/i.test(uid)) return undefined;
    const { rows } = await this.pool.query('SELECT uid, phase, status, result, finalized_at FROM claude_tasks WHERE uid = $1', [uid]);
    return rows[0] ? storedOf(rows[0]) : undefined;
  }

  async latestByName(namespace: string, name: string): Promise<StoredTask | undefined> {
    const { rows } = await this.pool.query(
      'SELECT uid, phase, status, result, finalized_at FROM claude_tasks WHERE namespace = $1 AND name = $2 ORDER BY created_at DESC LIMIT 1',
      [namespace, name]);
    return rows[0] ? storedOf(rows[0]) : undefined;
  }

  async events(task: TaskKey, { after, limit }: { after: number; limit: number }) {
    const stored = await this.record(task.uid);
    if (stored?.finalized) {
      const { rows } = await this.pool.query(
        'SELECT seq, type, data, time FROM claude_task_events WHERE task_uid = $1 AND seq > $2 ORDER BY seq LIMIT $3', [task.uid, after, limit]);
      return { items: rows.map((row) => ({ seq: Number(row.seq), type: row.type, data: row.data, time: new Date(row.time).toISOString() })), source: 'postgres' as const };
    }
    return { items: await this.streamEvents(task, after, limit), source: 'redis' as const };
  }

  async allEvents(task: TaskKey, max: number): Promise<HistoryEvent[]> {
    return (await this.events(task, { after: 0, limit: max })).items;
  }

  /** The stream's entries with seq > after, in order (seqs grow with entry ids). */
  private async streamEvents(task: TaskKey, after: number, limit: number): Promise<HistoryEvent[]> {
    const key = taskEventStreamKey(task.namespace, task.name);
    const items: HistoryEvent[] = [];
    let start = '-';
    for (;;) {
      const entries = await this.redis.xrange(key, start, '+', 'COUNT', redisChunk);
      for (const [id, fields] of entries) {
        start = `(${id}`;
        let entry;
        try { entry = parseStreamEntry(id, fields); } catch { continue; }
        if (entry.seq <= after) continue;
        items.push({ seq: entry.seq, type: entry.type, time: entry.time, data: entry.event });
        if (items.length >= limit) return items;
      }
      if (entries.length < redisChunk) return items;
    }
  }
}

function storedOf(row: { uid: string; phase: string; status: Record<string, unknown> | null; result: string | null; finalized_at: Date | null }): StoredTask {
  return { uid: row.uid, phase: row.phase, status: row.status ?? {}, result: row.result, finalized: row.finalized_at !== null };
}
