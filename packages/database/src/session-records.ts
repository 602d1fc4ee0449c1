// A ClaudeSession's history in Postgres, read and written the one way the API
// and the operator both use: the session's record, its messages with their
// answers, its events (one gap-free seq across turns and pods) and the CLI's
// transcript. Every write is idempotent: a copier or a client that retries
// writes nothing twice.
import type pg from 'pg';
import type { ClaudeSession, ClaudeSessionStatus } from '../../../crds/src/claude-session.ts';
import { createdByAnnotation } from '../../../crds/src/claude-task.ts';
import type { TaskEventRecord, TaskUsage } from '../../contracts/src/task-events.ts';
import { RunnerTurnCompletedEventSchema } from '../../contracts/src/task-events.ts';
import { inTransaction } from './pool.ts';
import type { Queryable } from './task-records.ts';
import { recordSessionTurnUsageSql } from './usage-ledger.ts';

export type MessageState = 'accepted' | 'answered' | 'interrupted' | 'failed';

export interface SessionMessage {
  messageId: string;
  /** Increases in the order the API accepted messages (a cursor for pages, not a count). */
  position: number;
  text: string;
  acceptedAt: string;
  requestedBy: string | null;
  state: MessageState;
  result: string | null;
  stopReason: string | null;
  error: string | null;
  usage: TaskUsage | null;
  /** The seq range of the turn's events, once answered. */
  firstSeq: number | null;
  lastSeq: number | null;
  answeredAt: string | null;
}

export interface SessionRecord {
  uid: string;
  namespace: string;
  name: string;
  phase: string;
  status: ClaudeSessionStatus;
  finalizedAt: Date | null;
}

export interface SessionTotals {
  /** Messages answered (not interrupted or failed). */
  messages: number;
  /** Messages accepted that have no answer yet. */
  waiting: number;
  turns: number;
  usage: TaskUsage;
  lastActivityTime: string | null;
}

export interface SessionTranscript {
  claudeSessionId: string;
  content: string;
  throughSeq: number;
}

/** Creates the session's record if there is none (the API may accept a message before the operator has written it). */
export async function ensureSessionRecord(db: Queryable, session: ClaudeSession): Promise<void> {
  await db.query(
    `INSERT INTO claude_sessions (uid, namespace, name, spec, status, phase, created_at, created_by)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (uid) DO UPDATE SET created_by = COALESCE(claude_sessions.created_by, EXCLUDED.created_by)`,
    [session.metadata.uid, session.metadata.namespace, session.metadata.name, JSON.stringify(session.spec),
      JSON.stringify(session.status ?? {}), session.status?.phase ?? 'Pending', new Date(session.metadata.creationTimestamp ?? Date.now()),
      creatorOf(session)],
  );
}

export async function writeSessionStatus(db: Queryable, session: ClaudeSession, status: ClaudeSessionStatus): Promise<void> {
  await db.query(
    `INSERT INTO claude_sessions (uid, namespace, name, spec, status, phase, created_at, created_by)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (uid) DO UPDATE SET spec = EXCLUDED.spec, status = EXCLUDED.status, phase = EXCLUDED.phase,
       created_by = COALESCE(claude_sessions.created_by, EXCLUDED.created_by), updated_at = now()`,
    [session.metadata.uid, session.metadata.namespace, session.metadata.name, JSON.stringify(session.spec),
      JSON.stringify(status), status.phase ?? 'Pending', new Date(session.metadata.creationTimestamp ?? Date.now()),
      creatorOf(session)],
  );
}

const creatorOf = (session: ClaudeSession): string | null => session.metadata.annotations?.[createdByAnnotation] ?? null;

const uidPattern = /^[0-9a-f-]{36}$/i;

/** By uid, or the newest record under namespace/name. */
export async function readSessionRecord(db: Queryable, session: { uid: string } | { namespace: string; name: string }): Promise<SessionRecord | undefined> {
  if ('uid' in session && !uidPattern.test(session.uid)) return undefined;
  const { rows } = 'uid' in session
    ? await db.query('SELECT uid, namespace, name, phase, status, finalized_at FROM claude_sessions WHERE uid = $1', [session.uid])
    : await db.query('SELECT uid, namespace, name, phase, status, finalized_at FROM claude_sessions WHERE namespace = $1 AND name = $2 ORDER BY created_at DESC LIMIT 1',
      [session.namespace, session.name]);
  const row = rows[0] as { uid: string; namespace: string; name: string; phase: string; status: ClaudeSessionStatus | null; finalized_at: Date | null } | undefined;
  return row && { uid: row.uid, namespace: row.namespace, name: row.name, phase: row.phase, status: row.status ?? {}, finalizedAt: row.finalized_at };
}

export interface AcceptedMessage {
  message: SessionMessage;
  /** False when the message (or one with the same Idempotency-Key) was accepted before: nothing was written. */
  created: boolean;
}

/** Stores a message as accepted; idempotent by messageId and by idempotencyKey. */
export async function acceptMessage(db: Queryable, input: {
  sessionUid: string; messageId: string; text: string; acceptedAt: string; idempotencyKey?: string; requestedBy?: string;
}): Promise<AcceptedMessage> {
  const { rows } = await db.query(
    `INSERT INTO claude_session_messages (session_uid, message_id, text, accepted_at, idempotency_key, requested_by)
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING ${messageColumns}`,
    [input.sessionUid, input.messageId, input.text, input.acceptedAt, input.idempotencyKey ?? null, input.requestedBy ?? null],
  );
  if (rows[0]) return { message: messageOf(rows[0]), created: true };
  const existing = await readMessage(db, input.sessionUid, input.messageId);
  if (!existing) throw new Error(`message ${input.messageId} was neither inserted nor found`);
  return { message: existing, created: false };
}

export async function readMessage(db: Queryable, sessionUid: string, messageId: string): Promise<SessionMessage | undefined> {
  const { rows } = await db.query(`SELECT ${messageColumns} FROM claude_session_messages WHERE session_uid = $1 AND message_id = $2`,
    [sessionUid, messageId]);
  return rows[0] ? messageOf(rows[0]) : undefined;
}

/** The conversation in the order it was accepted: messages with position > after, at most limit. */
export async function readMessages(db: Queryable, sessionUid: string, page: { after?: number; limit?: number } = {}): Promise<SessionMessage[]> {
  const { rows } = await db.query(
    `SELECT ${messageColumns} FROM claude_session_messages WHERE session_uid = $1 AND position > $2 ORDER BY position LIMIT $3`,
    [sessionUid, page.after ?? 0, page.limit ?? null],
  );
  return rows.map(messageOf);
}

/** Messages accepted and not answered, oldest first: what the inbox must still hold. */
export async function readWaitingMessages(db: Queryable, sessionUid: string): Promise<SessionMessage[]> {
  const { rows } = await db.query(
    `SELECT ${messageColumns} FROM claude_session_messages WHERE session_uid = $1 AND state = 'accepted' ORDER BY position`, [sessionUid]);
  return rows.map(messageOf);
}

/** Fails every message still waiting, with this error (the session closed before a turn could answer
 * them); an answer stored first is kept. Returns the ids failed, oldest first. */
export async function failWaitingMessages(db: Queryable, sessionUid: string, error: string, at: Date): Promise<string[]> {
  const { rows } = await db.query<{ message_id: string; position: string }>(
    `UPDATE claude_session_messages SET state = 'failed', error = $2, answered_at = $3
     WHERE session_uid = $1 AND state = 'accepted' RETURNING message_id, position`, [sessionUid, error, at]);
  return rows.sort((a, b) => Number(a.position) - Number(b.position)).map((row) => row.message_id);
}

/**
 * Stores events (those already stored are left) and, in the same transaction, the
 * answer of every runner.turn_completed among them and the transcript that came
 * with the batch: an answer is never in Postgres without its events, nor the
 * events without the answer.
 */
export async function writeSessionEvents(db: pg.Pool, sessionUid: string, events: TaskEventRecord[],
  transcript?: SessionTranscript): Promise<void> {
  await inTransaction(db, async (client) => {
    const batchSize = 500;
    for (let start = 0; start < events.length; start += batchSize) {
      const batch = events.slice(start, start + batchSize).map((event) => ({ ...event, message_id: event.messageId ?? null }));
      await client.query(
        `INSERT INTO claude_session_events (session_uid, seq, message_id, type, data, time)
         SELECT $1, e.seq, e.message_id, e.type, e.data, e.time
         FROM jsonb_to_recordset($2::jsonb) AS e(seq bigint, message_id text, type text, data jsonb, time timestamptz)
         ON CONFLICT (session_uid, seq) DO NOTHING`,
        [sessionUid, JSON.stringify(batch)],
      );
    }
    for (const event of events) {
      if (event.type !== 'runner.turn_completed') continue;
      const parsed = RunnerTurnCompletedEventSchema.safeParse(event.data);
      if (!parsed.success) continue;
      const answer = parsed.data;
      // Only the first answer counts: a message is answered once.
      await client.query(
        `UPDATE claude_session_messages SET state = $3, result = $4, stop_reason = $5, error = $6, usage = $7,
           first_seq = $8, last_seq = $9, answered_at = $10
         WHERE session_uid = $1 AND message_id = $2 AND state = 'accepted'`,
        [sessionUid, answer.messageId, answer.outcome, answer.result, answer.stopReason, answer.message,
          answer.usage === null ? null : JSON.stringify(answer.usage), answer.firstSeq, event.seq, event.time],
      );
      if (answer.usage) {
        await client.query(recordSessionTurnUsageSql, [sessionUid, answer.messageId, answer.model, JSON.stringify(answer.usage), event.time]);
      }
    }
    if (transcript) {
      await client.query(
        `INSERT INTO claude_session_transcripts (session_uid, claude_session_id, content, through_seq) VALUES ($1, $2, $3, $4)
         ON CONFLICT (session_uid) DO UPDATE SET claude_session_id = EXCLUDED.claude_session_id, content = EXCLUDED.content,
           through_seq = EXCLUDED.through_seq, updated_at = now()
         WHERE claude_session_transcripts.through_seq <= EXCLUDED.through_seq`,
        [sessionUid, transcript.claudeSessionId, transcript.content, transcript.throughSeq],
      );
    }
  });
}

export async function maxSessionEventSeq(db: Queryable, sessionUid: string): Promise<number> {
  const { rows } = await db.query<{ max: string | null }>('SELECT max(seq) AS max FROM claude_session_events WHERE session_uid = $1', [sessionUid]);
  return Number(rows[0]?.max ?? 0);
}

/** The session's stored events with after < seq (< before), in seq order, at most limit: a prefix of its history. */
export async function readSessionEvents(db: Queryable, sessionUid: string, range: { after?: number; before?: number; limit?: number } = {}): Promise<TaskEventRecord[]> {
  if (!uidPattern.test(sessionUid)) return [];
  const { rows } = await db.query<SessionEventRow>(
    `SELECT seq, type, data, time, message_id FROM claude_session_events
     WHERE session_uid = $1 AND seq > $2 AND ($3::bigint IS NULL OR seq < $3) ORDER BY seq LIMIT $4`,
    [sessionUid, range.after ?? 0, range.before ?? null, range.limit ?? null],
  );
  return rows.map(sessionEventOf);
}

interface SessionEventRow { seq: string; type: string; data: unknown; time: Date; message_id: string | null }

function sessionEventOf(row: SessionEventRow): TaskEventRecord {
  return {
    seq: Number(row.seq), type: row.type, data: row.data, time: new Date(row.time).toISOString(),
    ...(row.message_id === null ? {} : { messageId: row.message_id }),
  };
}

export async function readTranscript(db: Queryable, sessionUid: string): Promise<SessionTranscript | undefined> {
  const { rows } = await db.query<{ claude_session_id: string; content: string; through_seq: string }>(
    'SELECT claude_session_id, content, through_seq FROM claude_session_transcripts WHERE session_uid = $1', [sessionUid]);
  const row = rows[0];
  return row && { claudeSessionId: row.claude_session_id, content: row.content, throughSeq: Number(row.through_seq) };
}

/** What one reconcile pass reads of a session's history. */
export interface SessionTotalsAndLastEvent {
  totals: SessionTotals;
  /** The session's last stored event of the types asked for (e.g. the runner's lifecycle events), if any. */
  lastEvent: TaskEventRecord | undefined;
}

/**
 * What the status shows (answered messages, turns and usage summed over every
 * answer, the last activity) and the last stored event of one of these types, in
 * one query: the reconciler reads both on every pass.
 */
export async function readSessionTotalsAndLastEvent(db: Queryable, sessionUid: string, types: readonly string[]): Promise<SessionTotalsAndLastEvent> {
  // The aggregate always yields one row; the lateral join adds the event's columns, null when there is none.
  const { rows } = await db.query<TotalsRow & { [K in keyof SessionEventRow]: SessionEventRow[K] | null }>(
    `SELECT totals.*, last.seq, last.type, last.data, last.time, last.message_id
     FROM (SELECT count(*) FILTER (WHERE state = 'answered') AS messages,
                  count(*) FILTER (WHERE state = 'accepted') AS waiting,
                  coalesce(sum((usage->>'turns')::bigint), 0) AS turns,
                  coalesce(sum((usage->>'inputTokens')::bigint), 0) AS input_tokens,
                  coalesce(sum((usage->>'outputTokens')::bigint), 0) AS output_tokens,
                  coalesce(sum((usage->>'cacheReadInputTokens')::bigint), 0) AS cache_read,
                  coalesce(sum((usage->>'cacheCreationInputTokens')::bigint), 0) AS cache_creation,
                  coalesce(sum((usage->>'costUSD')::numeric), 0) AS cost,
                  greatest(max(accepted_at), max(answered_at)) AS last_activity
           FROM claude_session_messages WHERE session_uid = $1) AS totals
     LEFT JOIN LATERAL (SELECT seq, type, data, time, message_id FROM claude_session_events
                        WHERE session_uid = $1 AND type = ANY($2::text[]) ORDER BY seq DESC LIMIT 1) AS last ON true`,
    [sessionUid, types]);
  const row = rows[0]!;
  return { totals: sessionTotalsOf(row), lastEvent: row.seq === null ? undefined : sessionEventOf(row as SessionEventRow) };
}

interface TotalsRow {
  messages: string; waiting: string; turns: string; input_tokens: string; output_tokens: string;
  cache_read: string; cache_creation: string; cost: string | null; last_activity: Date | null;
}

function sessionTotalsOf(row: TotalsRow): SessionTotals {
  const cost = Number(row.cost ?? 0);
  return {
    messages: Number(row.messages), waiting: Number(row.waiting), turns: Number(row.turns),
    usage: {
      inputTokens: Number(row.input_tokens), outputTokens: Number(row.output_tokens),
      cacheReadInputTokens: Number(row.cache_read), cacheCreationInputTokens: Number(row.cache_creation),
      costUSD: cost.toFixed(6).replace(/\.?0+$/, '') || '0', turns: Number(row.turns),
    },
    lastActivityTime: row.last_activity ? new Date(row.last_activity).toISOString() : null,
  };
}

export async function markSessionFinalized(db: Queryable, sessionUid: string): Promise<void> {
  await db.query('UPDATE claude_sessions SET finalized_at = COALESCE(finalized_at, now()) WHERE uid = $1', [sessionUid]);
}

const messageColumns = 'message_id, position, text, accepted_at, requested_by, state, result, stop_reason, error, usage, first_seq, last_seq, answered_at';

function messageOf(row: Record<string, unknown>): SessionMessage {
  const time = (value: unknown) => (value ? new Date(value as string).toISOString() : null);
  const number = (value: unknown) => (value === null || value === undefined ? null : Number(value));
  return {
    messageId: row.message_id as string,
    position: Number(row.position),
    text: row.text as string,
    acceptedAt: time(row.accepted_at)!,
    requestedBy: (row.requested_by as string | null) ?? null,
    state: row.state as MessageState,
    result: (row.result as string | null) ?? null,
    stopReason: (row.stop_reason as string | null) ?? null,
    error: (row.error as string | null) ?? null,
    usage: (row.usage as TaskUsage | null) ?? null,
    firstSeq: number(row.first_seq),
    lastSeq: number(row.last_seq),
    answeredAt: time(row.answered_at),
  };
}
