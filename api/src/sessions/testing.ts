// For the session integration tests, which run no operator and no runner: the
// test plays both. As the runner it reads the session's inbox (XREADGROUP as
// the one consumer of the group, design step 3), writes each turn's events to
// the session's event stream with the messageId field and PUBLISHes the wake
// channel after each; as the operator it copies a turn into Postgres with
// writeSessionEvents (design step 4: that stores the message's answer).
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { inboxConsumer, inboxGroup, parseInboxEntry, sessionInboxKey, type InboxMessage } from '../../../packages/contracts/src/session-stream.ts';
import { parseStreamEntry, workloadStreamKeys } from '../../../packages/contracts/src/event-stream.ts';
import type { TaskEventRecord } from '../../../packages/contracts/src/task-events.ts';
import { writeSessionEvents } from '../../../packages/database/src/session-records.ts';

export interface Turn { events: TaskEventRecord[]; completed: TaskEventRecord }

export class FakeSessionRunner {
  private readonly redis: Redis;
  private readonly pool: pg.Pool;
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  private seq = 0;
  /** The last seq copied to Postgres. */
  private copied = 0;

  constructor(options: { redis: Redis; pool: pg.Pool; namespace: string; name: string; uid: string }) {
    this.redis = options.redis;
    this.pool = options.pool;
    this.namespace = options.namespace;
    this.name = options.name;
    this.uid = options.uid;
  }

  get inbox(): string {
    return sessionInboxKey(this.namespace, this.name);
  }

  get events(): string {
    return workloadStreamKeys('session', this.namespace, this.name).events;
  }

  /** The next messages of the inbox (`>`: never handed out before), waiting up to blockMs for one. */
  async take(count: number, blockMs: number): Promise<Array<InboxMessage & { entryId: string }>> {
    await this.redis.xgroup('CREATE', this.inbox, inboxGroup, '0', 'MKSTREAM').catch((error: Error) => {
      if (!error.message.includes('BUSYGROUP')) throw error;
    });
    const reply = await this.redis.xreadgroup('GROUP', inboxGroup, inboxConsumer, 'COUNT', count, 'BLOCK', blockMs, 'STREAMS', this.inbox, '>') as
      Array<[string, Array<[string, string[]]>]> | null;
    return (reply?.[0]?.[1] ?? []).map(([entryId, fields]) => ({ ...parseInboxEntry(fields)!, entryId }));
  }

  /** One event on the session's stream, as the runner writes it. */
  async publish(data: { type: string; [key: string]: unknown }, messageId?: string): Promise<TaskEventRecord> {
    const record: TaskEventRecord = { seq: ++this.seq, type: data.type, data, time: new Date().toISOString(), ...(messageId ? { messageId } : {}) };
    await this.redis.xadd(this.events, '*', 'seq', String(record.seq), 'type', record.type, 'data', JSON.stringify(data), 'time', record.time,
      ...(messageId ? ['messageId', messageId] : []));
    await this.redis.publish(workloadStreamKeys('session', this.namespace, this.name).wake, String(record.seq));
    return record;
  }

  /** A turn to its runner.turn_completed, in the stream only (the operator has not copied it yet). */
  async runTurn(message: InboxMessage, options: { result?: string; outcome?: 'answered' | 'interrupted' | 'failed'; steps?: number } = {}): Promise<Turn> {
    const { outcome = 'answered', steps = 2 } = options;
    const events = [await this.publish({ type: 'runner.turn_started', messageId: message.messageId, delivery: 1, textLength: message.text.length }, message.messageId)];
    for (let i = 0; i < steps; i++) {
      events.push(await this.publish({ type: 'assistant', message: { content: [{ type: 'text', text: `step ${i}` }] } }, message.messageId));
    }
    const completed = await this.publish({
      type: 'runner.turn_completed', messageId: message.messageId, outcome,
      result: outcome === 'answered' ? (options.result ?? `answer to ${message.text}`) : null,
      stopReason: outcome === 'interrupted' ? 'interrupted' : 'success', message: outcome === 'failed' ? 'boom' : null,
      usage: { inputTokens: 10, outputTokens: 5, cacheReadInputTokens: 0, cacheCreationInputTokens: 0, costUSD: '0.001', turns: 1 },
      sessionId: this.uid, model: 'claude-test', firstSeq: events[0]!.seq,
    }, message.messageId);
    events.push(completed);
    return { events, completed };
  }

  /** What the operator's copier does: the stream's events it has not copied yet into Postgres, in order (with the answers among them). */
  async copy(): Promise<number> {
    const after = this.copied;
    const entries = await this.redis.xrange(this.events, '-', '+');
    const records = entries.map(([id, fields]) => {
      const { seq, type, data, time, messageId } = parseStreamEntry(id, fields);
      return { seq, type, data, time, ...(messageId ? { messageId } : {}) };
    }).filter((record) => record.seq > after);
    await writeSessionEvents(this.pool, this.uid, records);
    this.copied = records.at(-1)?.seq ?? after;
    return this.copied;
  }

  /** A message taken, answered, copied and acknowledged. */
  async answer(message: InboxMessage & { entryId: string }, options: Parameters<FakeSessionRunner['runTurn']>[1] = {}): Promise<Turn> {
    const turn = await this.runTurn(message, options);
    await this.copy();
    await this.redis.xack(this.inbox, inboxGroup, message.entryId);
    return turn;
  }
}
