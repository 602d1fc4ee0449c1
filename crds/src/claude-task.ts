// The ClaudeTask resource: the one source of truth for the CRD's schema, the
// API's validation, the OpenAPI document and the TypeScript types.
// crds/src/generate.ts renders the CRD YAML from these schemas.
import { z } from 'zod';

export const group = 'claude-operator.io';
export const version = 'v1alpha1';
export const claudeTaskKind = 'ClaudeTask';
export const claudeTaskPlural = 'claudetasks';

/** 100 KiB: a prompt is text a person or a program wrote, not a data set. */
export const maxPromptLength = 100 * 1024;

const dnsLabel = z.string().min(1).max(253).regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a DNS subdomain name');
const shortText = z.string().max(1024);

/**
 * A record with at most maxProperties entries, checked by zod and emitted as
 * maxProperties: the apiserver estimates the cost of the CRD's CEL rules from
 * such bounds (an unbounded map counts as big as a whole request).
 */
function boundedRecord<K extends z.ZodString, V extends z.ZodType>(key: K, value: V, maxProperties: number) {
  return z.record(key, value)
    .refine((record) => Object.keys(record).length <= maxProperties, `must have at most ${maxProperties} entries`)
    .meta({ maxProperties });
}

export const SecretKeySelectorSchema = z.object({
  name: dnsLabel.describe('Name of the Secret in the task\'s namespace.'),
  key: z.string().min(1).max(253).optional().describe('Key in the Secret; each reference documents its default.'),
});

export const ConfigMapKeySelectorSchema = z.object({
  name: dnsLabel,
  key: z.string().min(1).max(253),
});

export const EnvVarSchema = z.object({
  name: z.string().min(1).max(256).regex(/^[-._a-zA-Z][-._a-zA-Z0-9]*$/, 'must be a valid environment variable name'),
  value: z.string().max(32 * 1024).optional(),
  valueFrom: z.object({
    secretKeyRef: z.object({ name: dnsLabel, key: z.string().min(1).max(253) }).optional(),
    configMapKeyRef: ConfigMapKeySelectorSchema.optional(),
  }).optional(),
}).describe('An environment variable for the agent, set directly or from a Secret or ConfigMap key.');

export const EnvFromSourceSchema = z.object({
  secretRef: z.object({ name: dnsLabel }).optional(),
  configMapRef: z.object({ name: dnsLabel }).optional(),
  prefix: z.string().max(64).optional(),
});

export const GitWorkspaceSchema = z.object({
  url: z.string().min(1).max(2048).describe('Repository to clone (https://, ssh:// or git@host:path).'),
  ref: z.string().min(1).max(256).optional().describe('Branch, tag or commit; the remote HEAD when empty.'),
  credentialsSecretRef: z.object({ name: dnsLabel }).optional()
    .describe('Secret with `username`/`password` (https) or `ssh-privatekey` (ssh).'),
});

export const WorkspaceSchema = z.object({
  git: GitWorkspaceSchema.optional(),
  persistentVolumeClaim: z.object({ claimName: dnsLabel }).optional()
    .describe('Keep the workspace on this PVC instead of an emptyDir.'),
}).describe('Where the agent works: empty by default, or a clone of a git repository; optionally on a PVC.');

const quantity = z.string().max(64).regex(/^[0-9.]+[a-zA-Z]*$/, 'must be a Kubernetes quantity such as 500m or 1Gi');
export const ResourcesSchema = z.object({
  requests: boundedRecord(z.string().max(253), quantity, 16).optional(),
  limits: boundedRecord(z.string().max(253), quantity, 16).optional(),
}).describe('Compute resources of the agent\'s container, as in a Pod.');

export const permissionModes = ['default', 'acceptEdits', 'plan', 'bypassPermissions'] as const;
export const engines = ['cli', 'api'] as const;

const toolName = z.string().min(1).max(256);

export const ClaudeTaskSpecSchema = z.object({
  prompt: z.string().min(1).max(maxPromptLength).describe('What the agent is asked to do. {{name}} is replaced by variables[name].'),
  variables: boundedRecord(z.string().max(253), z.string().max(32 * 1024), 64).optional()
    .describe('Values substituted into the prompt where it says {{name}}.'),
  engine: z.enum(engines).optional().describe('cli (default) runs the Claude Code CLI; api runs a plain Messages API conversation without tools.'),
  model: z.string().min(1).max(256).optional().describe('Claude model name or alias. When empty: the operator\'s default model (its DEFAULT_MODEL, the chart\'s operator.defaultModel), else the CLI\'s own default. status.model shows the model used.'),
  maxTurns: z.number().int().min(1).max(1000).optional().describe('Stop after this many agent turns.'),
  permissionMode: z.enum(permissionModes).optional().describe('The CLI\'s --permission-mode.'),
  allowedTools: z.array(toolName).max(256).optional().describe('Tools the agent may use without asking (--allowedTools).'),
  disallowedTools: z.array(toolName).max(256).optional().describe('Tools the agent may not use (--disallowedTools).'),
  systemPrompt: z.string().max(maxPromptLength).optional().describe('Replaces the default system prompt.'),
  appendSystemPrompt: z.string().max(maxPromptLength).optional().describe('Appended to the default system prompt.'),
  mcpServers: boundedRecord(z.string().max(253), boundedRecord(z.string().max(253), z.unknown(), 64), 32).optional()
    .describe('MCP servers by name, each configured as the CLI\'s --mcp-config takes it.'),
  workspace: WorkspaceSchema.optional(),
  env: z.array(EnvVarSchema).max(128).optional(),
  envFrom: z.array(EnvFromSourceSchema).max(32).optional(),
  apiKeySecretRef: SecretKeySelectorSchema.optional()
    .describe('Secret holding the Anthropic API key (key defaults to api-key); the operator\'s default when empty.'),
  timeoutSeconds: z.number().int().min(1).max(7 * 24 * 3600).optional().describe('The task ends TimedOut after this long.'),
  retries: z.number().int().min(0).max(10).optional().describe('How many times a failed attempt is retried.'),
  ttlSecondsAfterFinished: z.number().int().min(0).max(365 * 24 * 3600).optional()
    .describe('Delete the finished task after this long; kept when empty.'),
  resources: ResourcesSchema.optional(),
  runtimeClassName: dnsLabel.optional(),
  cancel: z.boolean().optional().describe('Set to true to stop the task; it ends Cancelled. The only field that may change after creation.'),
}).describe('What the agent is asked to do and how it runs. Immutable after creation except cancel.');

export const taskPhases = ['Pending', 'Running', 'Succeeded', 'Failed', 'Cancelled', 'TimedOut'] as const;
export const terminalPhases: ReadonlySet<string> = new Set(['Succeeded', 'Failed', 'Cancelled', 'TimedOut']);

/** metav1.Condition */
export const ConditionSchema = z.object({
  type: z.string().min(1).max(316),
  status: z.enum(['True', 'False', 'Unknown']),
  observedGeneration: z.number().int().min(0).optional(),
  lastTransitionTime: z.string().describe('RFC 3339 time'),
  reason: z.string().min(1).max(1024),
  message: z.string().max(32 * 1024),
});

export const UsageSchema = z.object({
  inputTokens: z.number().int().min(0).optional(),
  outputTokens: z.number().int().min(0).optional(),
  cacheReadInputTokens: z.number().int().min(0).optional(),
  cacheCreationInputTokens: z.number().int().min(0).optional(),
  costUSD: z.string().max(32).optional().describe('Cost in US dollars as a decimal string (CRDs have no float printer).'),
  turns: z.number().int().min(0).optional(),
});

/** The condition types a task reports; `kubectl wait --for=condition=<type>` works on each. */
export const taskConditionTypes = ['Accepted', 'Running', 'Succeeded', 'Finished'] as const;

export const ClaudeTaskStatusSchema = z.object({
  phase: z.enum(taskPhases).optional(),
  reason: z.string().max(1024).optional().describe('Why the task is in its phase, in one CamelCase word (e.g. Running, BackoffLimitExceeded, APIKeySecretMissing).'),
  // A list-map keyed by type, as metav1.Condition lists are: a server-side apply owns one condition, not the list.
  conditions: z.array(ConditionSchema).max(16).optional()
    .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] })
    .describe(`Accepted (the task has a Job), Running, Succeeded (True on success; False with the reason on failure, timeout or cancel; Unknown until then) and Finished.`),
  observedGeneration: z.number().int().min(0).optional(),
  startTime: z.string().optional(),
  completionTime: z.string().optional(),
  duration: z.string().max(64).optional().describe('How long the task ran, e.g. 1m32s; shown by kubectl.'),
  attempts: z.number().int().min(0).optional(),
  jobName: z.string().max(253).optional(),
  podName: z.string().max(253).optional(),
  model: z.string().max(256).optional().describe('The model the agent runs with: what the CLI reported once it started, before that the requested one (spec.model or the operator\'s default).'),
  claudeSessionId: z.string().max(256).optional(),
  result: z.string().max(4096).optional().describe('A short summary; the full text is in Postgres.'),
  usage: UsageSchema.optional(),
  exitCode: z.number().int().optional(),
  message: shortText.optional(),
}).describe('What the operator observed; written only by the operator.');

export type ClaudeTaskSpec = z.infer<typeof ClaudeTaskSpecSchema>;
export type ClaudeTaskStatus = z.infer<typeof ClaudeTaskStatusSchema>;
export type TaskPhase = (typeof taskPhases)[number];
export type Condition = z.infer<typeof ConditionSchema>;

export interface ClaudeTask {
  apiVersion: `${typeof group}/${typeof version}`;
  kind: typeof claudeTaskKind;
  metadata: {
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
  };
  spec: ClaudeTaskSpec;
  status?: ClaudeTaskStatus;
}
