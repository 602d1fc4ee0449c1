// Waiting for one of the node's daemons to be ready, the same way for each: poll its
// readiness check, give up at once if the process exits, and say why with the end of
// its log either way.
import { GiveUp, waitFor, type Supervised } from '../process.ts';

/** Whether the process has exited by now (its exit already observed), without waiting. */
export async function exitedAlready(process: Supervised): Promise<boolean> {
  return Promise.race([process.exited.then(() => true), new Promise<boolean>((resolve) => setImmediate(() => resolve(false)))]);
}

export async function daemonReady(daemon: Supervised, what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  await waitFor(what, async () => {
    if (await exitedAlready(daemon)) throw new GiveUp(`${daemon.name} exited`);
    return check();
  }, { timeoutMs }).catch((error: Error) => {
    throw new Error(`${error.message}\n--- ${daemon.name} ---\n${daemon.logTail()}`);
  });
}
