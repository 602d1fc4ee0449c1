// The OpenAPI 3.1 document, generated from the same zod schemas that validate
// requests (and, for the task spec, that generate the CRD). JSON Schema 2020-12
// is OpenAPI 3.1's own dialect, so zod's output goes in as it is.
import { z } from 'zod';
import { ClaudeTaskSpecSchema, ClaudeTaskStatusSchema } from '../../crds/src/claude-task.ts';
import { TaskEventRecordSchema } from '../../packages/contracts/src/task-events.ts';
import {
  CreateTaskBodySchema, EndedTaskSchema, EventPageSchema, EventsQuerySchema, ListQuerySchema, ProblemSchema, StreamQuerySchema,
  StreamTicketSchema, TaskListSchema, TaskResultSchema, TaskSchema, createQuerySchema,
} from './tasks/schemas.ts';
import { NormalizedEventSchema } from './events/normalized.ts';
import { CreateTaskFromTemplateBodySchema, TemplateListSchema, TemplateSchema } from './templates/schemas.ts';
import { ReportQuerySchema } from './reports/send.ts';
import { PartialMessageSchema } from './events/partial.ts';
import { problemKinds, problemTypeBase } from './http/problem.ts';
import { closeCodes } from './stream/replay.ts';

type JsonObject = Record<string, unknown>;

const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });

function components(): Record<string, JsonObject> {
  const registry = z.registry<{ id: string }>();
  const named: Array<[string, z.ZodType]> = [
    ['ClaudeTaskSpec', ClaudeTaskSpecSchema], ['ClaudeTaskStatus', ClaudeTaskStatusSchema], ['CreateTask', CreateTaskBodySchema],
    ['Task', TaskSchema], ['EndedTask', EndedTaskSchema], ['TaskList', TaskListSchema], ['EventPage', EventPageSchema], ['TaskResult', TaskResultSchema],
    ['StreamTicket', StreamTicketSchema], ['Problem', ProblemSchema],
    ['Template', TemplateSchema], ['TemplateList', TemplateListSchema], ['CreateTaskFromTemplate', CreateTaskFromTemplateBodySchema],
    ['Event', TaskEventRecordSchema], ['NormalizedEvent', NormalizedEventSchema], ['PartialMessage', PartialMessageSchema],
  ];
  for (const [id, schema] of named) registry.add(schema, { id });
  const { schemas } = z.toJSONSchema(registry, {
    target: 'draft-2020-12', uri: (id) => `#/components/schemas/${id}`, io: 'input', unrepresentable: 'any',
  }) as { schemas: Record<string, JsonObject> };
  return Object.fromEntries(Object.entries(schemas).map(([id, { $schema: _s, $id: _i, ...schema }]) => [id, schema]));
}

function queryParameters(schema: z.ZodObject): JsonObject[] {
  return Object.entries(schema.shape).map(([name, field]) => {
    const { $schema: _s, description, ...json } = z.toJSONSchema(field as z.ZodType, { target: 'draft-2020-12', io: 'input' }) as JsonObject;
    return { name, in: 'query', required: false, schema: json, ...(description ? { description } : {}) };
  });
}

const problem = (description: string) => ({ description, content: { 'application/problem+json': { schema: ref('Problem') } } });
const json = (description: string, id: string) => ({ description, content: { 'application/json': { schema: ref(id) } } });
const rateLimitHeaders = {
  RateLimit: { description: 'What is left of the caller\'s limit, e.g. "default";r=42;t=17 (draft-ietf-httpapi-ratelimit-headers).', schema: { type: 'string' } },
  'RateLimit-Policy': { description: 'The caller\'s limit, e.g. "default";q=600;w=60.', schema: { type: 'string' } },
};
const errors = {
  400: problem('Invalid input; `issues` lists what is wrong.'),
  401: problem('No valid bearer token.'),
  404: problem('No such namespace or task for this caller.'),
  429: { ...problem('Rate limited; see Retry-After.'), headers: { ...rateLimitHeaders, 'Retry-After': { schema: { type: 'integer' } } } },
};
const mutationErrors = {
  503: problem('Postgres is unreachable: the audit row cannot be written, so nothing was done (see Retry-After).'),
};
const idempotencyKey = {
  name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', maxLength: 257 },
  description: 'A quoted string ("…") or a token. A retry with the same key and request within 24 h gets the first answer (Idempotent-Replayed: true) and does nothing.',
};
const idempotencyErrors = {
  409: problem('A task with this name exists, or a call with this Idempotency-Key is still running.'),
  422: problem('Rejected by the Kubernetes API, or the Idempotency-Key was used for another request.'),
};
const pathParam = (name: string) => ({ name, in: 'path', required: true, schema: { type: 'string' } });

/**
 * The WebSocket, as OpenAPI can say it: a GET that answers 101 and switches
 * protocols, the messages in x-websocket (OpenAPI has no words for them).
 */
function streamOperation(): JsonObject {
  return {
    operationId: 'streamTaskEvents',
    summary: 'Follow a task\'s events over a WebSocket (GET with Upgrade: websocket).',
    description: 'Everything is decided before the upgrade: a refusal is a plain HTTP answer with a problem+json body. '
      + 'Once open, the server only sends, one JSON text message per event, from the event after `from` to the task\'s last one, then closes with 1000. '
      + 'Authorization: a bearer token, or `ticket` (POST …/stream-ticket) for browsers.',
    security: [{ bearer: [] }, {}],
    parameters: queryParameters(StreamQuerySchema),
    responses: {
      101: { description: 'Switching Protocols: the WebSocket is open; its messages are in x-websocket.', headers: rateLimitHeaders },
      ...errors,
      501: problem('?partial=true, but this server has no Pub/Sub for partial messages.'),
      503: problem('The server is shutting down, or the task cannot be looked up now.'),
    },
    'x-websocket': {
      direction: 'server to client only; messages from the client are ignored (at most 1 KiB)',
      messages: {
        event: { description: 'view=raw (the default): an event as the runner wrote it.', schema: ref('Event') },
        normalized: { description: 'view=normalized: message, tool_use, tool_result, progress, complete or error.', schema: ref('NormalizedEvent') },
        partial: { description: 'partial=true: a partial-message chunk, as it comes.', schema: ref('PartialMessage') },
      },
      closeCodes: {
        [closeCodes.normal]: 'The task ended: every event was sent.',
        [closeCodes.goingAway]: 'The server is shutting down; reconnect with from=<last seq>.',
        [closeCodes.internalError]: 'The events cannot be read.',
        [closeCodes.tryAgainLater]: 'Too slow, or events not available yet; the reason says from= to reconnect with.',
      },
      heartbeat: 'The server pings every 30 s and drops a client that did not answer the previous ping.',
    },
  };
}

export function openApiDocument(options: { maxWaitSeconds: number; serverUrl?: string }): JsonObject {
  const namespace = pathParam('namespace');
  const name = pathParam('name');
  const tasks = '/api/v1/namespaces/{namespace}/tasks';
  const task = `${tasks}/{name}`;
  const templates = '/api/v1/namespaces/{namespace}/templates';
  return {
    openapi: '3.1.0',
    info: { title: 'claude-operator API', version: '1', description: 'Submit ClaudeTasks, follow and cancel them, read their history.' },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    ...(options.serverUrl ? { servers: [{ url: options.serverUrl }] } : {}),
    security: [{ bearer: [] }],
    paths: {
      [tasks]: {
        parameters: [namespace],
        post: {
          operationId: 'createTask', summary: 'Create a task (202; with ?wait, 200 once it ended in time).',
          parameters: [...queryParameters(createQuerySchema(options.maxWaitSeconds)), idempotencyKey],
          requestBody: { required: true, content: { 'application/json': { schema: ref('CreateTask') } } },
          responses: {
            200: json('The task ended within ?wait: the task and its full result text.', 'EndedTask'),
            202: { ...json('Accepted; the task is Pending (or still running after ?wait).', 'Task'), headers: { Location: { schema: { type: 'string' } } } },
            ...errors, 403: problem('The role may not submit.'), ...idempotencyErrors,
            413: problem('The body is too large.'), 415: problem('The body is not JSON.'), ...mutationErrors,
          },
        },
        get: {
          operationId: 'listTasks', summary: 'List tasks, filtered, a page at a time.',
          parameters: queryParameters(ListQuerySchema),
          responses: { 200: json('A page of tasks.', 'TaskList'), ...errors, 410: problem('The cursor expired; list again.') },
        },
      },
      [task]: {
        parameters: [namespace, name],
        get: { operationId: 'getTask', responses: { 200: json('The task.', 'Task'), ...errors } },
        delete: { operationId: 'deleteTask', responses: { 202: { description: 'Deletion started.' }, ...errors, 403: problem('The role may not delete.'), ...mutationErrors } },
      },
      [`${task}/cancel`]: {
        parameters: [namespace, name],
        post: { operationId: 'cancelTask', parameters: [idempotencyKey],
          responses: { 202: json('Cancel requested.', 'Task'), ...errors, 403: problem('The role may not cancel.'), ...idempotencyErrors, ...mutationErrors } },
      },
      [`${task}/events`]: {
        parameters: [namespace, name],
        get: { operationId: 'taskEvents', parameters: queryParameters(EventsQuerySchema), responses: { 200: json('Events by seq.', 'EventPage'), ...errors } },
      },
      [`${task}/result`]: {
        parameters: [namespace, name],
        get: { operationId: 'taskResult', responses: { 200: json('The final text, usage and files changed.', 'TaskResult'), ...errors } },
      },
      [`${task}/report`]: {
        parameters: [namespace, name],
        get: {
          operationId: 'taskReport', summary: 'One run as a report (from Postgres): prompt (secrets redacted), outcome, timings, usage, every tool call, files changed, the answer.',
          parameters: queryParameters(ReportQuerySchema),
          responses: {
            200: { description: 'The report, streamed; ?format or else Accept chooses.', content: {
              'application/json': {}, 'text/markdown': {}, 'text/html': {}, 'application/pdf': {},
            } },
            ...errors, 429: problem('Too many PDFs being printed.'), 501: problem('PDF printing is not available.'),
          },
        },
      },
      [`${task}/stream-ticket`]: {
        parameters: [namespace, name],
        post: { operationId: 'issueStreamTicket', summary: 'A short-lived, single-use ticket for the WebSocket stream (browsers).',
          responses: { 201: json('The ticket.', 'StreamTicket'), ...errors, 501: problem('Tickets are not available.') } },
      },
      [`${task}/stream`]: {
        parameters: [namespace, name],
        get: streamOperation(),
      },
      [templates]: {
        parameters: [namespace],
        get: { operationId: 'listTemplates', summary: 'The ClaudeTaskTemplates of the namespace.', responses: { 200: json('The templates.', 'TemplateList'), ...errors } },
      },
      [`${templates}/{name}`]: {
        parameters: [namespace, name],
        get: { operationId: 'getTemplate', responses: { 200: json('The template.', 'Template'), ...errors } },
      },
      [`${templates}/{name}/tasks`]: {
        parameters: [namespace, name],
        post: {
          operationId: 'createTaskFromTemplate',
          summary: 'Make a task from the template with these variables (202). The operator resolves the template into the task once; later edits of the template do not change it.',
          parameters: [idempotencyKey],
          requestBody: { required: true, content: { 'application/json': { schema: ref('CreateTaskFromTemplate') } } },
          responses: {
            202: { ...json('Accepted; the task is Pending.', 'Task'), headers: { Location: { schema: { type: 'string' } } } },
            ...errors, 400: problem('Invalid input, or a parameter is missing, unknown or fails its pattern: `detail` names it.'),
            403: problem('The role may not submit.'), ...idempotencyErrors, ...mutationErrors,
          },
        },
      },
      '/api/v1/openapi.json': { get: { operationId: 'openApi', security: [], responses: { 200: { description: 'This document.' } } } },
      '/healthz': { get: { operationId: 'healthz', security: [], responses: { 200: { description: 'The process is up.' } } } },
      '/readyz': { get: { operationId: 'readyz', security: [], responses: { 200: { description: 'Kubernetes, Postgres and Redis answer.' }, 503: { description: 'One does not.' } } } },
      '/metrics': { get: { operationId: 'metrics', security: [], responses: { 200: { description: 'Prometheus metrics.' } } } },
    },
    'x-problem-types': Object.fromEntries(Object.entries(problemKinds).map(([kind, { status, title }]) => [`${problemTypeBase}${kind}`, { status, title }])),
    components: {
      schemas: components(),
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
    },
  };
}
