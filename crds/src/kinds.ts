// The registry of kinds: every custom resource this project defines, with what
// it takes to serve it. generate.ts renders one CRD per entry, write-crds.ts
// writes them, generated.test.ts checks they are current and install.ts
// installs them; ClaudeSession and ClaudePolicy become one entry each.
import type { z } from 'zod';
import { doesNotStartWith, exactlyOneOf, httpUrlNotLinkLocal, immutableExcept, matches, mutuallyExclusive, staysTrue, type CelRule } from './cel-rules.ts';
import { ClaudeTaskSpecSchema, ClaudeTaskStatusSchema, claudeTaskKind, claudeTaskPlural, group, version } from './claude-task.ts';
import { ClaudeCronTaskSpecSchema, ClaudeCronTaskStatusSchema, claudeCronTaskKind, claudeCronTaskPlural } from './claude-cron-task.ts';
import { ClaudeTaskTemplateSpecSchema, ClaudeTaskTemplateStatusSchema, claudeTaskTemplateKind, claudeTaskTemplatePlural } from './claude-task-template.ts';
import { ClaudePolicySpecSchema, ClaudePolicyStatusSchema, claudePolicyKind, claudePolicyPlural } from './claude-policy.ts';
import { ClaudeSessionSpecSchema, ClaudeSessionStatusSchema, claudeSessionKind, claudeSessionPlural } from './claude-session.ts';
import type { JsonSchema } from './structural.ts';

/** A column of `kubectl get` (additionalPrinterColumns); priority 1 shows with `-o wide` only. */
export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description?: string;
  priority?: number;
}

export interface KindDefinition {
  group: string;
  version: string;
  kind: string;
  plural: string;
  shortNames: string[];
  categories: string[];
  scope: 'Namespaced' | 'Cluster';
  /** What an object of the kind is, for kubectl explain. */
  description: string;
  spec: z.ZodObject;
  status: z.ZodObject;
  /** CEL rules by where they sit in the spec (`[]` steps into array items). */
  specRules: Record<string, (node: JsonSchema) => CelRule[]>;
  printerColumns: PrinterColumn[];
  /** Fields `--field-selector` can filter on, besides metadata.name and metadata.namespace (each must be a string, integer or boolean). */
  selectableFields: readonly string[];
  /** The model's file, named in the generated YAML's header. */
  source: string;
  /** The generated CRD's file name, in crds/ and in the chart's crds/. */
  file: string;
}

// git URLs a clone may use; not file:// (the node's disk) nor anything starting
// with '-', which git would read as an option.
const gitUrlPattern = '^((https?|ssh|git)://[^[:space:]/]+/[^[:space:]]+|[a-zA-Z0-9_][-._a-zA-Z0-9]*@[-.a-zA-Z0-9]+:[^[:space:]]+)$';

/** The rules of the agent's fields (agent-spec.ts), for every kind that has them. */
const agentFieldRules: KindDefinition['specRules'] = {
    'env[]': (env) => [mutuallyExclusive(env, ['value', 'valueFrom'])],
    'env[].valueFrom': (from) => [exactlyOneOf(from, ['secretKeyRef', 'configMapKeyRef'])],
    'envFrom[]': (from) => [exactlyOneOf(from, ['secretRef', 'configMapRef'])],
    'workspace.git': (git) => [
      matches(git, 'url', gitUrlPattern, 'must be an https://, http://, ssh:// or git:// URL, or user@host:path'),
      doesNotStartWith(git, 'ref', '-', 'must not start with \'-\''),
    ],
};

const promptOrTemplate: CelRule = {
  rule: 'has(self.prompt) || has(self.templateRef)',
  message: 'spec.prompt is required unless spec.templateRef names a template',
  reason: 'FieldValueRequired',
};

export const claudeTask: KindDefinition = {
  group,
  version,
  kind: claudeTaskKind,
  plural: claudeTaskPlural,
  shortNames: ['ctask'],
  categories: ['claude'],
  scope: 'Namespaced',
  description: 'ClaudeTask runs the Claude Code CLI once, as a Kubernetes workload, on the prompt in its spec.',
  spec: ClaudeTaskSpecSchema,
  status: ClaudeTaskStatusSchema,
  specRules: {
    '': (spec) => [
      immutableExcept(spec, ['cancel'], 'spec is immutable after creation; only spec.cancel may change'),
      staysTrue(spec, 'cancel', 'a cancelled task stays cancelled: spec.cancel cannot go from true back to false'),
      promptOrTemplate,
    ],
    ...agentFieldRules,
    'notify.webhooks[]': (webhook) => httpUrlNotLinkLocal(webhook, 'url'),
  },
  printerColumns: [
    { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
    { name: 'Model', type: 'string', jsonPath: '.status.model', description: 'The model the agent runs with' },
    { name: 'Turns', type: 'integer', jsonPath: '.status.usage.turns' },
    { name: 'Cost', type: 'string', jsonPath: '.status.usage.costUSD', description: 'US dollars' },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
    { name: 'Duration', type: 'string', jsonPath: '.status.duration' },
    // -o wide
    { name: 'Pod', type: 'string', jsonPath: '.status.podName', priority: 1 },
    { name: 'Attempts', type: 'integer', jsonPath: '.status.attempts', priority: 1 },
    { name: 'Reason', type: 'string', jsonPath: '.status.reason', priority: 1 },
  ],
  // kubectl get ctask --field-selector status.phase=Running (and the same in API list calls).
  selectableFields: ['.status.phase', '.status.reason', '.status.model', '.spec.model', '.spec.engine'],
  source: 'crds/src/claude-task.ts',
  file: 'claudetask.yaml',
};

export const claudeTaskTemplate: KindDefinition = {
  group,
  version,
  kind: claudeTaskTemplateKind,
  plural: claudeTaskTemplatePlural,
  shortNames: ['ctt'],
  categories: ['claude'],
  scope: 'Namespaced',
  description: 'ClaudeTaskTemplate is a reviewed ClaudeTask skeleton with declared parameters; a task names it in spec.templateRef.',
  spec: ClaudeTaskTemplateSpecSchema,
  status: ClaudeTaskTemplateStatusSchema,
  specRules: {},
  printerColumns: [
    { name: 'Description', type: 'string', jsonPath: '.spec.description' },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
  selectableFields: [],
  source: 'crds/src/claude-task-template.ts',
  file: 'claudetasktemplate.yaml',
};

export const claudeCronTask: KindDefinition = {
  group,
  version,
  kind: claudeCronTaskKind,
  plural: claudeCronTaskPlural,
  shortNames: ['ccron'],
  categories: ['claude'],
  scope: 'Namespaced',
  description: 'ClaudeCronTask makes a ClaudeTask on a schedule, as a CronJob makes Jobs.',
  spec: ClaudeCronTaskSpecSchema,
  status: ClaudeCronTaskStatusSchema,
  specRules: { 'taskTemplate.spec': () => [promptOrTemplate] },
  printerColumns: [
    { name: 'Schedule', type: 'string', jsonPath: '.spec.schedule' },
    { name: 'Suspend', type: 'boolean', jsonPath: '.spec.suspend' },
    { name: 'Active', type: 'integer', jsonPath: '.status.activeCount', description: 'Tasks made that have not ended' },
    { name: 'Last Schedule', type: 'date', jsonPath: '.status.lastScheduleTime' },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
  selectableFields: [],
  source: 'crds/src/claude-cron-task.ts',
  file: 'claudecrontask.yaml',
};

export const claudePolicy: KindDefinition = {
  group,
  version,
  kind: claudePolicyKind,
  plural: claudePolicyPlural,
  shortNames: ['cpol'],
  categories: ['claude'],
  scope: 'Cluster',
  description: 'ClaudePolicy sets the rules, concurrency and budgets of the agents in the namespaces it selects.',
  spec: ClaudePolicySpecSchema,
  status: ClaudePolicyStatusSchema,
  specRules: {},
  printerColumns: [
    { name: 'Namespaces', type: 'integer', jsonPath: '.status.namespaces', description: 'Namespaces the policy selects' },
    { name: 'Running', type: 'string', jsonPath: '.status.running', description: 'Tasks running / the limit' },
    { name: 'Spend', type: 'string', jsonPath: '.status.spend', description: 'US dollars spent this period / the budget' },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
  selectableFields: [],
  source: 'crds/src/claude-policy.ts',
  file: 'claudepolicy.yaml',
};

export const claudeSession: KindDefinition = {
  group,
  version,
  kind: claudeSessionKind,
  plural: claudeSessionPlural,
  shortNames: ['csess'],
  categories: ['claude'],
  scope: 'Namespaced',
  description: 'ClaudeSession is a multi-turn conversation with the Claude Code CLI in one workspace, on a volume, that resumes with its whole context; messages go in through the API.',
  spec: ClaudeSessionSpecSchema,
  status: ClaudeSessionStatusSchema,
  specRules: {
    ...agentFieldRules,
    workspace: (workspace) => [
      mutuallyExclusive(workspace, ['persistentVolumeClaim', 'size']),
      mutuallyExclusive(workspace, ['persistentVolumeClaim', 'storageClassName']),
      immutableExcept(workspace, ['retain'], 'spec.workspace is immutable after creation; only spec.workspace.retain may change'),
    ],
  },
  printerColumns: [
    { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
    { name: 'Model', type: 'string', jsonPath: '.status.model', description: 'The model the agent runs with' },
    { name: 'Messages', type: 'integer', jsonPath: '.status.messages', description: 'Messages answered' },
    { name: 'Cost', type: 'string', jsonPath: '.status.usage.costUSD', description: 'US dollars' },
    { name: 'Last Activity', type: 'date', jsonPath: '.status.lastActivityTime' },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
    // -o wide
    { name: 'Pod', type: 'string', jsonPath: '.status.podName', priority: 1 },
    { name: 'Turns', type: 'integer', jsonPath: '.status.turns', priority: 1 },
    { name: 'Reason', type: 'string', jsonPath: '.status.reason', priority: 1 },
  ],
  selectableFields: ['.status.phase', '.spec.model'],
  source: 'crds/src/claude-session.ts',
  file: 'claudesession.yaml',
};

/** Every kind, in the order their CRDs are written and installed. */
export const kinds: readonly KindDefinition[] = [claudeTask, claudeTaskTemplate, claudeCronTask, claudePolicy, claudeSession];
