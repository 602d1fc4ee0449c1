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
  name: dnsLabel.describe('Name of the ConfigMap in the task\'s namespace.'),
  key: z.string().min(1).max(253).describe('Key in the ConfigMap.'),
});

export const EnvVarSchema = z.object({
  name: z.string().min(1).max(256).regex(/^[-._a-zA-Z][-._a-zA-Z0-9]*$/, 'must be a valid environment variable name')
    .describe('Name of the variable as the agent sees it.'),
  value: z.string().max(32 * 1024).optional().describe('The value; use valueFrom for secrets.'),
  valueFrom: z.object({
    secretKeyRef: z.object({
      name: dnsLabel.describe('Name of the Secret in the task\'s namespace.'),
      key: z.string().min(1).max(253).describe('Key in the Secret.'),
    }).optional().describe('Take the value from a key of a Secret.'),
    configMapKeyRef: ConfigMapKeySelectorSchema.optional().describe('Take the value from a key of a ConfigMap.'),
  }).optional().describe('Where the value comes from, instead of value: exactly one of secretKeyRef and configMapKeyRef.'),
}).describe('An environment variable for the agent, set directly or from a Secret or ConfigMap key.');

export const EnvFromSourceSchema = z.object({
  secretRef: z.object({ name: dnsLabel.describe('Name of the Secret in the task\'s namespace.') }).optional()
    .describe('Every key of this Secret becomes a variable.'),
  configMapRef: z.object({ name: dnsLabel.describe('Name of the ConfigMap in the task\'s namespace.') }).optional()
    .describe('Every key of this ConfigMap becomes a variable.'),
  prefix: z.string().max(64).optional().describe('Put before each key to make the variable\'s name.'),
}).describe('All keys of a Secret or ConfigMap as environment variables for the agent: exactly one of secretRef and configMapRef.');

export const GitWorkspaceSchema = z.object({
  url: z.string().min(1).max(2048).describe('Repository to clone (https://, ssh:// or git@host:path).'),
  ref: z.string().min(1).max(256).optional().describe('Branch, tag or commit; the remote HEAD when empty.'),
  credentialsSecretRef: z.object({ name: dnsLabel.describe('Name of the Secret in the task\'s namespace.') }).optional()
    .describe('Secret with `username`/`password` (https) or `ssh-privatekey` (ssh), used for the clone only.'),
}).describe('Clone this repository into the workspace before the agent starts.');

export const WorkspaceSchema = z.object({
  git: GitWorkspaceSchema.optional(),
  persistentVolumeClaim: z.object({ claimName: dnsLabel.describe('Name of the PersistentVolumeClaim in the task\'s namespace.') }).optional()
    .describe('Keep the workspace on this PVC instead of an emptyDir.'),
}).describe('Where the agent works: empty by default, or a clone of a git repository; optionally on a PVC.');

const quantity = z.string().max(64).regex(/^[0-9.]+[a-zA-Z]*$/, 'must be a Kubernetes quantity such as 500m or 1Gi');
export const ResourcesSchema = z.object({
  requests: boundedRecord(z.string().max(253), quantity, 16).optional().describe('Minimum resources by name, e.g. cpu: 500m, memory: 1Gi.'),
  limits: boundedRecord(z.string().max(253), quantity, 16).optional().describe('Maximum resources by name, e.g. memory: 2Gi.'),
}).describe('Compute resources of the agent\'s container, as in a Pod.');

/** What the pinned CLI's --permission-mode accepts (`default` is not in its --help but still taken, as `manual`). */
export const permissionModes = ['default', 'manual', 'acceptEdits', 'plan', 'auto', 'dontAsk', 'bypassPermissions'] as const;
export const engines = ['cli', 'api'] as const;
/** The pinned CLI's --effort levels. */
export const effortLevels = ['low', 'medium', 'high', 'xhigh', 'max'] as const;

// Values of the CLI's list options (--allowedTools, --add-dir): one starting with "-"
// would be read as an option, e.g. --dangerously-skip-permissions.
const notAnOption = /^[^-]/;
const toolName = z.string().min(1).max(256).regex(notAnOption, 'must not start with "-"');
const absolutePath = z.string().min(1).max(4096).regex(/^\//, 'must be an absolute path');
/** A positive amount of US dollars as a decimal string, e.g. 5.00 (CRDs have no float printer; costUSD is a string too). */
const positiveDollars = z.string().max(32)
  .regex(/^([0-9]*[1-9][0-9]*(\.[0-9]+)?|[0-9]+\.[0-9]*[1-9][0-9]*)$/, 'must be a decimal number of US dollars above 0, e.g. 5.00');
/** Any JSON object, kept as it is. */
const jsonObject = (maxProperties: number) => boundedRecord(z.string().max(253), z.unknown(), maxProperties);
/** The JSON Schema goes to the CLI as one argument (it takes no file); keep it well within one argv string. */
export const maxJsonSchemaBytes = 64 * 1024;

export const ClaudeTaskSpecSchema = z.object({
  prompt: z.string().min(1).max(maxPromptLength).describe('What the agent is asked to do. {{name}} is replaced by variables[name].'),
  variables: boundedRecord(z.string().max(253), z.string().max(32 * 1024), 64).optional()
    .describe('Values substituted into the prompt where it says {{name}}.'),
  engine: z.enum(engines).optional().describe('cli (default) runs the Claude Code CLI; api runs a plain Messages API conversation without tools.'),
  model: z.string().min(1).max(256).optional().describe('Claude model name or alias. When empty: the operator\'s default model (its DEFAULT_MODEL, the chart\'s operator.defaultModel), else the CLI\'s own default. status.model shows the model used.'),
  maxTurns: z.number().int().min(1).max(1000).optional().describe('Stop after this many agent turns.'),
  permissionMode: z.enum(permissionModes).optional().describe('The CLI\'s --permission-mode: what the agent may do without asking (nobody answers in a task, so what needs asking is denied). '
    + 'manual (or its older name default): only what allowedTools allows and read-only tools; acceptEdits: also file edits in the workspace; '
    + 'plan: read-only planning; auto: the CLI approves the actions it judges safe; dontAsk: only what allowedTools allows; '
    + 'bypassPermissions: everything (the pod is the sandbox).'),
  allowedTools: z.array(toolName).max(256).optional().describe('Tools the agent may use without asking (--allowedTools), e.g. Bash(git *), Edit.'),
  disallowedTools: z.array(toolName).max(256).optional().describe('Tools the agent may not use (--disallowedTools).'),
  systemPrompt: z.string().max(maxPromptLength).optional().describe('Replaces the default system prompt.'),
  appendSystemPrompt: z.string().max(maxPromptLength).optional().describe('Appended to the default system prompt.'),
  mcpServers: boundedRecord(z.string().max(253), boundedRecord(z.string().max(253), z.unknown(), 64), 32).optional()
    .describe('MCP servers by name, each configured as the CLI\'s --mcp-config takes it, e.g. {"command": "mcp-fs", "args": ["/workspace"]}.'),
  settings: jsonObject(64).optional()
    .describe('Claude Code settings for this task, as in a settings.json (--settings), e.g. {"permissions": {"deny": ["WebFetch"]}}.'),
  allowProjectSettings: z.boolean().optional()
    .describe('Let the workspace configure the agent: its .claude/settings.json and settings.local.json, .mcp.json, CLAUDE.md, skills and agents. '
      + 'Off by default: then only this spec configures the agent, whatever a cloned repository carries.'),
  addDirs: z.array(absolutePath).max(64).optional()
    .describe('More directories (absolute paths in the pod) the agent may read and edit besides the workspace (--add-dir).'),
  fallbackModel: z.string().min(1).max(1024).optional()
    .describe('Models to switch to when the model is overloaded (--fallback-model), comma-separated, in order.'),
  effort: z.enum(effortLevels).optional()
    .describe('How much effort the model spends (--effort); the CLI\'s default (medium) when empty. Models without effort levels ignore it.'),
  maxBudgetUSD: positiveDollars.optional()
    .describe('Stop an attempt once it has cost more than this many US dollars, e.g. "5.00" (--max-budget-usd): the task fails with reason '
      + 'BudgetExceeded, without a retry. Checked after each model call, so the cost can end a little above it.'),
  jsonSchema: jsonObject(64)
    .refine((schema) => new TextEncoder().encode(JSON.stringify(schema)).length <= maxJsonSchemaBytes,
      `must be at most ${maxJsonSchemaBytes} bytes as JSON`)
    .optional()
    .describe('A JSON Schema the answer must match (--json-schema), e.g. {"type": "object", "properties": {"name": {"type": "string"}}}: '
      + 'the result is then the validated JSON, and the task fails if Claude returns none.'),
  workspace: WorkspaceSchema.optional(),
  env: z.array(EnvVarSchema).max(128).optional().describe('Environment variables for the agent (as in a container).'),
  envFrom: z.array(EnvFromSourceSchema).max(32).optional().describe('Environment variables for the agent from whole Secrets or ConfigMaps.'),
  apiKeySecretRef: SecretKeySelectorSchema.optional()
    .describe('Secret holding the Anthropic API key (key defaults to api-key); the operator\'s default when empty.'),
  timeoutSeconds: z.number().int().min(1).max(7 * 24 * 3600).optional().describe('The task ends TimedOut after this long.'),
  retries: z.number().int().min(0).max(10).optional().describe('How many times a failed attempt is retried.'),
  ttlSecondsAfterFinished: z.number().int().min(0).max(365 * 24 * 3600).optional()
    .describe('Delete the finished task after this long; kept when empty.'),
  resources: ResourcesSchema.optional(),
  runtimeClassName: dnsLabel.optional().describe('RuntimeClass of the task\'s pod, e.g. gvisor for a stronger sandbox.'),
  cancel: z.boolean().optional().describe('Set to true to stop the task; it ends Cancelled. The only field that may change after creation.'),
}).describe('What the agent is asked to do and how it runs. Immutable after creation except cancel.');

export const taskPhases = ['Pending', 'Running', 'Succeeded', 'Failed', 'Cancelled', 'TimedOut'] as const;
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
  phase: z.enum(taskPhases).optional().describe('Pending, Running, or how the task ended: Succeeded, Failed, Cancelled, TimedOut.'),
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
