// Accepting a message (the design's step 5): Postgres first, so nothing the API
// answered for is lost, then the session's inbox (the Redis Stream the runner
// consumes), then a wake-up for the operator (it starts a pod for a Suspended
// session). The inbox must hold the messages in the order Postgres numbered
// them (position), and concurrent requests, on any replica, would interleave
// the INSERT and the XADD: so both run under a Postgres advisory lock per
// session. A message accepted before (an Idempotency-Key retry) is not added
// to the inbox again: the runner answers each entry, so a duplicate would
// risk a second turn.
import crypto from 'node:crypto';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { ClaudeSession } from '../../../crds/src/claude-session.ts';
import {
  inboxEntryFields, sessionInboxKey, sessionWakeChannel, sessionWakeMessage,
} from '../../../packages/contracts/src/session-stream.ts';
import { withClient } from '../../../packages/database/src/pool.ts';
import { acceptMessage, ensureSessionRecord, type AcceptedMessage } from '../../../packages/database/src/session-records.ts';
import type { Logger } from '../../../packages/platform/src/logger.ts';

/** The advisory lock class of a session's inbox (the second key is the session's uid hashed). */
const inboxLockClass = 0x5e55;

/** Random; with an Idempotency-Key derived from it, so a retry names the same message. */
export function messageIdFor(sessionUid: string, idempotencyKey: string | undefined): string {
  const hex = idempotencyKey === undefined
    ? crypto.randomBytes(16).toString('hex')
    : crypto.createHash('sha256').update(`${sessionUid}:${idempotencyKey}`).digest('hex').slice(0, 32);
  return `msg_${hex}`;
}

export interface AcceptDeps {
  pool: pg.Pool;
  redis: Redis;
  log: Logger;
}

export async function acceptSessionMessage(deps: AcceptDeps, session: ClaudeSession, input: {
  text: string; idempotencyKey?: string; requestedBy: string;
}): Promise<AcceptedMessage> {
  const uid = session.metadata.uid ?? '';
  const { namespace = '', name = '' } = session.metadata;
  const messageId = messageIdFor(uid, input.idempotencyKey);
  const accepted = await withClient(deps.pool, async (client, markBroken) => {
    await client.query('SELECT pg_advisory_lock($1, hashtext($2))', [inboxLockClass, uid]);
    try {
      await ensureSessionRecord(client, session);
      const stored = await acceptMessage(client, {
        sessionUid: uid, messageId, text: input.text, acceptedAt: new Date().toISOString(), requestedBy: input.requestedBy,
        ...(input.idempotencyKey !== undefined ? { idempotencyKey: input.idempotencyKey } : {}),
      });
      // Stored but not in the inbox when this fails: the answer is a 5xx, and the
      // operator puts accepted messages the inbox lacks back (readWaitingMessages).
      if (stored.created) {
        const { message } = stored;
        await deps.redis.xadd(sessionInboxKey(namespace, name), '*',
          ...inboxEntryFields({ messageId: message.messageId, text: message.text, acceptedAt: message.acceptedAt }));
      }
      return stored;
    } finally {
      // Closing the connection frees the lock: a client that cannot unlock is not reused.
      await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [inboxLockClass, uid]).catch(markBroken);
    }
  });
  // A hint: the operator also finds waiting messages on its own.
  await deps.redis.publish(sessionWakeChannel, sessionWakeMessage(namespace, name)).catch((error: Error) =>
    deps.log.warn({ err: error.message, session: `${namespace}/${name}` }, 'cannot wake the operator for a message'));
  return accepted;
}
