// Copies the event streams of running tasks (or sessions: the keys and the store
// come from a CopyTarget, session/session-copier.ts) into Postgres as the events
// come, so Postgres, not Redis, is the record: a Redis that restarts empty, or a
// stream past its length cap, loses nothing that was copied.
//
// One blocking connection loops `XREAD BLOCK` over the streams of every followed
// task (like the API's StreamReader). Each batch of a stream is inserted in one
// statement (idempotent by seq); only then does the copier move its cursor, SET
// the task's persisted key to the highest seq it stored (the runner keeps every
// event until it sees it there, and writes again what the stream lost) and trim
// the stream, never past what it copied. The persisted key is the ack.
//
// After any reconnect the stream may be a new, empty one (Redis restarted): the
// cursors start again from the beginning (inserts skip what is stored) and the
// persisted keys are written again, so a runner that starts now numbers on after
// what Postgres holds.
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import {
  defaultEventStreamMaxLength, parseStreamEntry, seqOfEntry, workloadStreamKeys, type WorkloadKind,
} from '../../packages/contracts/src/event-stream.ts';
import type { TaskEventRecord } from '../../packages/contracts/src/task-events.ts';
import { backoffDelay } from '../../packages/platform/src/backoff.ts';
import { redisReady } from '../../packages/platform/src/redis-ready.ts';
import type { TaskStore } from '../../packages/database/src/task-store.ts';

export interface FollowedTask {
  namespace: string;
  name: string;
  uid: string;
}

/** What one kind of followed resource (task, session) copies to and from: its keys and its store. */
export interface CopyTarget {
  /** Whose keys (workloadStreamKeys): the stream and the key its persisted seq goes to. */
  kind: WorkloadKind;
  maxEventSeq(uid: string): Promise<number>;
  /** Stores one batch, idempotent by seq; `redis` is the copier's connection, for what must be stored with it. */
  recordEvents(followed: FollowedTask, events: TaskEventRecord[], redis: Redis): Promise<void>;
  /** After the persisted key covers the batch (the runner may acknowledge what it holds now). */
  afterPersisted?(followed: FollowedTask, events: TaskEventRecord[], redis: Redis): Promise<void>;
}

/** Tasks: claude_task_events through the TaskStore, the task's keys. */
export function taskCopyTarget(store: Pick<TaskStore, 'recordEvents' | 'maxEventSeq'>): CopyTarget {
  return {
    kind: 'task',
    maxEventSeq: (uid) => store.maxEventSeq(uid),
    recordEvents: (followed, events) => store.recordEvents(followed.uid, events),
  };
}

export interface EventCopierOptions extends EventCopierCommonOptions {
  /** Tasks' events: taskCopyTarget(store). One of store and target. */
  store?: Pick<TaskStore, 'recordEvents' | 'maxEventSeq'>;
  target?: CopyTarget;
}

interface EventCopierCommonOptions {
  redisUrl: string;
  logger: Logger;
  /** Redis' client name for the copier's connection. */
  connectionName?: string;
  /** Past this many entries a stream is trimmed, but only of what is in Postgres. */
  maxLength?: number;
  /** How long one XREAD blocks: the longest a newly followed task waits to be read. */
  blockMs?: number;
  /** Entries per stream per XREAD. */
  count?: number;
  /** How long a persisted key outlives the last copy (a task that is never finalized leaves no key behind for ever). */
  persistedKeyTtlSeconds?: number;
  onCopied?: (events: number) => void;
  /** Each batch once it is stored: for what the operator learns from a running task's events (a 429, rate-limits.ts). */
  onEvents?: (followed: FollowedTask, events: TaskEventRecord[]) => void;
  /** After a reconnect, before the persisted keys are written again: e.g. the runners' Redis users, which a restarted Redis has lost. */
  onReconnect?: (tasks: FollowedTask[]) => Promise<void>;
}

interface Followed extends FollowedTask {
  key: string;
  persistedKey: string;
  /** The id XREAD continues after. */
  cursor: string;
  /** The highest seq in Postgres; undefined until read from it. */
  persisted: number | undefined;
  copiedSinceTrim: number;
}

const trimCheckEvery = 500;
const retryBackoff = { initialMs: 200, maxMs: 5_000 };

export class EventCopier {
  private readonly options: Required<Omit<EventCopierCommonOptions, 'onCopied' | 'onReconnect' | 'onEvents'>>
    & Pick<EventCopierCommonOptions, 'onCopied' | 'onReconnect' | 'onEvents'>;
  private readonly target: CopyTarget;
  private readonly redis: Redis;
  private readonly followed = new Map<string, Followed>();
  private wakeLoop: (() => void) | undefined;
  private stopped = false;
  private connectedOnce = false;
  private readonly loopDone: Promise<void>;
  private closing: Promise<void> | undefined;

  constructor(options: EventCopierOptions) {
    const { store, target, ...common } = options;
    if (!target && !store) throw new Error('EventCopier needs a store (tasks) or a target');
    this.target = target ?? taskCopyTarget(store!);
    this.options = {
      maxLength: defaultEventStreamMaxLength,
      blockMs: 1_000,
      count: 500,
      persistedKeyTtlSeconds: 7 * 24 * 3600,
      connectionName: 'claude-operator-event-copier',
      ...common,
    };
    // Commands fail at once while disconnected, and one in flight fails when the
    // connection drops: the loop retries, and close() never waits on a command
    // stuck in ioredis's own queue (disconnect() leaves those pending).
    this.redis = new Redis(options.redisUrl, {
      enableOfflineQueue: false, autoResendUnfulfilledCommands: false, maxRetriesPerRequest: 0,
      connectionName: this.options.connectionName,
    });
    this.redis.on('error', (error: Error) => this.options.logger.debug({ err: error.message }, 'event copier: redis connection error'));
    this.redis.on('ready', () => {
      if (this.connectedOnce) this.restartFromTheTop();
      this.connectedOnce = true;
    });
    this.loopDone = this.loop();
  }

  /** Starts copying the task's stream; idempotent. */
  follow(task: FollowedTask): void {
    if (this.stopped || this.followed.has(task.uid)) return;
    const { events: stream, persisted } = workloadStreamKeys(this.target.kind, task.namespace, task.name);
    this.followed.set(task.uid, {
      namespace: task.namespace, name: task.name, uid: task.uid, key: stream, persistedKey: persisted,
      cursor: '0', persisted: undefined, copiedSinceTrim: 0,
    });
    this.wakeLoop?.();
  }

  /** Stops copying (the task is finalized: its whole stream was copied by then). */
  unfollow(uid: string): void {
    this.followed.delete(uid);
  }

  get followedCount(): number {
    return this.followed.size;
  }

  /** Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.stopped = true;
      this.wakeLoop?.();
      this.redis.disconnect();
      await this.loopDone;
    })();
    return this.closing;
  }

  private restartFromTheTop(): void {
    this.options.logger.info({ followed: this.followed.size }, 'event copier reconnected: reading every followed stream from its start');
    for (const task of this.followed.values()) task.cursor = '0';
    void this.restore();
  }

  private async restore(): Promise<void> {
    const tasks = [...this.followed.values()];
    await this.options.onReconnect?.(tasks.map(({ namespace, name, uid }) => ({ namespace, name, uid })))
      .catch((error: unknown) => this.options.logger.warn({ err: (error as Error).message }, 'event copier: reconnect hook failed'));
    for (const task of tasks) {
      if (task.persisted) await this.setPersisted(task).catch(() => undefined);
    }
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      if (this.followed.size === 0) {
        await new Promise<void>((resolve) => (this.wakeLoop = resolve));
        this.wakeLoop = undefined;
        continue;
      }
      try {
        await this.pass();
        failures = 0;
      } catch (error) {
        if (this.stopped) return;
        failures++;
        const delayMs = backoffDelay(failures, retryBackoff);
        const log = failures === 1 || failures % 10 === 0 ? 'warn' : 'debug';
        this.options.logger[log]({ err: (error as Error).message, failures, delayMs }, 'event copier: a pass failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
    }
  }

  private async pass(): Promise<void> {
    await this.connected();
    const tasks = [...this.followed.values()];
    for (const task of tasks) task.persisted ??= await this.target.maxEventSeq(task.uid);
    const reply = await this.redis.xread('COUNT', this.options.count, 'BLOCK', this.options.blockMs, 'STREAMS',
      ...tasks.map((task) => task.key), ...tasks.map((task) => task.cursor)) as Array<[string, Array<[string, string[]]>]> | null;
    if (!reply || this.stopped) return;
    const byKey = new Map(tasks.map((task) => [task.key, task]));
    const failed: string[] = [];
    let firstError: unknown;
    for (const [key, entries] of reply) {
      const task = byKey.get(key);
      // Unfollowed meanwhile, or followed again under a new uid: the next pass reads it.
      if (!task || this.followed.get(task.uid) !== task) continue;
      await this.copy(task, entries).catch((error: unknown) => {
        failed.push(`${task.namespace}/${task.name}`);
        firstError ??= error;
      });
    }
    // Postgres down, or a task's record not written yet: the cursors stay, and the loop backs off before the
    // next pass, which would otherwise read the same entries at once and fail again, thousands of times a second.
    if (failed.length) {
      throw new Error(`cannot store the events of ${failed.slice(0, 5).join(', ')}${failed.length > 5 ? ` and ${failed.length - 5} more` : ''}: ${(firstError as Error).message}`,
        { cause: firstError });
    }
  }

  /** Waits (a while) for the connection, so a start or a reconnect is not reported as a failure. */
  private async connected(): Promise<void> {
    await redisReady(this.redis, 5_000);
  }

  private async copy(task: Followed, entries: Array<[string, string[]]>): Promise<void> {
    const events: TaskEventRecord[] = [];
    for (const [id, fields] of entries) {
      try {
        const entry = parseStreamEntry(id, fields);
        events.push({
          seq: entry.seq, type: entry.type, data: entry.data, time: entry.time || new Date().toISOString(),
          ...(entry.messageId ? { messageId: entry.messageId } : {}),
        });
      } catch {
        // Not written by a runner: it has no place in the history.
      }
    }
    const identity = { namespace: task.namespace, name: task.name, uid: task.uid };
    if (events.length > 0) {
      await this.target.recordEvents(identity, events, this.redis);
      this.options.onEvents?.(identity, events);
    }
    const last = entries.at(-1);
    if (last) task.cursor = last[0];
    const highest = Math.max(task.persisted ?? 0, ...events.map((event) => event.seq));
    if (highest > (task.persisted ?? 0)) {
      task.persisted = highest;
      await this.setPersisted(task);
    }
    if (events.length > 0) await this.target.afterPersisted?.(identity, events, this.redis);
    this.options.onCopied?.(events.length);
    task.copiedSinceTrim += entries.length;
    // A cap below the check interval would otherwise hold several times the cap between checks.
    if (task.copiedSinceTrim >= Math.min(trimCheckEvery, this.options.maxLength)) {
      task.copiedSinceTrim = 0;
      await this.trim(task);
    }
  }

  private async setPersisted(task: Followed): Promise<void> {
    await this.redis.set(task.persistedKey, String(task.persisted ?? 0), 'EX', this.options.persistedKeyTtlSeconds);
  }

  /** Keeps the stream near maxLength entries, removing only entries at or before the cursor (copied). */
  private async trim(task: Followed): Promise<void> {
    const length = await this.redis.xlen(task.key);
    if (length <= this.options.maxLength) return;
    const [first] = await this.redis.xrange(task.key, '-', '+', 'COUNT', 1);
    const firstSeq = first ? seqOfEntry(first[1]) : undefined;
    const copiedInStream = firstSeq === undefined ? 0 : (task.persisted ?? 0) - firstSeq + 1;
    if (length - this.options.maxLength <= copiedInStream) {
      await this.redis.xtrim(task.key, 'MAXLEN', '~', this.options.maxLength);
    } else {
      // More is unread than the cap allows: drop only what was copied.
      await this.redis.xtrim(task.key, 'MINID', '~', task.cursor);
    }
  }
}
