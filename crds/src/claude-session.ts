// The ClaudeSession resource: a multi-turn conversation with an agent in one
// workspace. The agent's fields are ClaudeTask's (agent-spec.ts); a session adds
// how long it idles, when it is archived, and its volume. Messages are not in the
// resource: they go in through the API (a Redis stream the runner consumes) and
// their history is in Postgres. The phases are a written contract
// (SessionPhase below, and operator/README.md).
import { z } from 'zod';
import { agentFields, agentPodFields, GitWorkspaceSchema, dnsLabel } from './agent-spec.ts';
import { ConditionSchema, UsageSchema, type ResourceMetadata } from './claude-task.ts';

export const claudeSessionKind = 'ClaudeSession';
export const claudeSessionPlural = 'claudesessions';

export const defaultIdleTimeoutSeconds = 300;
/** The size of the PVC the operator makes when the session names none. */
export const defaultSessionVolumeSize = '1Gi';
/** The most a message's text may hold (the API answers 413 above it): a prompt's limit. */
export { maxPromptLength as maxMessageLength } from './agent-spec.ts';

const quantity = z.string().max(64).regex(/^[0-9.]+[a-zA-Z]*$/, 'must be a Kubernetes quantity such as 1Gi');

export const SessionWorkspaceSchema = z.object({
  git: GitWorkspaceSchema.optional(),
  persistentVolumeClaim: z.object({ claimName: dnsLabel.describe('Name of the PersistentVolumeClaim in the session\'s namespace.') }).optional()
    .describe('Keep the workspace and the CLI\'s state on this existing PVC; the operator never deletes it.'),
  size: quantity.optional()
    .describe(`Size of the PVC the operator makes for the session when persistentVolumeClaim is empty (default ${defaultSessionVolumeSize}).`),
  storageClassName: dnsLabel.optional().describe('StorageClass of the PVC the operator makes; the cluster\'s default when empty.'),
  retain: z.boolean().optional()
    .describe('Keep the PVC the operator made when the session is deleted or archived (it is deleted by default).'),
}).describe('Where the session works: a volume that holds the workspace and the CLI\'s $HOME/.claude across pods, cloned from git on first start if given.');

const { workspace: _taskWorkspace, maxTurns: _taskMaxTurns, ...sessionAgentFields } = agentFields;

export const ClaudeSessionSpecSchema = z.object({
  ...sessionAgentFields,
  maxTurns: z.number().int().min(1).max(1000).optional().describe('Stop answering one message after this many agent turns.'),
  workspace: SessionWorkspaceSchema.optional(),
  idleTimeoutSeconds: z.number().int().min(10).max(7 * 24 * 3600).optional()
    .describe(`Suspend the session (its pod exits) after this long with no turn in flight; default ${defaultIdleTimeoutSeconds}. A running turn always keeps it awake; an open WebSocket does not.`),
  suspend: z.boolean().optional().describe('Set to true to suspend the session now (its pod stops; a turn in flight is answered by the next pod); false lets messages wake it again.'),
  archiveAfterSeconds: z.number().int().min(60).max(365 * 24 * 3600).optional()
    .describe('After this long with no message, the session is Archived: its pod and the PVC the operator made go, its history stays in Postgres. Never when empty.'),
  ...agentPodFields,
}).describe('How the session\'s agent runs, and how long it idles. The agent\'s fields are ClaudeTask\'s.');

/**
 * Pending: accepted, no pod yet. Queued: a ClaudePolicy's maxSessionsPerUser holds it
 * (no pod; it starts when its creator has room). Starting: a pod is starting. Ready: the
 * pod waits for messages. Busy: a turn is in flight. Suspended: no pod; the next message starts one.
 * Failed: the session cannot run (a missing Secret, an activation that failed for good).
 * Archived: for good; only the history is left.
 */
export const sessionPhases = ['Pending', 'Queued', 'Starting', 'Ready', 'Busy', 'Suspended', 'Failed', 'Archived'] as const;
export type SessionPhase = (typeof sessionPhases)[number];
/** Phases that take no more messages (the API answers 409). */
export const closedSessionPhases: ReadonlySet<string> = new Set(['Failed', 'Archived']);

/** `kubectl wait --for=condition=<type>` works on each. */
export const sessionConditionTypes = ['Ready', 'Suspended'] as const;

export const SessionUsageSchema = UsageSchema.describe('Tokens, cost and agent turns of every message so far.');

export const ClaudeSessionStatusSchema = z.object({
  phase: z.enum(sessionPhases).optional().describe('Pending, Queued, Starting, Ready, Busy, Suspended, Failed or Archived.'),
  reason: z.string().max(1024).optional().describe('Why the session is in its phase, in one CamelCase word.'),
  message: z.string().max(1024).optional().describe('Why the session is in its phase, for people.'),
  conditions: z.array(ConditionSchema).max(16).optional()
    .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] })
    .describe('Ready (a pod is up and takes messages) and Suspended (no pod; the next message starts one).'),
  observedGeneration: z.number().int().min(0).optional().describe('The metadata.generation the operator last acted on.'),
  claudeSessionId: z.string().max(256).optional().describe('The Claude Code session id every pod of the session resumes.'),
  podName: z.string().max(253).optional().describe('The pod of the current activation.'),
  jobName: z.string().max(253).optional().describe('The Job of the current activation.'),
  activations: z.number().int().min(0).optional().describe('How many Jobs the session has started.'),
  messages: z.number().int().min(0).optional().describe('Messages answered so far.'),
  turns: z.number().int().min(0).optional().describe('Agent turns over all messages.'),
  usage: SessionUsageSchema.optional(),
  lastActivityTime: z.string().optional().describe('When the last message was accepted or answered (RFC 3339).'),
  activeTurn: z.string().max(128).optional().describe('The id of the message being answered now.'),
  workspacePVC: z.string().max(253).optional().describe('The PVC that holds the workspace and the CLI\'s state.'),
  model: z.string().max(256).optional().describe('The model the agent runs with.'),
}).describe('What the operator observed; written only by the operator.');

export type ClaudeSessionSpec = z.infer<typeof ClaudeSessionSpecSchema>;
export type ClaudeSessionStatus = z.infer<typeof ClaudeSessionStatusSchema>;

export interface ClaudeSession {
  apiVersion: 'claude-operator.io/v1alpha1';
  kind: typeof claudeSessionKind;
  metadata: ResourceMetadata;
  spec: ClaudeSessionSpec;
  status?: ClaudeSessionStatus;
}
