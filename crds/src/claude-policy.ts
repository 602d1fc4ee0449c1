// The ClaudePolicy resource: a platform team's rules for the agents of a group
// of namespaces. Cluster-scoped. The field names are issue 11's contract. The
// admission rules are enforced by the apiserver, through the
// ValidatingAdmissionPolicy the operator renders from each policy (with the
// policy as its param); concurrency and budgets by the operator.
import { z } from 'zod';
import { boundedRecord, dnsLabel, permissionModes, positiveDollars } from './agent-spec.ts';
import { ConditionSchema } from './claude-task.ts';

export const claudePolicyKind = 'ClaudePolicy';
export const claudePolicyPlural = 'claudepolicies';

const labelValue = z.string().max(63);
const labelKey = z.string().min(1).max(317);

/** metav1.LabelSelector */
export const LabelSelectorSchema = z.object({
  matchLabels: boundedRecord(labelKey, labelValue, 64).optional().describe('Labels a namespace must all have.'),
  matchExpressions: z.array(z.object({
    key: labelKey.describe('The label\'s key.'),
    operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']).describe('In, NotIn, Exists or DoesNotExist.'),
    values: z.array(labelValue).max(64).optional().describe('For In and NotIn: the values; empty for Exists and DoesNotExist.'),
  }).describe('A label requirement, as in metav1.LabelSelectorRequirement.')).max(32).optional()
    .describe('Requirements a namespace\'s labels must all meet.'),
}).describe('Which namespaces, as a metav1.LabelSelector; empty selects every namespace.');

export const AdmissionRulesSchema = z.object({
  allowedModels: z.array(z.string().min(1).max(256)).max(64).optional()
    .describe('The models a task may ask for in spec.model; empty allows any. A task without spec.model is allowed (the operator\'s default model).'),
  forbiddenPermissionModes: z.array(z.enum(permissionModes)).max(permissionModes.length).optional()
    .describe('Permission modes a task may not use, e.g. bypassPermissions.'),
  maxTurns: z.number().int().min(1).max(1000).optional().describe('The largest spec.maxTurns; also the default when a task sets none.'),
  maxTimeoutSeconds: z.number().int().min(1).max(7 * 24 * 3600).optional().describe('The largest spec.timeoutSeconds.'),
  maxBudgetUSD: positiveDollars.optional().describe('The largest spec.maxBudgetUSD, in US dollars as a decimal string, e.g. "5.00"; also the default.'),
  requireRuntimeClassName: dnsLabel.optional().describe('Tasks must run with this spec.runtimeClassName, e.g. gvisor.'),
  allowedGitHosts: z.array(z.string().min(1).max(253)).max(64).optional()
    .describe('Hosts a task may clone from (spec.workspace.git.url), e.g. github.com; empty allows any.'),
  allowMcpServers: z.boolean().optional().describe('false: tasks may not configure MCP servers (spec.mcpServers). Allowed when unset.'),
}).describe('Rules the apiserver enforces when a task is created; a refusal names the policy and the rule.');

export const ConcurrencySchema = z.object({
  maxTasksPerNamespace: z.number().int().min(1).max(100_000).optional().describe('Tasks running at once in one namespace; more wait Queued.'),
  maxTasksPerUser: z.number().int().min(1).max(100_000).optional().describe('Tasks running at once for one user (who created them); more wait Queued.'),
  maxSessionsPerUser: z.number().int().min(1).max(100_000).optional().describe('Sessions running at once for one user.'),
}).describe('How much runs at once; work over a limit waits with phase Queued (reason QuotaExceeded).');

export const BudgetSchema = z.object({
  scope: z.enum(['Namespace', 'User']).describe('Whose spending the budget limits: each namespace\'s, or each user\'s.'),
  period: z.enum(['Daily', 'Monthly']).describe('When the budget resets (UTC).'),
  maxCostUSD: positiveDollars.optional().describe('US dollars per period, as a decimal string, e.g. "500.00".'),
  maxTokens: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional().describe('Tokens per period: input (with prompt-cache reads and writes) and output.'),
}).describe('A spending limit per scope and period; once spent, new work waits Queued (reason BudgetExhausted).');

export const ClaudePolicySpecSchema = z.object({
  namespaceSelector: LabelSelectorSchema.optional(),
  admission: AdmissionRulesSchema.optional(),
  concurrency: ConcurrencySchema.optional(),
  budgets: z.array(BudgetSchema).max(16).optional().describe('Spending limits; every one applies.'),
  kueue: z.object({
    localQueueName: dnsLabel.describe('The Kueue LocalQueue the tasks\' Jobs are queued in.'),
  }).optional().describe('Admission by Kueue instead of the operator\'s concurrency limits.'),
}).describe('Rules for the agents in the namespaces it selects. Where several policies select a namespace, each applies: the strictest value of each rule wins.');

export const ClaudePolicyStatusSchema = z.object({
  observedGeneration: z.number().int().min(0).optional().describe('The metadata.generation the operator last acted on.'),
  conditions: z.array(ConditionSchema).max(16).optional()
    .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] })
    .describe('Ready: the admission policy and binding rendered from this policy are in place.'),
  namespaces: z.number().int().min(0).optional().describe('How many namespaces the policy selects.'),
  running: z.string().max(64).optional().describe('Tasks running in its namespaces, and the limit, e.g. 3/10.'),
  spend: z.string().max(64).optional().describe('Spending in the current period and the budget, in US dollars, e.g. 12.30/500.00.'),
}).describe('What the operator observed; written only by the operator.');

export type ClaudePolicySpec = z.infer<typeof ClaudePolicySpecSchema>;
export type ClaudePolicyStatus = z.infer<typeof ClaudePolicyStatusSchema>;
export type LabelSelector = z.infer<typeof LabelSelectorSchema>;

export interface ClaudePolicy {
  apiVersion: string;
  kind: typeof claudePolicyKind;
  metadata: { name?: string; uid?: string; generation?: number; resourceVersion?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: ClaudePolicySpec;
  status?: ClaudePolicyStatus;
}
