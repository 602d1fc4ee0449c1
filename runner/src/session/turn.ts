// One turn of a session: one message, one CLI process (--session-id on the
// session's first turn, --resume after), every event tagged with the message's
// id, the transcript saved at its key before the turn's runner.turn_completed.
import type { Redis } from 'ioredis';
import { isPartialEvent } from '../../../packages/contracts/src/event-stream.ts';
import type { InboxMessage } from '../../../packages/contracts/src/session-stream.ts';
import type { RunnerTurnStartedEvent, TaskEvent } from '../../../packages/contracts/src/task-events.ts';
import type { EventPublisher } from '../event-publisher.ts';
import type { PartialPublisher } from '../partial-publisher.ts';
import { runCliEngine, type CliAgent, type CliContext } from '../run-task.ts';
import { untilDone, whenNotAborted } from './retry.ts';
import { hasTranscript, restoreTranscriptFromKey, saveTranscript, type TranscriptPaths } from './transcript.ts';
import { turnCompletionOf } from './turn-outcome.ts';

export interface TurnContext {
  /** Its signal is the session's stop (SIGTERM). */
  cli: CliContext;
  agent: CliAgent;
  publisher: EventPublisher;
  partials: PartialPublisher;
  /** For the transcript key. */
  redis: Redis;
  transcript: TranscriptPaths;
  transcriptKey: string;
}

export type TurnResult =
  /** runner.turn_completed is in the stream with this seq. */
  | { completedSeq: number }
  /** SIGTERM came first: no completion, the message stays unacknowledged for the next pod. */
  | 'stopped';

export async function runTurn(ctx: TurnContext, message: InboxMessage, delivery: number, interrupt: AbortSignal): Promise<TurnResult> {
  const { logger } = ctx.cli;
  const stop = ctx.cli.signal;
  const { messageId } = message;
  const log = logger.child({ messageId, delivery });
  if (delivery > 1) {
    const restored = await untilDone('restore the transcript', () => restoreTranscriptFromKey(ctx.transcript, ctx.redis, ctx.transcriptKey),
      stop, log);
    if (restored === undefined) return 'stopped';
    log.info({ transcript: restored }, 'message delivered again: transcript restored as of the last completed turn');
  }
  const resume = await hasTranscript(ctx.transcript);
  const started = ctx.publisher.publish({ type: 'runner.turn_started', messageId, delivery, textLength: message.text.length } satisfies RunnerTurnStartedEvent,
    { messageId });
  log.info({ textLength: message.text.length, resume }, 'turn started');

  const sink = (event: TaskEvent) => (isPartialEvent(event) ? ctx.partials.publish(event) : ctx.publisher.publish(event, { messageId }));
  const signal = AbortSignal.any([stop, interrupt]);
  const run = await runCliEngine({ ...ctx.cli, signal }, ctx.agent, message.text, sink,
    { sessionId: ctx.transcript.sessionId, resume });
  if (stop.aborted) {
    log.info('stopped mid-turn; the next pod answers the message');
    return 'stopped';
  }
  // The context for the next turn (and the next pod), before the answer is announced.
  const saved = await untilDone('save the transcript', () => saveTranscript(ctx.transcript, ctx.redis, ctx.transcriptKey), stop, log);
  if (saved === undefined) return 'stopped';
  if (!saved) log.warn('the CLI wrote no transcript; the next turn starts the session again');
  const firstSeq = await whenNotAborted(started.written, stop);
  if (firstSeq === undefined) return 'stopped';
  // Not stopped by SIGTERM, so a stop came from the interrupt.
  const completed = turnCompletionOf(run, { messageId, firstSeq });
  const completedSeq = await whenNotAborted(ctx.publisher.publish(completed, { messageId }).written, stop);
  if (completedSeq === undefined) return 'stopped';
  log.info({ outcome: completed.outcome, stopReason: completed.stopReason, usage: completed.usage, seq: completedSeq }, 'turn completed');
  return { completedSeq };
}
