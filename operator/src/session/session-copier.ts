// What the EventCopier does for a ClaudeSession (session-stream.ts): copies the
// session's stream into claude_session_events with each entry's messageId; a
// batch with a runner.turn_completed carries the transcript the runner SET just
// before it, stored in the same transaction (writeSessionEvents), so Postgres
// never has an answer without the context that produced it. Then the answered
// hash gets messageId -> seq (a message read again is acknowledged without a
// second turn), before the persisted key covers the batch; after it, the session
// is queued so its status follows the turn.
import type pg from 'pg';
import type { Redis } from 'ioredis';
import { sessionAnsweredKey, sessionTranscriptKey } from '../../../packages/contracts/src/session-stream.ts';
import { RunnerTurnCompletedEventSchema, type TaskEventRecord } from '../../../packages/contracts/src/task-events.ts';
import { maxSessionEventSeq, writeSessionEvents, type SessionTranscript } from '../../../packages/database/src/session-records.ts';
import type { CopyTarget, FollowedTask } from '../event-copier.ts';

/** The events after which a session's status may have changed. */
export const sessionStatusEvents: ReadonlySet<string> = new Set([
  'runner.started', 'runner.turn_started', 'runner.turn_completed', 'runner.session_ended',
]);

export interface SessionCopyTargetOptions {
  db: pg.Pool;
  /** A batch held an event that changes the session's status: queue it. */
  onStatusEvent?: (session: FollowedTask) => void;
}

export function sessionCopyTarget(options: SessionCopyTargetOptions): CopyTarget {
  return {
    kind: 'session',
    maxEventSeq: (uid) => maxSessionEventSeq(options.db, uid),
    recordEvents: async (session, events, redis) => {
      await writeSessionEvents(options.db, session.uid, events, await transcriptFor(session, events, redis));
      // Before the persisted key moves: a runner that sees the key may acknowledge and
      // die before XACK; the next one then finds the message answered, never runs it twice.
      const answered = completedTurns(events).flatMap(({ messageId, seq }) => [messageId, String(seq)]);
      if (answered.length > 0) await redis.hset(sessionAnsweredKey(session.namespace, session.name), ...answered);
    },
    afterPersisted: async (session, events) => {
      if (events.some((event) => sessionStatusEvents.has(event.type))) options.onStatusEvent?.(session);
    },
  };
}

function completedTurns(events: TaskEventRecord[]): Array<{ messageId: string; seq: number; sessionId: string | null }> {
  return events.flatMap((event) => {
    if (event.type !== 'runner.turn_completed') return [];
    const parsed = RunnerTurnCompletedEventSchema.safeParse(event.data);
    return parsed.success ? [{ messageId: parsed.data.messageId, seq: event.seq, sessionId: parsed.data.sessionId }] : [];
  });
}

/** The transcript key as the runner left it with the batch's last completed turn; none when the batch completes none (or Redis lost it). */
async function transcriptFor(session: FollowedTask, events: TaskEventRecord[], redis: Redis): Promise<SessionTranscript | undefined> {
  const last = completedTurns(events).at(-1);
  if (!last) return undefined;
  const content = await redis.get(sessionTranscriptKey(session.namespace, session.name));
  if (content === null) return undefined;
  return { claudeSessionId: last.sessionId ?? session.uid, content, throughSeq: last.seq };
}
