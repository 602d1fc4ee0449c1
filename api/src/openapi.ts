// The OpenAPI 3.1 document, generated from the same zod schemas that validate
// requests (and, for the task spec, that generate the CRD). JSON Schema 2020-12
// is OpenAPI 3.1's own dialect, so zod's output goes in as it is.
import { z } from 'zod';
import { ClaudeTaskSpecSchema, ClaudeTaskStatusSchema } from '../../crds/src/claude-task.ts';
import { TaskEventRecordSchema } from '../../packages/contracts/src/task-events.ts';
import {
  CreateTaskBodySchema, EndedTaskSchema, EventPageSchema, EventsQuerySchema, ListQuerySchema, ProblemSchema,
  StreamTicketSchema, TaskListSchema, TaskResultSchema, TaskSchema, createQuerySchema,
} from './tasks/schemas.ts';
import { NormalizedEventSchema } from './events/normalized.ts';
import { CreateTaskFromTemplateBodySchema, TemplateListSchema, TemplateSchema } from './templates/schemas.ts';
import { ReportQuerySchema } from './reports/send.ts';
import { PartialMessageSchema } from './events/partial.ts';
import { problemKinds, problemTypeBase } from './http/problem.ts';
import {
  errors, idempotencyErrors, idempotencyKey, json, mutationErrors, pathParam, problem, queryParameters, ref, streamOperation, writeRefused, type JsonObject,
} from './openapi-parts.ts';
import { sessionPaths, sessionSchemas } from './sessions/openapi-paths.ts';
import { UsageQuerySchema, UsageReportSchema, UsageRowSchema } from './usage/schemas.ts';

function components(): Record<string, JsonObject> {
  const registry = z.registry<{ id: string }>();
  const named: Array<[string, z.ZodType]> = [
    ['ClaudeTaskSpec', ClaudeTaskSpecSchema], ['ClaudeTaskStatus', ClaudeTaskStatusSchema], ['CreateTask', CreateTaskBodySchema],
    ['Task', TaskSchema], ['EndedTask', EndedTaskSchema], ['TaskList', TaskListSchema], ['EventPage', EventPageSchema], ['TaskResult', TaskResultSchema],
    ['StreamTicket', StreamTicketSchema], ['Problem', ProblemSchema],
    ['Template', TemplateSchema], ['TemplateList', TemplateListSchema], ['CreateTaskFromTemplate', CreateTaskFromTemplateBodySchema],
    ['Event', TaskEventRecordSchema], ['NormalizedEvent', NormalizedEventSchema], ['PartialMessage', PartialMessageSchema],
    ...sessionSchemas,
    ['UsageReport', UsageReportSchema], ['UsageRow', UsageRowSchema],
  ];
  for (const [id, schema] of named) registry.add(schema, { id });
  const { schemas } = z.toJSONSchema(registry, {
    target: 'draft-2020-12', uri: (id) => `#/components/schemas/${id}`, io: 'input', unrepresentable: 'any',
  }) as { schemas: Record<string, JsonObject> };
  return Object.fromEntries(Object.entries(schemas).map(([id, { $schema: _s, $id: _i, ...schema }]) => [id, schema]));
}

export function openApiDocument(options: { maxWaitSeconds: number; messageWaitSeconds?: number; serverUrl?: string }): JsonObject {
  const namespace = pathParam('namespace');
  const name = pathParam('name');
  const tasks = '/api/v1/namespaces/{namespace}/tasks';
  const task = `${tasks}/{name}`;
  const templates = '/api/v1/namespaces/{namespace}/templates';
  return {
    openapi: '3.1.0',
    info: { title: 'claude-operator API', version: '1', description: 'Submit ClaudeTasks, follow and cancel them, read their history; open ClaudeSessions and talk to them.' },
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
            ...errors, 403: writeRefused('The role may not submit.'), ...idempotencyErrors,
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
        delete: { operationId: 'deleteTask', responses: { 202: { description: 'Deletion started.' }, ...errors, 403: writeRefused('The role may not delete.'), ...mutationErrors } },
      },
      [`${task}/cancel`]: {
        parameters: [namespace, name],
        post: { operationId: 'cancelTask', parameters: [idempotencyKey],
          responses: { 202: json('Cancel requested.', 'Task'), ...errors, 403: writeRefused('The role may not cancel.'), ...idempotencyErrors, ...mutationErrors } },
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
        get: streamOperation({ operationId: 'streamTaskEvents', what: 'task', end: 'to the task\'s last one' }),
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
            403: writeRefused('The role may not submit.'), ...idempotencyErrors, ...mutationErrors,
          },
        },
      },
      '/api/v1/usage': {
        get: {
          operationId: 'getUsage',
          summary: 'Tokens and cost from the usage ledger (Postgres), filtered and grouped, for chargeback. '
            + 'An admin sees every namespace; another caller only its own (without ?namespace, the sums of its namespaces).',
          parameters: queryParameters(UsageQuerySchema),
          responses: { 200: json('The sums.', 'UsageReport'), ...errors },
        },
      },
      ...sessionPaths(options.messageWaitSeconds === undefined ? {} : { messageWaitSeconds: options.messageWaitSeconds }),
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
