// The fields of an agent that every kind which runs one shares: ClaudeTask now,
// ClaudeSession next. Which model, tools and permissions, prompts, MCP servers
// and CLI settings; the workspace, environment and API key; the pod's resources
// and runtime class. A kind's spec is built from these (claude-task.ts) and adds
// what is its own (a task's prompt, timeout, retries, cancel).
import { z } from 'zod';

/** 100 KiB: a prompt is text a person or a program wrote, not a data set. */
export const maxPromptLength = 100 * 1024;

export const dnsLabel = z.string().min(1).max(253).regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a DNS subdomain name');

/**
 * A record with at most maxProperties entries, checked by zod and emitted as
 * maxProperties: the apiserver estimates the cost of the CRD's CEL rules from
 * such bounds (an unbounded map counts as big as a whole request).
 */
export function boundedRecord<K extends z.ZodString, V extends z.ZodType>(key: K, value: V, maxProperties: number) {
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
export const positiveDollars = z.string().max(32)
  .regex(/^([0-9]*[1-9][0-9]*(\.[0-9]+)?|[0-9]+\.[0-9]*[1-9][0-9]*)$/, 'must be a decimal number of US dollars above 0, e.g. 5.00');
/** Any JSON object, kept as it is. */
const jsonObject = (maxProperties: number) => boundedRecord(z.string().max(253), z.unknown(), maxProperties);
/** The JSON Schema goes to the CLI as one argument (it takes no file); keep it well within one argv string. */
export const maxJsonSchemaBytes = 64 * 1024;

/** What the agent is and may do, where it works, and the secrets it gets. */
export const agentFields = {
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
};

/** The agent's pod: its resources and runtime class. */
export const agentPodFields = {
  resources: ResourcesSchema.optional(),
  runtimeClassName: dnsLabel.optional().describe('RuntimeClass of the task\'s pod, e.g. gvisor for a stronger sandbox.'),
};

/**
 * Every agent field as one schema. Kinds spread agentFields and agentPodFields into
 * their spec rather than extend this: the spec's field order is the order of the
 * generated CRD YAML, and a kind puts its own fields in between.
 */
export const AgentSpecSchema = z.object({ ...agentFields, ...agentPodFields })
  .describe('How an agent runs: model, tools and permissions, prompts, MCP servers, CLI settings, workspace, environment, API key and pod.');

export type AgentSpec = z.infer<typeof AgentSpecSchema>;
