// `POST …/tasks?wait=N`: waits until the task ends or N seconds pass, woken by
// the task's event stream instead of asking the apiserver every second. The
// runner PUBLISHes the newest seq on the task's wake channel after each write
// and writes `runner.completed` last; a wake-up costs one XREVRANGE of the
// stream's newest entry, and only once that is `runner.completed` is the task's
// phase read again. The operator sets the phase a moment after the runner ends,
// so after a completion the phase is read again at growing intervals; besides
// that one slow safety read (recheckMs) covers a lost wake-up or a task that
// ends without a runner.completed (timed out, killed). When the time is up the
// task is read once more, so a 202 shows it as it is.
import type { ClaudeTask } from '../../../crds/src/claude-task.ts';
import { workloadStreamKeys } from '../../../packages/contracts/src/event-stream.ts';
import type { RunnerCompletedEvent, TaskEventRecord } from '../../../packages/contracts/src/task-events.ts';
import { sleep, type Clock } from '../../../packages/platform/src/clock.ts';
import type { Logger } from '../../../packages/platform/src/logger.ts';
import type { ChannelSubscriber } from '../stream/channel-subscriber.ts';
import type { TaskStoreApi } from './kube-tasks.ts';
import { isTerminal } from './task-view.ts';

export interface WaitDeps {
  tasks: TaskStoreApi;
  /** The newest event in the task's stream. */
  lastEvent(namespace: string, name: string): Promise<TaskEventRecord | undefined>;
  /** Without it the wait only has the safety reads. */
  wakeups?: ChannelSubscriber;
  clock: Clock;
  log: Logger;
  /** The safety read of the task's phase. */
  recheckMs: number;
}

export interface WaitOutcome {
  task: ClaudeTask;
  /** The runner's last event, when the stream ended with one: it has the full result text. */
  completed: RunnerCompletedEvent | undefined;
}

/** The first read of the phase after a completion; it doubles up to recheckMs. */
const firstRecheckAfterCompletionMs = 250;
/** How long the wait may take to subscribe before it goes on with safety reads only. */
const subscribeTimeoutMs = 2_000;

export async function waitForEnd(deps: WaitDeps, initial: ClaudeTask, waitMs: number, signal: AbortSignal): Promise<WaitOutcome> {
  const namespace = initial.metadata.namespace ?? '';
  const name = initial.metadata.name ?? '';
  const deadline = deps.clock.now() + waitMs;
  let wake = new AbortController();
  let woken = false;
  const unsubscribe = await subscribeForWait(deps, workloadStreamKeys('task', namespace, name).wake, () => {
    woken = true;
    wake.abort();
  });
  try {
    let task = initial;
    let completed = await completedEvent(deps, namespace, name);
    let recheckAfterCompletion = firstRecheckAfterCompletionMs;
    if (completed && !isTerminal(task)) task = await deps.tasks.get(namespace, name);
    while (!isTerminal(task) && !signal.aborted) {
      const left = deadline - deps.clock.now();
      if (left <= 0) break;
      const pause = completed ? Math.min(recheckAfterCompletion, deps.recheckMs) : deps.recheckMs;
      if (!woken) await sleep(deps.clock, Math.min(pause, left), AbortSignal.any([signal, wake.signal]));
      if (signal.aborted) break;
      if (woken) {
        woken = false;
        wake = new AbortController();
        const last = await completedEvent(deps, namespace, name);
        // Events of a new attempt after a failed one: the task goes on.
        if (!last) {
          completed = undefined;
          recheckAfterCompletion = firstRecheckAfterCompletionMs;
          continue;
        }
        completed = last;
      } else if (completed) {
        recheckAfterCompletion *= 2;
      }
      task = await deps.tasks.get(namespace, name);
    }
    // Out of time: the 202 shows the task as it is now, not as it was at the last read.
    if (!isTerminal(task) && !signal.aborted) task = await deps.tasks.get(namespace, name).catch(() => task);
    return { task, completed };
  } finally {
    unsubscribe?.();
  }
}

async function completedEvent(deps: WaitDeps, namespace: string, name: string): Promise<RunnerCompletedEvent | undefined> {
  const last = await deps.lastEvent(namespace, name).catch((error: unknown) => {
    deps.log.warn({ err: String(error), task: `${namespace}/${name}` }, 'cannot read the newest task event');
    return undefined;
  });
  return last?.type === 'runner.completed' ? last.data as RunnerCompletedEvent : undefined;
}

/** Subscribes to a wake channel; undefined (safety reads only) without Pub/Sub or when it does not answer in time. */
export async function subscribeForWait(deps: Pick<WaitDeps, 'wakeups' | 'log'>, channel: string, onWake: () => void): Promise<(() => void) | undefined> {
  if (!deps.wakeups) return undefined;
  const subscribing = deps.wakeups.subscribe(channel, onWake);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), subscribeTimeoutMs)));
  try {
    const unsubscribe = await Promise.race([subscribing, timedOut]);
    // A subscription that lands after the timeout is released at once.
    if (!unsubscribe) void subscribing.then((late) => late(), () => undefined);
    if (!unsubscribe) deps.log.warn({ channel }, 'no wake-ups for the wait in time; safety reads only');
    return unsubscribe;
  } catch (error) {
    deps.log.warn({ err: String(error), channel }, 'cannot subscribe for the wait; safety reads only');
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}
