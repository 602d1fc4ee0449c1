// Waiting for a message's answer (POST …/messages without ?async). The answer is
// in Postgres once the operator has copied the turn's runner.turn_completed
// (session-records.ts writeSessionEvents), which it does a moment after the
// runner wrote it. The wait is woken by the session's event wake channel (the
// runner PUBLISHes after each write); a wake-up costs one XREVRANGE of the
// stream's newest entry, and Postgres is read only when that entry is not an
// event of this message's turn in flight. Once the newest entry is this
// message's runner.turn_completed, Postgres is read again at growing intervals
// until the operator has stored it. Besides that, one slow safety read
// (recheckMs) covers a lost wake-up and an operator that stores late.
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { parseStreamEntry, workloadStreamKeys } from '../../../packages/contracts/src/event-stream.ts';
import { readMessage, type SessionMessage } from '../../../packages/database/src/session-records.ts';
import { sleep, type Clock } from '../../../packages/platform/src/clock.ts';
import type { Logger } from '../../../packages/platform/src/logger.ts';
import type { ChannelSubscriber } from '../stream/channel-subscriber.ts';
import { subscribeForWait } from '../tasks/wait.ts';

export interface MessageWaitDeps {
  pool: pg.Pool;
  redis: Redis;
  wakeups?: ChannelSubscriber;
  clock: Clock;
  log: Logger;
  recheckMs: number;
}

export interface SessionKey { namespace: string; name: string; uid: string }

const firstRecheckAfterCompletionMs = 100;

/** The message once its state is not `accepted`, or as it is when the time is up or the client went away. */
export async function waitForAnswer(deps: MessageWaitDeps, session: SessionKey, initial: SessionMessage, waitMs: number,
  signal: AbortSignal): Promise<SessionMessage> {
  const deadline = deps.clock.now() + waitMs;
  let wake = new AbortController();
  // As if woken at the start: the turn may have ended before the subscription held and
  // its answer not be stored yet; the newest event says so, as it would on a wake-up.
  let woken = true;
  const unsubscribe = await subscribeForWait(deps, workloadStreamKeys('session', session.namespace, session.name).wake, () => {
    woken = true;
    wake.abort();
  });
  const read = async () => (await readMessage(deps.pool, session.uid, initial.messageId)) ?? initial;
  try {
    // Read after subscribing: an answer stored in between is not missed.
    let message = await read();
    let fastRecheck: number | undefined;
    while (message.state === 'accepted' && !signal.aborted) {
      const left = deadline - deps.clock.now();
      if (left <= 0) break;
      if (!woken) await sleep(deps.clock, Math.min(fastRecheck ?? deps.recheckMs, left), AbortSignal.any([signal, wake.signal]));
      if (signal.aborted) break;
      if (woken) {
        woken = false;
        wake = new AbortController();
        const newest = await newestEvent(deps, session);
        if (newest?.messageId === initial.messageId && newest.type !== 'runner.turn_completed') continue; // its turn runs on
        if (newest?.messageId === initial.messageId) fastRecheck = firstRecheckAfterCompletionMs;
      } else if (fastRecheck !== undefined) {
        fastRecheck = Math.min(fastRecheck * 2, deps.recheckMs);
      }
      message = await read();
    }
    return message;
  } finally {
    unsubscribe?.();
  }
}

async function newestEvent(deps: MessageWaitDeps, session: SessionKey): Promise<{ type: string; messageId?: string } | undefined> {
  try {
    const [entry] = await deps.redis.xrevrange(workloadStreamKeys('session', session.namespace, session.name).events, '+', '-', 'COUNT', 1);
    return entry ? parseStreamEntry(entry[0], entry[1]) : undefined;
  } catch (error) {
    deps.log.warn({ err: String(error), session: `${session.namespace}/${session.name}` }, 'cannot read the newest session event');
    return undefined;
  }
}
