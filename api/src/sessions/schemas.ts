// What the session routes take and give, as zod schemas: they validate requests
// and are rendered into the OpenAPI document (openapi.ts).
import { z } from 'zod';
import {
  ClaudeSessionSpecSchema, ClaudeSessionStatusSchema, maxMessageLength, sessionPhases,
} from '../../../crds/src/claude-session.ts';
import { UsageSchema } from '../../../crds/src/claude-task.ts';
import { messageIdPattern } from '../../../packages/contracts/src/session-stream.ts';
import { listQuerySchema } from '../kube/object-list.ts';
import { LabelsSchema, objectSchema } from '../tasks/schemas.ts';

/**
 * A DNS-1123 label short enough for what the operator names after it: the
 * Job `<name>-<activation>` (a label value, 63 at most) and the PVC `<name>-session`.
 */
export const SessionNameSchema = z.string().min(1).max(52).regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS-1123 label of at most 52 characters');

export const CreateSessionBodySchema = z.object({
  name: SessionNameSchema.optional().describe('The session name; generated from "session-" when empty.'),
  labels: LabelsSchema.optional(),
  spec: ClaudeSessionSpecSchema,
}).strict().describe('A session to open.');

export const SessionListQuerySchema = listQuerySchema(sessionPhases);

export const SessionSchema = objectSchema('ClaudeSession', ClaudeSessionSpecSchema, ClaudeSessionStatusSchema);

export const SessionListSchema = z.object({
  items: z.array(SessionSchema),
  next: z.string().optional().describe('Pass as ?cursor= for the next page; absent on the last.'),
});

export const SendMessageBodySchema = z.object({
  text: z.string().min(1).describe(`The message; at most ${maxMessageLength} bytes of UTF-8 (413 above).`),
}).strict().describe('A message to the session\'s agent.');

export const SendMessageQuerySchema = z.object({
  async: z.enum(['true', 'false']).optional().transform((value) => value === 'true')
    .describe('true: answer 202 with Location at once instead of waiting for the answer.'),
});

export const messageStates = ['accepted', 'answered', 'interrupted', 'failed'] as const;

const answerFields = {
  messageId: z.string().regex(messageIdPattern),
  state: z.enum(messageStates).describe('accepted: waits or is being answered; answered, interrupted or failed: its turn ended.'),
  result: z.string().nullable().describe('The final assistant text; null until answered, and when interrupted or failed.'),
  stopReason: z.string().nullable().describe('The CLI\'s result subtype (success, error_max_turns, ...) or interrupted.'),
  error: z.string().nullable().describe('Why the turn failed, for people.'),
  usage: UsageSchema.nullable(),
  firstSeq: z.number().int().nullable().describe('The seq of the turn\'s first event (runner.turn_started) in the session\'s stream.'),
  lastSeq: z.number().int().nullable().describe('The seq of its last (runner.turn_completed).'),
};

export const MessageAnswerSchema = z.object(answerFields).describe('A message whose turn ended: its answer.');

export const MessageSchema = z.object({
  ...answerFields,
  text: z.string(),
  acceptedAt: z.string(),
  answeredAt: z.string().nullable(),
  requestedBy: z.string().nullable().describe('The subject of the caller who sent it.'),
}).describe('A message and, once its turn ended, its answer.');

export const MessageListSchema = z.object({
  items: z.array(MessageSchema).describe('In the order the messages were accepted.'),
  next: z.string().optional().describe('Pass as ?cursor= for the next page; absent on the last.'),
});

export const MessagesQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(4096).optional().describe('The `next` of the previous page.'),
});

export const InterruptAnswerSchema = z.object({
  namespace: z.string(),
  name: z.string(),
  activeTurn: z.string().nullable().describe('The message whose turn was in flight, when known; null when none was.'),
  delivered: z.boolean().describe('Whether a running pod heard the interrupt (false: no pod is up, nothing to stop).'),
});
