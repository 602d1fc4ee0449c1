// The one-line JSON the runner leaves as its container's termination message
// (podPaths.terminationLog, runner/README.md): how the operator learns the
// outcome, usage and session of an attempt without reading the event stream.
// The runner writes a TerminationSummary (runner/src/termination.ts shortens it
// to the 4096 bytes Kubernetes keeps); the operator reads it leniently, as a
// RunnerSummary, so a runner of another version still tells what it can.
import { z } from 'zod';
import { UsageSchema } from '../../../crds/src/claude-task.ts';
import { completionReasons, outcomes } from './task-events.ts';

/** What the runner writes. */
export const TerminationSummarySchema = z.object({
  outcome: z.enum(outcomes),
  exitCode: z.number().int(),
  message: z.string(),
  /** As in the terminal event: BudgetExceeded, ... or null. */
  reason: z.enum(completionReasons).nullable(),
  sessionId: z.string().nullable(),
  /** The model the engine reported (the CLI's init event), null when it never started. */
  model: z.string().nullable(),
  usage: UsageSchema.nullable(),
  /** The start of the result text; the whole text is in the event stream. */
  result: z.string().nullable(),
  resultTruncated: z.boolean(),
  attempt: z.number().int().nullable(),
  /** reason RateLimited: when the limit resets, if the run learnt it (task-events.ts). */
  rateLimitResetAt: z.string().nullable().optional(),
  /** The seq of the terminal event when it was written, else the last one written. */
  lastSeq: z.number().int(),
  /** Events Redis never got (0 unless Redis stayed unreachable through the flush wait). */
  unpublishedEvents: z.number().int(),
});

export type TerminationSummary = z.infer<typeof TerminationSummarySchema>;

/** What the operator reads: each field may be missing, unknown fields are kept. */
export const RunnerSummarySchema = z.object({
  outcome: z.string().nullish(),
  exitCode: z.number().int().nullish(),
  message: z.string().nullish(),
  result: z.string().nullish(),
  sessionId: z.string().nullish(),
  /** The model the CLI reported in its init event. */
  model: z.string().nullish(),
  /** Why an attempt failed, when the runner can tell (e.g. BudgetExceeded). */
  reason: z.string().nullish(),
  /** reason RateLimited: when the limit resets (RFC 3339), if the run learnt it. */
  rateLimitResetAt: z.string().nullish(),
  // The runner writes usage in the status's own shape, so it is copied as is.
  usage: UsageSchema.nullish(),
}).loose();

export type RunnerSummary = z.infer<typeof RunnerSummarySchema>;

/** Undefined for anything that is not the runner's summary (e.g. log lines). */
export function parseRunnerSummary(message: string | undefined): RunnerSummary | undefined {
  if (!message) return undefined;
  const line = message.trim().split('\n').pop() ?? '';
  try {
    const parsed = RunnerSummarySchema.safeParse(JSON.parse(line));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
