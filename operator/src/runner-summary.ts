// The one-line JSON the runner leaves as its container's termination message
// (runner/README.md): how the operator learns the outcome, usage and session of
// an attempt without reading the event stream.
import { z } from 'zod';

export const RunnerSummarySchema = z.object({
  outcome: z.string().optional(),
  exitCode: z.number().int().optional(),
  message: z.string().optional(),
  result: z.string().optional(),
  sessionId: z.string().optional(),
  usage: z.object({
    inputTokens: z.number().optional(),
    outputTokens: z.number().optional(),
    cacheReadInputTokens: z.number().optional(),
    cacheCreationInputTokens: z.number().optional(),
    costUsd: z.number().optional(),
    turns: z.number().optional(),
  }).partial().optional(),
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
