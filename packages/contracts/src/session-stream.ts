// The Redis keys of a ClaudeSession, shared by the API (writes messages, reads
// answers), the runner in session mode (consumes messages, writes events and the
// transcript) and the operator (copies events, answers and the transcript into
// Postgres, seeds the transcript for a new pod).
//
// Events: the same Stream contract as a task's (event-stream.ts: fields seq,
// type, data, time, one gap-free seq across every turn and every pod), plus the
// field `messageId`: the message whose turn the event belongs to (none for the
// runner's start and end events). Wake, persisted and partial keys as for tasks
// (workloadStreamKeys('session', namespace, name)).
//
// Messages: the inbox Stream, entries with the fields `messageId`, `text` and
// `acceptedAt` (ISO 8601), in the order the API accepted them. The runner reads
// it as the one consumer `runner` of the group `runner`, so a message a lost pod
// took but did not acknowledge is read again by the next pod (XREADGROUP … 0).
// The runner acknowledges a message (XACK) only once the operator has its turn's
// runner.turn_completed in Postgres (the persisted key has reached its seq).
//
// Answered: a Hash messageId -> the seq of its runner.turn_completed, written by
// the operator when it stored it. A message read again that is in it is
// acknowledged without a second turn: each message is answered exactly once.
//
// Transcript: the CLI's session transcript (the .jsonl under $HOME/.claude/projects)
// as it was after the last completed turn, SET by the runner before it publishes
// that turn's runner.turn_completed; the operator stores it in Postgres with that
// event, and SETs it from Postgres before it starts a pod when Redis has lost it.
// A pod whose volume has no transcript (new or lost) writes it back before --resume.
//
// Control: a Pub/Sub channel of JSON commands to the running pod, best-effort:
// {"type":"interrupt"} stops the turn in flight (it ends as interrupted).
// Wake: the API PUBLISHes "<namespace>/<name>" on sessionWakeChannel after each
// accepted message, so the operator starts a pod for a Suspended session at once.
import { z } from 'zod';
import { workloadKeyBase } from './event-stream.ts';

function base(namespace: string, name: string): string {
  return workloadKeyBase('session', namespace, name);
}

export function sessionInboxKey(namespace: string, name: string): string {
  return `${base(namespace, name)}:inbox`;
}

export function sessionAnsweredKey(namespace: string, name: string): string {
  return `${base(namespace, name)}:answered`;
}

export function sessionTranscriptKey(namespace: string, name: string): string {
  return `${base(namespace, name)}:transcript`;
}

export function sessionControlChannel(namespace: string, name: string): string {
  return `${base(namespace, name)}:control`;
}

/** One channel for every session: the operator subscribes once. */
export const sessionWakeChannel = 'claude-operator:session:wake';

/** The consumer group, and its one consumer, that read the inbox. */
export const inboxGroup = 'runner';
export const inboxConsumer = 'runner';

/** A message id: what the API returns and what every event of its turn carries. */
export const messageIdPattern = /^msg_[0-9a-f]{32}$/;

export const InboxMessageSchema = z.object({
  messageId: z.string().regex(messageIdPattern),
  text: z.string().min(1),
  acceptedAt: z.string(),
});
export type InboxMessage = z.infer<typeof InboxMessageSchema>;

/** The fields of an inbox entry, as XADD takes them. */
export function inboxEntryFields(message: InboxMessage): string[] {
  return ['messageId', message.messageId, 'text', message.text, 'acceptedAt', message.acceptedAt];
}

/** An inbox entry as XREADGROUP returns its fields; undefined when it is not a message. */
export function parseInboxEntry(fields: string[]): InboxMessage | undefined {
  const values: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) values[fields[i]!] = fields[i + 1]!;
  const parsed = InboxMessageSchema.safeParse(values);
  return parsed.success ? parsed.data : undefined;
}

export const SessionControlSchema = z.object({ type: z.literal('interrupt') });
export type SessionControl = z.infer<typeof SessionControlSchema>;

/** What sessionWakeChannel carries. */
export function sessionWakeMessage(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}
