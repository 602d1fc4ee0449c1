// The pieces the OpenAPI document (openapi.ts) is made of, shared by the
// tasks' paths and the sessions' (sessions/openapi-paths.ts).
import { z } from 'zod';
import { StreamQuerySchema } from './tasks/schemas.ts';
import { closeCodes } from './stream/replay.ts';

export type JsonObject = Record<string, unknown>;

export const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });

export function queryParameters(schema: z.ZodObject): JsonObject[] {
  return Object.entries(schema.shape).map(([name, field]) => {
    const { $schema: _s, description, ...json } = z.toJSONSchema(field as z.ZodType, { target: 'draft-2020-12', io: 'input' }) as JsonObject;
    return { name, in: 'query', required: false, schema: json, ...(description ? { description } : {}) };
  });
}

export const problem = (description: string) => ({ description, content: { 'application/problem+json': { schema: ref('Problem') } } });
/** 403 of a write: the role (forbidden), or the apiserver (refused-by-cluster: an admission policy, or RBAC for the caller when the API impersonates). */
export const writeRefused = (role: string) => problem(`${role} Or refused-by-cluster: an admission policy, or Kubernetes RBAC for the caller (API_IMPERSONATION=on), said no; detail is the apiserver's message.`);
export const json = (description: string, id: string) => ({ description, content: { 'application/json': { schema: ref(id) } } });
export const rateLimitHeaders = {
  RateLimit: { description: 'What is left of the caller\'s limit, e.g. "default";r=42;t=17 (draft-ietf-httpapi-ratelimit-headers).', schema: { type: 'string' } },
  'RateLimit-Policy': { description: 'The caller\'s limit, e.g. "default";q=600;w=60.', schema: { type: 'string' } },
};
export const errors = {
  400: problem('Invalid input; `issues` lists what is wrong.'),
  401: problem('No valid bearer token.'),
  404: problem('No such namespace, task or session for this caller.'),
  429: { ...problem('Rate limited; see Retry-After.'), headers: { ...rateLimitHeaders, 'Retry-After': { schema: { type: 'integer' } } } },
};
export const mutationErrors = {
  503: problem('Postgres is unreachable: the audit row cannot be written, so nothing was done (see Retry-After).'),
};
export const idempotencyKey = {
  name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', maxLength: 257 },
  description: 'A quoted string ("…") or a token. A retry with the same key and request within 24 h gets the first answer (Idempotent-Replayed: true) and does nothing.',
};
export const idempotencyErrors = {
  409: problem('An object with this name exists, or a call with this Idempotency-Key is still running.'),
  422: problem('Rejected by the Kubernetes API, or the Idempotency-Key was used for another request.'),
};
export const pathParam = (name: string) => ({ name, in: 'path', required: true, schema: { type: 'string' } });
export const locationHeader = { Location: { schema: { type: 'string' } } };

/**
 * The WebSocket, as OpenAPI can say it: a GET that answers 101 and switches
 * protocols, the messages in x-websocket (OpenAPI has no words for them).
 */
export function streamOperation(options: { operationId: string; what: string; end: string }): JsonObject {
  return {
    operationId: options.operationId,
    summary: `Follow a ${options.what}'s events over a WebSocket (GET with Upgrade: websocket).`,
    description: 'Everything is decided before the upgrade: a refusal is a plain HTTP answer with a problem+json body. '
      + `Once open, the server only sends, one JSON text message per event, from the event after \`from\` ${options.end}, then closes with 1000. `
      + 'Authorization: a bearer token, or `ticket` (POST …/stream-ticket) for browsers.',
    security: [{ bearer: [] }, {}],
    parameters: queryParameters(StreamQuerySchema),
    responses: {
      101: { description: 'Switching Protocols: the WebSocket is open; its messages are in x-websocket.', headers: rateLimitHeaders },
      ...errors,
      501: problem('?partial=true, but this server has no Pub/Sub for partial messages.'),
      503: problem(`The server is shutting down, or the ${options.what} cannot be looked up now.`),
    },
    'x-websocket': {
      direction: 'server to client only; messages from the client are ignored (at most 1 KiB)',
      messages: {
        event: { description: 'view=raw (the default): an event as the runner wrote it.', schema: ref('Event') },
        normalized: { description: 'view=normalized: message, tool_use, tool_result, progress, complete or error.', schema: ref('NormalizedEvent') },
        partial: { description: 'partial=true: a partial-message chunk, as it comes.', schema: ref('PartialMessage') },
      },
      closeCodes: {
        [closeCodes.normal]: `The ${options.what} ended: every event was sent.`,
        [closeCodes.goingAway]: 'The server is shutting down; reconnect with from=<last seq>.',
        [closeCodes.internalError]: 'The events cannot be read.',
        [closeCodes.tryAgainLater]: 'Too slow, or events not available yet; the reason says from= to reconnect with.',
      },
      heartbeat: 'The server pings every 30 s and drops a client that did not answer the previous one.',
    },
  };
}
