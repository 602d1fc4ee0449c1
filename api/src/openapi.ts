// The OpenAPI 3.1 document, generated from the same zod schemas that validate
// requests (and, for the task spec, that generate the CRD). JSON Schema 2020-12
// is OpenAPI 3.1's own dialect, so zod's output goes in as it is.
import { z } from 'zod';
import { ClaudeTaskSpecSchema, ClaudeTaskStatusSchema } from '../../crds/src/claude-task.ts';
import {
  CreateTaskBodySchema, EndedTaskSchema, EventPageSchema, EventsQuerySchema, ListQuerySchema, ProblemSchema, StreamTicketSchema,
  TaskListSchema, TaskResultSchema, TaskSchema, createQuerySchema,
} from './tasks/schemas.ts';

type JsonObject = Record<string, unknown>;

const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });

function components(): Record<string, JsonObject> {
  const registry = z.registry<{ id: string }>();
  const named: Array<[string, z.ZodType]> = [
    ['ClaudeTaskSpec', ClaudeTaskSpecSchema], ['ClaudeTaskStatus', ClaudeTaskStatusSchema], ['CreateTask', CreateTaskBodySchema],
    ['Task', TaskSchema], ['EndedTask', EndedTaskSchema], ['TaskList', TaskListSchema], ['EventPage', EventPageSchema], ['TaskResult', TaskResultSchema],
    ['StreamTicket', StreamTicketSchema], ['Problem', ProblemSchema],
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
const errors = {
  400: problem('Invalid input; `issues` lists what is wrong.'),
  401: problem('No valid bearer token.'),
  404: problem('No such namespace or task for this caller.'),
  429: problem('Rate limited; see Retry-After.'),
};
const pathParam = (name: string) => ({ name, in: 'path', required: true, schema: { type: 'string' } });

export function openApiDocument(options: { maxWaitSeconds: number; serverUrl?: string }): JsonObject {
  const namespace = pathParam('namespace');
  const name = pathParam('name');
  const tasks = '/api/v1/namespaces/{namespace}/tasks';
  const task = `${tasks}/{name}`;
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
          parameters: queryParameters(createQuerySchema(options.maxWaitSeconds)),
          requestBody: { required: true, content: { 'application/json': { schema: ref('CreateTask') } } },
          responses: {
            200: json('The task ended within ?wait: the task and its full result text.', 'EndedTask'),
            202: { ...json('Accepted; the task is Pending (or still running after ?wait).', 'Task'), headers: { Location: { schema: { type: 'string' } } } },
            ...errors, 403: problem('The role may not submit.'), 409: problem('A task with this name exists.'),
            413: problem('The body is too large.'), 415: problem('The body is not JSON.'), 422: problem('Rejected by the Kubernetes API.'),
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
        delete: { operationId: 'deleteTask', responses: { 202: { description: 'Deletion started.' }, ...errors, 403: problem('The role may not delete.') } },
      },
      [`${task}/cancel`]: {
        parameters: [namespace, name],
        post: { operationId: 'cancelTask', responses: { 202: json('Cancel requested.', 'Task'), ...errors, 403: problem('The role may not cancel.') } },
      },
      [`${task}/events`]: {
        parameters: [namespace, name],
        get: { operationId: 'taskEvents', parameters: queryParameters(EventsQuerySchema), responses: { 200: json('Events by seq.', 'EventPage'), ...errors } },
      },
      [`${task}/result`]: {
        parameters: [namespace, name],
        get: { operationId: 'taskResult', responses: { 200: json('The final text, usage and files changed.', 'TaskResult'), ...errors } },
      },
      [`${task}/stream-ticket`]: {
        parameters: [namespace, name],
        post: { operationId: 'issueStreamTicket', summary: 'A short-lived, single-use ticket for the WebSocket stream (browsers).',
          responses: { 201: json('The ticket.', 'StreamTicket'), ...errors, 501: problem('Tickets are not available.') } },
      },
      '/api/v1/openapi.json': { get: { operationId: 'openApi', security: [], responses: { 200: { description: 'This document.' } } } },
      '/healthz': { get: { operationId: 'healthz', security: [], responses: { 200: { description: 'The process is up.' } } } },
      '/readyz': { get: { operationId: 'readyz', security: [], responses: { 200: { description: 'Kubernetes, Postgres and Redis answer.' }, 503: { description: 'One does not.' } } } },
      '/metrics': { get: { operationId: 'metrics', security: [], responses: { 200: { description: 'Prometheus metrics.' } } } },
    },
    components: {
      schemas: components(),
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
    },
  };
}
