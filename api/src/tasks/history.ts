// A task's history as the API reads it, paginated by seq. The operator copies
// the task's events into Postgres while it runs, in order and without gaps from
// seq 1, so Postgres holds a prefix of the history and the task's Redis stream
// the newest part (it may have lost or trimmed older entries). A page is read
// from Postgres first (seq > after) and goes on from the Redis stream after the
// last seq Postgres gave: complete whether or not the task has ended and whether
// or not Redis still has its events. Once the task is finalized (every event in
// Postgres) Redis is not read at all.
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { parseStreamEntry, workloadStreamKeys } from '../../../packages/contracts/src/event-stream.ts';
import type { TaskEventRecord } from '../../../packages/contracts/src/task-events.ts';
import { readEventLog, readTaskRecord, type TaskRecord } from '../../../packages/database/src/task-records.ts';

export interface TaskKey { namespace: string; name: string; uid: string }

export interface StoredTask {
  uid: string;
  phase: string;
  status: Record<string, unknown>;
  result: string | null;
  finalized: boolean;
}

/**
 * Where a page's events came from. An empty page says where the next ones will
 * come from: `postgres` once the task is finalized, `redis` while it runs.
 */
export type EventSource = 'postgres' | 'redis' | 'postgres+redis';

export interface EventPage {
  items: TaskEventRecord[];
  source: EventSource;
}

export interface TaskHistory {
  /** The stored record of a task, by uid. */
  record(uid: string): Promise<StoredTask | undefined>;
  /** The newest stored record under this name (for tasks already deleted from Kubernetes). */
  latestByName(namespace: string, name: string): Promise<StoredTask | undefined>;
  events(task: TaskKey, options: { after: number; limit: number }): Promise<EventPage>;
  /** The newest event in the task's Redis stream (what the runner wrote last). */
  lastEvent(namespace: string, name: string): Promise<TaskEventRecord | undefined>;
  /** Every event (for the result's files changed), at most `max`. */
  allEvents(task: TaskKey, max: number): Promise<TaskEventRecord[]>;
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
    return storedOf(await readTaskRecord(this.pool, { uid }));
  }

  async latestByName(namespace: string, name: string): Promise<StoredTask | undefined> {
    return storedOf(await readTaskRecord(this.pool, { namespace, name }));
  }

  async events(task: TaskKey, { after, limit }: { after: number; limit: number }): Promise<EventPage> {
    const [stored, copied] = await Promise.all([this.record(task.uid), this.copiedEvents(task.uid, after, limit)]);
    if (copied.length === limit || stored?.finalized) return { items: copied, source: 'postgres' };
    const live = await this.streamEvents(task, copied.at(-1)?.seq ?? after, limit - copied.length);
    const source: EventSource = copied.length === 0 ? 'redis' : live.length === 0 ? 'postgres' : 'postgres+redis';
    return { items: [...copied, ...live], source };
  }

  /** What the operator has copied to Postgres: seq > after, in order. */
  private async copiedEvents(uid: string, after: number, limit: number): Promise<TaskEventRecord[]> {
    return readEventLog(this.pool, { uid }, { after, limit });
  }

  async allEvents(task: TaskKey, max: number): Promise<TaskEventRecord[]> {
    return (await this.events(task, { after: 0, limit: max })).items;
  }

  async lastEvent(namespace: string, name: string): Promise<TaskEventRecord | undefined> {
    const [entry] = await this.redis.xrevrange(workloadStreamKeys('task', namespace, name).events, '+', '-', 'COUNT', 1);
    if (!entry) return undefined;
    const stored = parseStreamEntry(entry[0], entry[1]);
    return { seq: stored.seq, type: stored.type, time: stored.time, data: stored.data };
  }

  /** The stream's entries with seq > after, in order (seqs grow with entry ids). */
  private async streamEvents(task: TaskKey, after: number, limit: number): Promise<TaskEventRecord[]> {
    const key = workloadStreamKeys('task', task.namespace, task.name).events;
    const items: TaskEventRecord[] = [];
    let start = '-';
    for (;;) {
      const entries = await this.redis.xrange(key, start, '+', 'COUNT', redisChunk);
      for (const [id, fields] of entries) {
        start = `(${id}`;
        let entry;
        try { entry = parseStreamEntry(id, fields); } catch { continue; }
        if (entry.seq <= after) continue;
        items.push({ seq: entry.seq, type: entry.type, time: entry.time, data: entry.data });
        if (items.length >= limit) return items;
      }
      if (entries.length < redisChunk) return items;
    }
  }
}

function storedOf(record: TaskRecord | undefined): StoredTask | undefined {
  return record && { uid: record.uid, phase: record.phase, status: record.status, result: record.result, finalized: record.finalizedAt !== null };
}
