// Waiting on Redis in a session's runner: a step that must happen (save the
// transcript, acknowledge a message) is retried with backoff until it works or the
// runner is stopped; nothing is given up on while the pod lives.
import { backoffDelay, defaultBackoff } from '../../../packages/platform/src/backoff.ts';
import type { Logger } from '../../../packages/platform/src/logger.ts';
import { abortableSleep } from '../abortable-sleep.ts';

/** fn's value, or undefined once `stop` aborts (so fn must not resolve to undefined). */
export async function untilDone<T extends NonNullable<unknown>>(what: string, fn: () => Promise<T>, stop: AbortSignal, logger: Logger): Promise<T | undefined> {
  for (let failures = 1; !stop.aborted; failures++) {
    try {
      return await fn();
    } catch (error) {
      const fields = { err: (error as Error).message, failures, what };
      if (failures === 1 || failures % 10 === 0) logger.warn(fields, 'redis step failed; retrying');
      else logger.debug(fields, 'redis step failed; retrying');
      await abortableSleep(backoffDelay(failures, defaultBackoff), stop);
    }
  }
  return undefined;
}

/** The promise's value, or undefined once `stop` aborts (the promise is left to settle on its own). */
export function whenNotAborted<T>(promise: Promise<T>, stop: AbortSignal): Promise<T | undefined> {
  promise.catch(() => undefined); // a command cut off by the disconnect at the end
  if (stop.aborted) return Promise.resolve(undefined);
  return new Promise<T | undefined>((resolve, reject) => {
    const onAbort = () => resolve(undefined);
    stop.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => stop.removeEventListener('abort', onAbort));
  });
}
