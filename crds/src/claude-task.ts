// The ClaudeTask resource: the one source of truth for the CRD's schema, the
// API's validation, the OpenAPI document and the TypeScript types.
// crds/src/generate.ts renders the CRD YAML from these schemas; the agent's
// fields, which ClaudeSession will share, are in agent-spec.ts.
import { z } from 'zod';
import { agentFields, agentPodFields, boundedRecord, maxPromptLength } from './agent-spec.ts';
import { NotificationStatusSchema, NotifySchema } from './notify.ts';

export const group = 'claude-operator.io';
export const version = 'v1alpha1';
export const claudeTaskKind = 'ClaudeTask';
export const claudeTaskPlural = 'claudetasks';

const shortText = z.string().max(1024);

export const TemplateRefSchema = z.object({
  name: z.string().min(1).max(253).describe('The ClaudeTaskTemplate\'s name.'),
}).describe('The template a task is made from; variables are its parameters\' values.');

export const ClaudeTaskSpecSchema = z.object({
  prompt: z.string().min(1).max(maxPromptLength).optional()
    .describe('What the agent is asked to do. {{name}} is replaced by variables[name]. Required unless templateRef names a template that has one.'),
  templateRef: TemplateRefSchema.optional()
    .describe('A ClaudeTaskTemplate in the task\'s namespace: its fields are resolved into the task once, on the operator\'s first pass (status.resolvedSpec); the task\'s own fields win.'),
  variables: boundedRecord(z.string().max(253), z.string().max(32 * 1024), 64).optional()
    .describe('Values substituted into the prompt where it says {{name}}.'),
  ...agentFields,
  timeoutSeconds: z.number().int().min(1).max(7 * 24 * 3600).optional().describe('The task ends TimedOut after this long.'),
  retries: z.number().int().min(0).max(10).optional().describe('How many times a failed attempt is retried.'),
  priority: z.number().int().min(-1000).max(1000).optional()
    .describe('Where the task goes in the queue when a ClaudePolicy\'s concurrency limit holds it (phase Queued): higher first, then oldest first; default 0.'),
  ttlSecondsAfterFinished: z.number().int().min(0).max(365 * 24 * 3600).optional()
    .describe('Delete the finished task after this long; kept when empty.'),
  ...agentPodFields,
  notify: NotifySchema.optional(),
  cancel: z.boolean().optional().describe('Set to true to stop the task; it ends Cancelled. The only field that may change after creation.'),
}).describe('What the agent is asked to do and how it runs. Immutable after creation except cancel.');

/** What a task made from a template runs: a spec with its prompt, no templateRef and no cancel (that stays in the task's spec). */
export const ResolvedTaskSpecSchema = ClaudeTaskSpecSchema.omit({ templateRef: true, cancel: true })
  .extend({ prompt: z.string().min(1).max(maxPromptLength).describe('What the agent is asked to do.') });

export const taskPhases = ['Pending', 'Queued', 'Running', 'Succeeded', 'Failed', 'Cancelled', 'TimedOut'] as const;
export const terminalPhases: ReadonlySet<string> = new Set(['Succeeded', 'Failed', 'Cancelled', 'TimedOut']);

/** metav1.Condition */
export const ConditionSchema = z.object({
  type: z.string().min(1).max(316).describe('What the condition is about, e.g. Accepted.'),
  status: z.enum(['True', 'False', 'Unknown']).describe('True, False or Unknown.'),
  observedGeneration: z.number().int().min(0).optional().describe('The metadata.generation the condition was set for.'),
  lastTransitionTime: z.string().describe('When the status last changed (RFC 3339).'),
  reason: z.string().min(1).max(1024).describe('Why, in one CamelCase word.'),
  message: z.string().max(32 * 1024).describe('Why, for people.'),
}).describe('One aspect of the task\'s state, as in metav1.Condition.');

export const UsageSchema = z.object({
  inputTokens: z.number().int().min(0).optional().describe('Input tokens, without those read from or written to the prompt cache.'),
  outputTokens: z.number().int().min(0).optional().describe('Output tokens.'),
  cacheReadInputTokens: z.number().int().min(0).optional().describe('Input tokens read from the prompt cache.'),
  cacheCreationInputTokens: z.number().int().min(0).optional().describe('Input tokens written to the prompt cache.'),
  costUSD: z.string().max(32).optional().describe('Cost in US dollars as a decimal string (CRDs have no float printer).'),
  turns: z.number().int().min(0).optional().describe('Agent turns (model calls that the agent acted on).'),
}).describe('Tokens, cost and turns of the last attempt, as the CLI reported them.');

/** The condition types a task reports; `kubectl wait --for=condition=<type>` works on each. */
export const taskConditionTypes = ['Accepted', 'Running', 'Succeeded', 'Finished'] as const;

export const ClaudeTaskStatusSchema = z.object({
  phase: z.enum(taskPhases).optional().describe('Pending; Queued (held without a Job: a ClaudePolicy\'s concurrency limit, reason QuotaExceeded, the message gives its place; a spent budget, BudgetExhausted; or the Messages API\'s rate limit on its API-key Secret, RateLimited, until the reset); Running; or how the task ended: Succeeded, Failed, Cancelled, TimedOut.'),
  reason: z.string().max(1024).optional().describe('Why the task is in its phase, in one CamelCase word (e.g. Running, BackoffLimitExceeded, APIKeySecretMissing).'),
  // A list-map keyed by type, as metav1.Condition lists are: a server-side apply owns one condition, not the list.
  conditions: z.array(ConditionSchema).max(16).optional()
    .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] })
    .describe(`Accepted (the task has a Job), Running, Succeeded (True on success; False with the reason on failure, timeout or cancel; Unknown until then) and Finished.`),
  observedGeneration: z.number().int().min(0).optional().describe('The metadata.generation the operator last acted on.'),
  startTime: z.string().optional().describe('When the first attempt started (RFC 3339).'),
  completionTime: z.string().optional().describe('When the task ended (RFC 3339).'),
  duration: z.string().max(64).optional().describe('How long the task ran, e.g. 1m32s; shown by kubectl.'),
  attempts: z.number().int().min(0).optional().describe('How many attempts have started (1 plus the retries so far).'),
  jobName: z.string().max(253).optional().describe('The Job that runs the task.'),
  podName: z.string().max(253).optional().describe('The pod of the latest attempt.'),
  model: z.string().max(256).optional().describe('The model the agent runs with: what the CLI reported once it started, before that the requested one (spec.model or the operator\'s default).'),
  claudeSessionId: z.string().max(256).optional().describe('The Claude Code session id of the latest attempt.'),
  result: z.string().max(4096).optional().describe('A short summary; the full text is in Postgres.'),
  usage: UsageSchema.optional(),
  exitCode: z.number().int().optional().describe('The runner\'s exit code of the latest attempt (see runner/README.md).'),
  message: shortText.optional().describe('Why the task is in its phase, for people.'),
  template: z.object({
    name: z.string().max(253).describe('The ClaudeTaskTemplate\'s name.'),
    resourceVersion: z.string().max(64).describe('The version of the template that was resolved; later edits do not change the task.'),
  }).optional().describe('The template spec.templateRef named, as it was when the task was resolved.'),
  resolvedSpec: ResolvedTaskSpecSchema.optional()
    .describe('The spec a task made from a template runs: the template\'s fields with the task\'s own over them, and the parameters\' values (defaults filled in) as variables. Set once.'),
  notifications: z.array(NotificationStatusSchema).max(8).optional().describe('The completion webhooks\' delivery, one per webhook called.'),
}).describe('What the operator observed; written only by the operator.');

export type ClaudeTaskSpec = z.infer<typeof ClaudeTaskSpecSchema>;
export type ResolvedTaskSpec = z.infer<typeof ResolvedTaskSpecSchema>;
export type ClaudeTaskStatus = z.infer<typeof ClaudeTaskStatusSchema>;
export type TaskPhase = (typeof taskPhases)[number];
export type Condition = z.infer<typeof ConditionSchema>;

/** The requesting user's name, as the apiserver authenticated it at creation: stamped by an
 * admission policy nobody can bypass; budgets and per-user limits count against it. */
export const createdByAnnotation = 'claude-operator.io/created-by';

/** The metadata of an object of one of our kinds, as the operator and the API read it. */
export interface ResourceMetadata {
  name?: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: string | Date;
  deletionTimestamp?: string | Date;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: Array<{ apiVersion: string; kind: string; name: string; uid: string; controller?: boolean; blockOwnerDeletion?: boolean }>;
}

export interface ClaudeTask {
  apiVersion: `${typeof group}/${typeof version}`;
  kind: typeof claudeTaskKind;
  metadata: ResourceMetadata;
  spec: ClaudeTaskSpec;
  status?: ClaudeTaskStatus;
}
