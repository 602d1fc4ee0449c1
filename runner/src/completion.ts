// How an engine run ends up: the terminal `runner.completed` event, decided by
// one pure function from what the run left behind.
import { exitCodes } from './errors.ts';
import type { RunnerCompletedEvent } from './event-stream.ts';
import type { CliResult } from './stream-json.ts';

export interface EngineRunOutcome {
  sessionId: string | undefined;
  result: CliResult | undefined;
  /** The stop signal (SIGTERM) came before the run ended. */
  stopped: boolean;
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
  const done = (outcome: RunnerCompletedEvent['outcome'], exitCode: number, message: string): RunnerCompletedEvent => ({
    type: 'runner.completed',
    outcome,
    exitCode,
    message,
    result: (outcome === 'succeeded' ? run.result?.text : undefined) ?? null,
    usage: run.result?.usage ?? null,
    sessionId: run.sessionId ?? null,
  });
  const proc = run.process;
  const cleanExit = proc === undefined || (proc.exitCode === 0 && proc.signal === null);
  if (run.result && !run.result.isError && cleanExit) return done('succeeded', exitCodes.succeeded, 'Claude finished the task.');
  if (run.stopped) return done('cancelled', exitCodes.cancelled, 'Stopped by SIGTERM (cancelled, timed out or evicted) before Claude finished.');
  if (proc?.spawnError) {
    return done('failed', exitCodes.invalid, `The Claude CLI could not be started (${proc.cliPath}): ${proc.spawnError.message}`);
  }
  return done('failed', exitCodes.taskFailed, failureMessage(run));
}

function failureMessage(run: EngineRunOutcome): string {
  const result = run.result;
  if (result?.subtype === 'error_max_turns') {
    return `Claude stopped after ${result.usage.turns ?? 'the maximum number of'} turns (spec.maxTurns) without finishing.`;
  }
  if (result?.isError) return result.text ? `Claude failed: ${result.text}` : `Claude failed (${result.subtype}).`;
  const proc = run.process;
  if (!proc) return 'The Messages API request ended without an answer.';
  const how = proc.signal ? `was killed by ${proc.signal}` : `exited with code ${proc.exitCode}`;
  const stderr = proc.stderrTail.slice(-3).join(' | ');
  const what = result ? `after reporting success` : 'without a result';
  return `The Claude CLI ${how} ${what}${stderr ? `: ${stderr}` : '.'}`;
}
