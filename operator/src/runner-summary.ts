// The one-line JSON the runner leaves as its container's termination message
// (runner/README.md): how the operator learns the outcome, usage and session of
// an attempt without reading the event stream.
import { z } from 'zod';
import { UsageSchema } from '../../crds/src/claude-task.ts';

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
