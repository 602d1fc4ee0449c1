// How an engine run ends up: the terminal `runner.completed` event, decided by
// one pure function from what the run left behind.
import { runnerExitCodes } from '../../packages/contracts/src/pod-contract.ts';
import type { CompletionReason, RunnerCompletedEvent } from '../../packages/contracts/src/task-events.ts';
import { formatBytes, type OomKill } from './oom-watch.ts';
import type { CliResult } from './stream-json.ts';

export interface EngineRunOutcome {
  sessionId: string | undefined;
  /** The model the engine reported it runs with. */
  model: string | undefined;
  result: CliResult | undefined;
  /** spec.jsonSchema was given: success needs the CLI's structured output, which becomes the result. */
  expectsStructuredOutput: boolean;
  /** The stop signal (SIGTERM) came before the run ended. */
  stopped: boolean;
  /** The kernel's OOM killer took a process in the container while the engine ran (oom-watch.ts); the runner then stopped it. */
  oomKill?: OomKill | undefined;
  /** When the CLI's last retry after a 429 was due (CliRunSummary.rateLimitRetryDue). */
  rateLimitRetryDue?: Date | undefined;
  /** The CLI's exit; undefined for the api engine. */
  process?: {
    exitCode: number | null;
    signal: NodeJS.Signals | null;
    spawnError: Error | undefined;
    stderrTail: string[];
    cliPath: string;
  };
}

export function completionOf(run: EngineRunOutcome): RunnerCompletedEvent {
  const done = (outcome: RunnerCompletedEvent['outcome'], exitCode: number, message: string,
    reason: CompletionReason | null = null, result: string | null = null): RunnerCompletedEvent => ({
    type: 'runner.completed',
    outcome,
    exitCode,
    message,
    reason,
    result,
    usage: run.result?.usage ?? null,
    sessionId: run.sessionId ?? null,
    model: run.model ?? null,
  });
  // First: whatever the agent made of its killed command, the container went past its limit.
  if (run.oomKill) {
    const limit = run.oomKill.limitBytes === undefined ? 'its memory limit' : `its memory limit (${formatBytes(run.oomKill.limitBytes)})`;
    const processes = run.oomKill.kills === 1 ? 'a process' : `${run.oomKill.kills} processes`;
    return done('failed', runnerExitCodes.oomKilled,
      `The container went past ${limit}: the kernel's OOM killer took ${processes} in it (e.g. a command the Bash tool ran), ` +
      'and the runner stopped Claude. Raise spec.resources.limits.memory, or ask for less.', 'OOMKilled');
  }
  const proc = run.process;
  const cleanExit = proc === undefined || (proc.exitCode === 0 && proc.signal === null);
  if (run.result && !run.result.isError && cleanExit) {
    if (!run.expectsStructuredOutput) return done('succeeded', runnerExitCodes.succeeded, 'Claude finished the task.', null, run.result.text ?? null);
    // The CLI ends `success` even when the model never produced output the schema accepts.
    if (run.result.structuredOutput !== undefined) {
      return done('succeeded', runnerExitCodes.succeeded, 'Claude finished the task.', null, JSON.stringify(run.result.structuredOutput));
    }
    return done('failed', runnerExitCodes.taskFailed, 'Claude finished without returning output that matches spec.jsonSchema.', 'StructuredOutputMissing');
  }
  if (run.stopped) return done('cancelled', runnerExitCodes.cancelled, 'Stopped by SIGTERM (cancelled, timed out or evicted) before Claude finished.');
  if (proc?.spawnError) {
    return done('failed', runnerExitCodes.invalid, `The Claude CLI could not be started (${proc.cliPath}): ${proc.spawnError.message}`);
  }
  const result = run.result;
  if (result?.subtype === 'error_max_budget_usd') {
    // Its own exit code: another attempt would spend the budget again.
    return done('failed', runnerExitCodes.budgetExceeded,
      `Claude stopped when the run had cost ${result.usage.costUSD ?? 'more than the budget in'} US dollars (spec.maxBudgetUSD) without finishing.`,
      'BudgetExceeded');
  }
  if (result?.apiErrorStatus === 429) {
    // Its own exit code: not final for the task, the operator runs it again once the API-key's limit resets.
    const resetAt = run.rateLimitRetryDue?.toISOString() ?? null;
    return { ...done('failed', runnerExitCodes.rateLimited,
      `The Messages API rate-limited the run (429) and the CLI gave up retrying${resetAt ? ` (last retry was due at ${resetAt})` : ''}: ${result.text ?? 'no message'}`,
      'RateLimited'), rateLimitResetAt: resetAt };
  }
  if (result?.subtype === 'error_max_turns') {
    return done('failed', runnerExitCodes.taskFailed,
      `Claude stopped after ${result.usage.turns ?? 'the maximum number of'} turns (spec.maxTurns) without finishing.`, 'MaxTurnsExceeded');
  }
  return done('failed', runnerExitCodes.taskFailed, failureMessage(run));
}

function failureMessage(run: EngineRunOutcome): string {
  const result = run.result;
  if (result?.isError) return result.text ? `Claude failed: ${result.text}` : `Claude failed (${result.subtype}).`;
  const proc = run.process;
  if (!proc) return 'The Messages API request ended without an answer.';
  const how = proc.signal ? `was killed by ${proc.signal}` : `exited with code ${proc.exitCode}`;
  const stderr = proc.stderrTail.slice(-3).join(' | ');
  const what = result ? `after reporting success` : 'without a result';
  return `The Claude CLI ${how} ${what}${stderr ? `: ${stderr}` : '.'}`;
}
