// What the task routes take and give, as zod schemas: they validate requests and
// are rendered into the OpenAPI document, so the two cannot drift apart.
import { z } from 'zod';
import { ClaudeTaskSpecSchema, ClaudeTaskStatusSchema, UsageSchema, taskPhases } from '../../../crds/src/claude-task.ts';
import { TaskEventRecordSchema } from '../../../packages/contracts/src/task-events.ts';
import { NormalizedEventSchema, eventViews } from '../events/normalized.ts';
import { listQuerySchema } from '../kube/object-list.ts';

/** A DNS-1123 label: the task name is also a label value on its Job and pods (63 at most). */
export const TaskNameSchema = z.string().min(1).max(63).regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS-1123 label');
export const NamespaceSchema = TaskNameSchema;

const labelKey = z.string().min(1).max(317).regex(/^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/, 'must be a label key');
const labelValue = z.string().max(63).regex(/^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/, 'must be a label value');

export const LabelsSchema = z.record(labelKey, labelValue).refine((labels) => Object.keys(labels).length <= 64, 'at most 64 labels');

export const CreateTaskBodySchema = z.object({
  name: TaskNameSchema.optional().describe('The task name; generated from "task-" when empty.'),
  labels: LabelsSchema.optional(),
  spec: ClaudeTaskSpecSchema,
}).strict().describe('A task to run.');

const seconds = (max: number) => z.coerce.number().int().min(0).max(max);

export function createQuerySchema(maxWaitSeconds: number) {
  return z.object({
    wait: seconds(maxWaitSeconds).optional().describe(`Block up to this many seconds (at most ${maxWaitSeconds}) until the task ends.`),
  });
}

export const ListQuerySchema = listQuerySchema(taskPhases);

const viewParameter = z.enum(eventViews).default('raw')
  .describe('raw: the events as the runner wrote them (CLI stream-json lines and runner.* events); normalized: message, tool_use, tool_result, progress, complete, error.');

export const EventsQuerySchema = z.object({
  after: z.coerce.number().int().min(0).default(0).describe('Only events with a greater seq.'),
  limit: z.coerce.number().int().min(1).max(1000).default(200).describe('Stored events per page (a normalized page may hold more or fewer items).'),
  view: viewParameter,
});

/** The WebSocket's query: GET …/tasks/{name}/stream. */
export const StreamQuerySchema = z.object({
  from: z.string().regex(/^\d{0,15}$/, 'must be a non-negative integer seq').optional().transform((from) => Number(from ?? 0))
    .describe('The last seq the client has; the stream starts after it (0 or absent: from the start).'),
  view: viewParameter,
  partial: z.enum(['true', 'false']).optional().transform((partial) => partial === 'true')
    .describe('true: also the CLI\'s partial-message chunks as they come (marked partial, no seq, never replayed).'),
  ticket: z.string().max(256).optional().describe('A stream ticket (POST …/stream-ticket), for clients that cannot send Authorization.'),
});

/** The metadata the API shows of an object it reads from Kubernetes. */
export const ObjectMetadataSchema = z.object({
  name: z.string(),
  namespace: z.string(),
  uid: z.string(),
  labels: z.record(z.string(), z.string()).optional(),
  creationTimestamp: z.string().optional(),
  resourceVersion: z.string().optional(),
});

/** An object of one of our kinds as Kubernetes holds it (kube/object-view.ts). */
export function objectSchema<const Kind extends string, Spec extends z.ZodType, Status extends z.ZodType>(kind: Kind, spec: Spec, status: Status) {
  return z.object({
    apiVersion: z.string(),
    kind: z.literal(kind),
    metadata: ObjectMetadataSchema.extend({ deletionTimestamp: z.string().optional() }),
    spec,
    status,
  }).describe(`A ${kind} as Kubernetes holds it.`);
}

export const TaskSchema = objectSchema('ClaudeTask', ClaudeTaskSpecSchema, ClaudeTaskStatusSchema);

export const EndedTaskSchema = TaskSchema.extend({
  result: z.string().nullable().describe('The full final text (status.result is only a short summary); null when the task did not succeed.'),
}).describe('A task that ended within ?wait, with its result text.');

export const TaskListSchema = z.object({
  items: z.array(TaskSchema),
  next: z.string().optional().describe('Pass as ?cursor= for the next page; absent on the last.'),
});

export const EventPageSchema = z.object({
  items: z.array(z.union([TaskEventRecordSchema, NormalizedEventSchema])).describe('Raw events; normalized ones with ?view=normalized.'),
  source: z.enum(['postgres', 'redis', 'postgres+redis']).describe(
    'Where this page came from: Postgres (what the operator has copied, seq 1 on), then the Redis stream after the last copied seq. '
    + 'An empty page says where the next events will come from: postgres once the task is finalized, redis while it runs.'),
  next: z.number().int().optional().describe('Pass as ?after= for the next page; absent when no more events are stored yet.'),
});

export const FileChangeSchema = z.object({ path: z.string(), tools: z.array(z.string()), changes: z.number().int() });

export const TaskResultSchema = z.object({
  phase: z.enum(taskPhases),
  finished: z.boolean(),
  result: z.string().nullable().describe('The final text (in full, from Postgres when stored).'),
  usage: UsageSchema.nullable(),
  filesChanged: z.array(FileChangeSchema),
});

export const StreamTicketSchema = z.object({ ticket: z.string(), expiresInSeconds: z.number().int() });

export const ProblemSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string().optional(),
  instance: z.string().optional(),
  requestId: z.string().optional(),
  issues: z.array(z.object({ path: z.string(), message: z.string(), code: z.string().optional() })).optional(),
}).describe('RFC 9457 problem details.');
