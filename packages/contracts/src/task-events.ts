// What a task's events are, wherever they are kept: the Redis Stream, the
// claude_task_events table, the REST history and the WebSocket all carry the
// same record, `{seq, type, data, time}`. Its `data` is a CLI event as the CLI
// wrote it, or one of the runner's own events (type `runner.*`), declared here
// as zod schemas: the runner writes them, the operator and the API read them.
import { z } from 'zod';
import { engines } from '../../../crds/src/agent-spec.ts';
import { UsageSchema } from '../../../crds/src/claude-task.ts';

/** An event as the runner publishes it: a CLI event as the CLI wrote it, or one of the runner's own. */
export interface TaskEvent {
  type: string;
  [key: string]: unknown;
}

export const TaskEventRecordSchema = z.object({
  seq: z.number().int().min(1),
  type: z.string(),
  time: z.string(),
  data: z.unknown().describe('The event as the runner wrote it.'),
  messageId: z.string().optional().describe('A session\'s events only: the message whose turn the event belongs to.'),
});

/**
 * One event of a task's history. `seq` is 1, 2, ... without gaps across all
 * attempts of the task; `data` is the event object (it includes `type`); `time`
 * (ISO 8601) is when the runner took it.
 */
export type TaskEventRecord<Data = unknown> = Omit<z.infer<typeof TaskEventRecordSchema>, 'data'> & { data: Data };

export const outcomes = ['succeeded', 'failed', 'cancelled'] as const;
export type Outcome = (typeof outcomes)[number];

/** The `usage` of the task status, so the operator can copy it as is. */
export type TaskUsage = z.infer<typeof UsageSchema>;

/**
 * Why an attempt failed, when the runner can say it in a word (the operator may use
 * it as a condition reason); null otherwise:
 * - BudgetExceeded: the run cost more than spec.maxBudgetUSD (the CLI's error_max_budget_usd).
 * - MaxTurnsExceeded: spec.maxTurns ran out (error_max_turns).
 * - StructuredOutputMissing: spec.jsonSchema was given, but Claude returned no output matching it.
 * - RateLimited: the Messages API answered 429 and the CLI gave up retrying (exit code rateLimited); not final:
 *   the operator runs the task again after the reset.
 * - OOMKilled: the kernel's OOM killer took a process in the container (the memory limit), and the runner stopped
 *   the run (exit code oomKilled); the kubelet reports the container OOMKilled too.
 */
export const completionReasons = ['BudgetExceeded', 'MaxTurnsExceeded', 'StructuredOutputMissing', 'RateLimited', 'OOMKilled'] as const;
export type CompletionReason = (typeof completionReasons)[number];

/** The runner's own event types start with this; every other type is the CLI's. */
export const runnerEventPrefix = 'runner.';

/** First in every attempt. */
export const RunnerStartedEventSchema = z.object({
  type: z.literal('runner.started'),
  namespace: z.string(),
  name: z.string(),
  uid: z.string(),
  attempt: z.number().int().nullable(),
  /** Missing when the spec could not be read. */
  engine: z.enum(engines).optional(),
  /** spec.model. */
  model: z.string().nullable().optional(),
  promptLength: z.number().int().optional(),
});

/** After a git clone. */
export const RunnerWorkspaceReadyEventSchema = z.object({
  type: z.literal('runner.workspace_ready'),
  /** The repository URL without its credentials. */
  git: z.string(),
  ref: z.string().nullable(),
});

/** A line the CLI wrote to stderr (its start). */
export const RunnerCliStderrEventSchema = z.object({
  type: z.literal('runner.cli_stderr'),
  line: z.string(),
});

/** A stdout line of the CLI that was not a JSON object with a `type`. */
export const RunnerMalformedLineEventSchema = z.object({
  type: z.literal('runner.malformed_line'),
  error: z.string(),
  line: z.string(),
  truncated: z.boolean(),
});

/** The last event of every attempt. Fields without a value are null, never missing. */
export const RunnerCompletedEventSchema = z.object({
  type: z.literal('runner.completed'),
  outcome: z.enum(outcomes),
  /** The runner's own exit code (pod-contract.ts, runner/README.md). */
  exitCode: z.number().int(),
  /** Human-readable: why it failed, or a short success note. */
  message: z.string(),
  /** Machine-readable: why it failed (see completionReasons), else null. */
  reason: z.enum(completionReasons).nullable(),
  /** The final answer text (with spec.jsonSchema: the validated JSON); null when the run did not succeed. */
  result: z.string().nullable(),
  usage: UsageSchema.nullable(),
  sessionId: z.string().nullable(),
  /** The model the CLI's init event names (engine api: the model it called); null before the engine started. */
  model: z.string().nullable(),
  /** reason RateLimited only: when the API said the limit resets (RFC 3339), as far as the run learnt it
   * (the CLI's last api_retry for a 429: its time plus retry_delay_ms); null when the CLI gave up at once. */
  rateLimitResetAt: z.string().nullable().optional(),
});

/** How a session's turn ended. */
export const turnOutcomes = ['answered', 'interrupted', 'failed'] as const;
export type TurnOutcome = (typeof turnOutcomes)[number];

/** A session's pod took a message and starts its turn; first event of the turn. */
export const RunnerTurnStartedEventSchema = z.object({
  type: z.literal('runner.turn_started'),
  messageId: z.string(),
  /** How often the inbox has handed this message out: above 1 after a pod was lost mid-turn. */
  delivery: z.number().int().min(1),
  textLength: z.number().int().min(0),
});

/** Last event of a session's turn: the answer. Stored in Postgres before the message is acknowledged. */
export const RunnerTurnCompletedEventSchema = z.object({
  type: z.literal('runner.turn_completed'),
  messageId: z.string(),
  outcome: z.enum(turnOutcomes),
  /** The final assistant text; null when the turn was interrupted or failed. */
  result: z.string().nullable(),
  /** The CLI's result subtype (success, error_max_turns, ...), or interrupted. */
  stopReason: z.string().nullable(),
  /** Why it failed, for people; null when answered. */
  message: z.string().nullable(),
  usage: UsageSchema.nullable(),
  sessionId: z.string().nullable(),
  model: z.string().nullable(),
  /** The seq of the turn's runner.turn_started. */
  firstSeq: z.number().int().min(1),
});

/** A session's pod stops taking messages: idle for idleTimeoutSeconds, or stopped (suspend, delete, eviction). */
export const RunnerSessionEndedEventSchema = z.object({
  type: z.literal('runner.session_ended'),
  reason: z.enum(['Idle', 'Stopped', 'Failed']),
  message: z.string(),
});

export const RunnerEventSchema = z.discriminatedUnion('type', [
  RunnerStartedEventSchema, RunnerWorkspaceReadyEventSchema, RunnerCliStderrEventSchema, RunnerMalformedLineEventSchema,
  RunnerCompletedEventSchema, RunnerTurnStartedEventSchema, RunnerTurnCompletedEventSchema, RunnerSessionEndedEventSchema,
]);

/** A CLI event, passed through as it is: any type but the runner's (a later CLI may add types). */
export const CliEventSchema = z.object({
  type: z.string().refine((type) => !type.startsWith(runnerEventPrefix), `${runnerEventPrefix}* types are the runner's`),
}).loose();

/** Every event a task's stream may hold. */
export const TaskEventSchema = z.union([RunnerEventSchema, CliEventSchema]);

// Types, not interfaces, so that they are assignable to TaskEvent's index signature.
export type RunnerStartedEvent = z.infer<typeof RunnerStartedEventSchema>;
export type RunnerWorkspaceReadyEvent = z.infer<typeof RunnerWorkspaceReadyEventSchema>;
export type RunnerCliStderrEvent = z.infer<typeof RunnerCliStderrEventSchema>;
export type RunnerMalformedLineEvent = z.infer<typeof RunnerMalformedLineEventSchema>;
export type RunnerCompletedEvent = z.infer<typeof RunnerCompletedEventSchema>;
export type RunnerTurnStartedEvent = z.infer<typeof RunnerTurnStartedEventSchema>;
export type RunnerTurnCompletedEvent = z.infer<typeof RunnerTurnCompletedEventSchema>;
export type RunnerSessionEndedEvent = z.infer<typeof RunnerSessionEndedEventSchema>;
export type RunnerEvent = z.infer<typeof RunnerEventSchema>;
