// A ClaudeSession and its messages as the API shows them.
import type { ClaudeSession } from '../../../crds/src/claude-session.ts';
import type { SessionMessage } from '../../../packages/database/src/session-records.ts';
import { objectPath, objectView } from '../kube/object-view.ts';

export function sessionView(session: ClaudeSession) {
  return objectView(session);
}

export function sessionPath(namespace: string, name: string): string {
  return objectPath('sessions', namespace, name);
}

export function messagePath(namespace: string, name: string, messageId: string): string {
  return `${sessionPath(namespace, name)}/messages/${encodeURIComponent(messageId)}`;
}

/** The answer of a message whose turn ended (POST …/messages, 200). */
export function answerView(message: SessionMessage) {
  const { messageId, state, result, stopReason, error, usage, firstSeq, lastSeq } = message;
  return { messageId, state, result, stopReason, error, usage, firstSeq, lastSeq };
}

export function messageView(message: SessionMessage) {
  const { text, acceptedAt, answeredAt, requestedBy } = message;
  return { ...answerView(message), text, acceptedAt, answeredAt, requestedBy };
}

/** The detail of the 409 for a message to a Failed or Archived session: its phase and, as its status says, why. */
export function closedSessionDetail(session: ClaudeSession): string {
  const { phase = 'Pending', reason, message } = session.status ?? {};
  // A reason that only repeats the phase (Archived) says nothing more.
  const why = [reason === phase ? undefined : reason, message].filter((part) => part !== undefined && part !== '').join(': ');
  return `the session is ${phase}${why === '' ? '' : ` (${why})`}: it takes no more messages; its history still reads`;
}
