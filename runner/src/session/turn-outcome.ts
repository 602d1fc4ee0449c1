// How a session's turn ended: its runner.turn_completed, decided by one pure
// function from what the CLI run left behind (completion.ts decides the same for
// a task; a turn maps it onto answered / interrupted / failed).
import type { RunnerTurnCompletedEvent } from '../../../packages/contracts/src/task-events.ts';
import { completionOf, type EngineRunOutcome } from '../completion.ts';

export interface TurnIds {
  messageId: string;
  /** The seq of the turn's runner.turn_started. */
  firstSeq: number;
}

/** `run.stopped`: the turn was interrupted (a SIGTERM'd turn gets no completion: the next pod answers it). */
export function turnCompletionOf(run: EngineRunOutcome, ids: TurnIds): RunnerTurnCompletedEvent {
  const completion = completionOf(run);
  const base = {
    type: 'runner.turn_completed' as const, messageId: ids.messageId, usage: completion.usage, sessionId: completion.sessionId,
    model: completion.model, firstSeq: ids.firstSeq,
  };
  if (completion.outcome === 'succeeded') {
    return { ...base, outcome: 'answered', result: completion.result, stopReason: run.result?.subtype ?? 'success', message: null };
  }
  if (run.stopped) {
    return { ...base, outcome: 'interrupted', result: null, stopReason: 'interrupted', message: 'Interrupted before Claude finished.' };
  }
  return { ...base, outcome: 'failed', result: null, stopReason: run.result?.subtype ?? null, message: completion.message };
}
