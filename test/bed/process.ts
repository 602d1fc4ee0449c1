// Child processes of the test bed that can never outlive it.
//
// Each child is started through `setpriv --pdeathsig SIGKILL` (util-linux), so the
// kernel kills it when the process that spawned it dies, even by SIGKILL; and in a
// process group of its own, so stop() reaches whatever it started itself.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';

export interface SupervisedOptions {
  /** Shown in errors and used for the log file name. */
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** stdout and stderr are appended here. */
  logFile: string;
}

export interface Supervised {
  readonly name: string;
  readonly pid: number;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM to the group, SIGKILL after graceMs. Idempotent. */
  stop(graceMs?: number): Promise<void>;
  /** The last lines of the log, for error messages. */
  logTail(lines?: number): string;
}

export function startSupervised(options: SupervisedOptions): Supervised {
  const log = fs.openSync(options.logFile, 'a');
  const child: ChildProcess = spawn('setpriv', ['--pdeathsig', 'SIGKILL', '--', options.command, ...options.args], {
    env: options.env ?? process.env,
    cwd: options.cwd,
    stdio: ['ignore', log, log],
    detached: true,
  });
  fs.closeSync(log);
  if (child.pid === undefined) throw new Error(`${options.name}: could not start ${options.command}`);
  const pid = child.pid;
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      done = true;
      resolve({ code, signal });
    });
    child.on('error', () => {
      done = true;
      resolve({ code: null, signal: null });
    });
  });
  let stopping: Promise<void> | undefined;
  return {
    name: options.name,
    pid,
    exited,
    stop(graceMs = 5_000) {
      stopping ??= (async () => {
        signalGroup(pid, 'SIGTERM');
        const timer = new Promise((resolve) => setTimeout(resolve, graceMs).unref());
        await Promise.race([exited, timer]);
        // The group may hold grandchildren even after the leader exited.
        signalGroup(pid, 'SIGKILL');
        if (!done) await exited;
      })();
      return stopping;
    },
    logTail(lines = 30) {
      try {
        return fs.readFileSync(options.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
      } catch {
        return '(no log)';
      }
    },
  };
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is gone already.
  }
}

/** Thrown by a waitFor check to stop waiting at once: the awaited thing can no longer happen. */
export class GiveUp extends Error {}

/** Polls until check() resolves true; throws after timeoutMs, or at once on GiveUp. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  { timeoutMs = 60_000, intervalMs = 200 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      // A check that never settles (a request to a process that hangs) must not outlast the deadline.
      if (await settleWithin(check(), deadline - Date.now(), () => false)) return;
    } catch (error) {
      if (error instanceof GiveUp) throw error;
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  const reason = lastError instanceof Error ? `: ${lastError.message}` : '';
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${reason}`);
}

/** What `work` settles to, or, when it has not settled within `ms`, what `late` returns (or throws). */
export function settleWithin<T>(work: Promise<T>, ms: number, late: () => T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const lateAnswer = new Promise<T>((resolve, reject) => {
    timer = setTimeout(() => { try { resolve(late()); } catch (error) { reject(error as Error); } }, Math.max(0, ms));
  });
  return Promise.race([work, lateAnswer]).finally(() => clearTimeout(timer));
}
