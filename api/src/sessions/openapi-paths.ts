// The session paths of the OpenAPI document (openapi.ts), from the schemas that
// validate the session routes (schemas.ts) and the model in crds/.
import type { z } from 'zod';
import { ClaudeSessionSpecSchema, ClaudeSessionStatusSchema } from '../../../crds/src/claude-session.ts';
import {
  errors, idempotencyErrors, idempotencyKey, json, locationHeader, mutationErrors, pathParam, problem, queryParameters, ref, streamOperation,
  writeRefused, type JsonObject,
} from '../openapi-parts.ts';
import {
  CreateSessionBodySchema, InterruptAnswerSchema, MessageAnswerSchema, MessageListSchema, MessageSchema, MessagesQuerySchema,
  SendMessageBodySchema, SendMessageQuerySchema, SessionListQuerySchema, SessionListSchema, SessionSchema,
} from './schemas.ts';

export const sessionSchemas: Array<[string, z.ZodType]> = [
  ['ClaudeSessionSpec', ClaudeSessionSpecSchema], ['ClaudeSessionStatus', ClaudeSessionStatusSchema], ['CreateSession', CreateSessionBodySchema],
  ['Session', SessionSchema], ['SessionList', SessionListSchema], ['SendMessage', SendMessageBodySchema], ['Message', MessageSchema],
  ['MessageAnswer', MessageAnswerSchema], ['MessageList', MessageListSchema], ['InterruptAnswer', InterruptAnswerSchema],
];

const messageIdempotencyKey = {
  ...idempotencyKey,
  description: 'Names the message: a retry with the same key (and text) gets the same messageId and, once it exists, its answer '
    + '(Idempotent-Replayed: true); the message is stored and sent to the agent once. The same key with another text is 422.',
};

export function sessionPaths(options: { messageWaitSeconds?: number } = {}): Record<string, JsonObject> {
  const waitSeconds = options.messageWaitSeconds ?? 600;
  const namespace = pathParam('namespace');
  const name = pathParam('name');
  const sessions = '/api/v1/namespaces/{namespace}/sessions';
  const session = `${sessions}/{name}`;
  const mayNot = problem('The role may not change sessions.');
  /** Creating and deleting write the ClaudeSession, which the apiserver may refuse. */
  const writeMayNot = writeRefused('The role may not change sessions.');
  return {
    [sessions]: {
      parameters: [namespace],
      post: {
        operationId: 'createSession', summary: 'Open a session (202; the operator starts its pod when a message comes).',
        parameters: [idempotencyKey],
        requestBody: { required: true, content: { 'application/json': { schema: ref('CreateSession') } } },
        responses: {
          202: { ...json('Accepted; the session is Pending.', 'Session'), headers: locationHeader },
          ...errors, 403: writeMayNot, ...idempotencyErrors, 413: problem('The body is too large.'), 415: problem('The body is not JSON.'), ...mutationErrors,
        },
      },
      get: {
        operationId: 'listSessions', summary: 'List sessions, filtered, a page at a time.',
        parameters: queryParameters(SessionListQuerySchema),
        responses: { 200: json('A page of sessions.', 'SessionList'), ...errors, 410: problem('The cursor expired; list again.') },
      },
    },
    [session]: {
      parameters: [namespace, name],
      get: { operationId: 'getSession', responses: { 200: json('The session.', 'Session'), ...errors } },
      delete: { operationId: 'deleteSession', responses: { 202: { description: 'Deletion started.' }, ...errors, 403: writeMayNot, ...mutationErrors } },
    },
    [`${session}/messages`]: {
      parameters: [namespace, name],
      post: {
        operationId: 'sendMessage',
        summary: `Send a message; by default wait (up to ${waitSeconds} s) for its answer.`,
        description: 'The message is stored first, then handed to the session\'s agent, which answers messages one at a time in the order they were '
          + 'accepted. A client that goes away loses nothing: GET the Location.',
        parameters: [...queryParameters(SendMessageQuerySchema), messageIdempotencyKey],
        requestBody: { required: true, content: { 'application/json': { schema: ref('SendMessage') } } },
        responses: {
          200: json('The turn ended: the answer (state answered, interrupted or failed).', 'MessageAnswer'),
          202: { ...json('?async=true, or no answer within the wait: the message, accepted; GET the Location for its answer.', 'Message'), headers: locationHeader },
          ...errors, 403: mayNot, 409: problem('The session is Failed or Archived: it takes no more messages.'),
          413: problem('The text is above the limit (bytes of UTF-8), or the body is too large.'), 415: problem('The body is not JSON.'),
          422: problem('The Idempotency-Key was used for another message of this session.'), ...mutationErrors,
        },
      },
      get: {
        operationId: 'listMessages', summary: 'The conversation, in the order the messages were accepted, a page at a time (from Postgres).',
        parameters: queryParameters(MessagesQuerySchema),
        responses: { 200: json('A page of messages.', 'MessageList'), ...errors },
      },
    },
    [`${session}/messages/{messageId}`]: {
      parameters: [namespace, name, pathParam('messageId')],
      get: { operationId: 'getMessage', responses: { 200: json('The message and its answer when it has one.', 'Message'), ...errors } },
    },
    [`${session}/interrupt`]: {
      parameters: [namespace, name],
      post: {
        operationId: 'interruptSession', summary: 'Stop the turn in flight (best-effort): it ends as interrupted; the session stays usable.',
        responses: { 202: json('Sent to the session\'s pod.', 'InterruptAnswer'), ...errors, 403: mayNot, ...mutationErrors },
      },
    },
    [`${session}/stream-ticket`]: {
      parameters: [namespace, name],
      post: {
        operationId: 'issueSessionStreamTicket', summary: 'A short-lived, single-use ticket for the session\'s WebSocket stream (browsers).',
        responses: { 201: json('The ticket.', 'StreamTicket'), ...errors, 501: problem('Tickets are not available.') },
      },
    },
    [`${session}/stream`]: {
      parameters: [namespace, name],
      get: streamOperation({
        operationId: 'streamSessionEvents', what: 'session',
        end: 'on, across turns and pods, each event of a message\'s turn with its `messageId`, until the session is Failed, Archived or deleted',
      }),
    },
  };
}
