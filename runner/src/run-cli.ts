// Runs the `claude` CLI once and hands every stdout event to onEvent as it comes.
//
// The CLI gets a process group of its own, so a stop reaches the commands its
// Bash tool started too: SIGTERM to the group, SIGKILL after the grace period,
// and SIGKILL to whatever is left once the CLI has exited. When `setpriv` is
// installed the CLI is also started with --pdeathsig SIGKILL, so it cannot
// outlive a runner that was killed without a chance to clean up.
import { spawn } from 'node:child_process';
import type { RunnerCliStderrEvent, TaskEvent } from '../../packages/contracts/src/task-events.ts';
import type { Logger } from '../../packages/platform/src/logger.ts';
import { CliRunSummary, StreamJsonReader } from './stream-json.ts';

/** How much of one stderr line goes into its event. */
const stderrLineKeep = 4096;
const stderrTailLines = 20;

export interface RunCliOptions {
  cliPath: string;
  setprivPath: string | undefined;
  args: string[];
  stdin: string | undefined;
  env: Record<string, string>;
  cwd: string;
  /** Aborted on SIGTERM: the CLI is stopped. */
  signal: AbortSignal;
  stopGraceMs: number;
  onEvent: (event: TaskEvent) => void;
  logger: Logger;
}

export interface CliRun {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the CLI could not be started at all. */
  spawnError: Error | undefined;
  summary: CliRunSummary;
  /** The last stderr lines, for a failure message. */
  stderrTail: string[];
  /** The stop signal came before the CLI ended. */
  stopped: boolean;
}

export function runCli(options: RunCliOptions): Promise<CliRun> {
  const { logger } = options;
  const [command, args] = options.setprivPath
    ? [options.setprivPath, ['--pdeathsig', 'SIGKILL', '--', options.cliPath, ...options.args]]
    : [options.cliPath, options.args];
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env,
    stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    detached: true,
  });
  const { stdout, stderr } = child;
  if (!stdout || !stderr) throw new Error('spawn gave no stdout/stderr pipes'); // cannot happen with 'pipe'
  const summary = new CliRunSummary();
  const stderrTail: string[] = [];
  const emit = (event: TaskEvent) => {
    summary.observe(event);
    options.onEvent(event);
  };

  const stdoutReader = new StreamJsonReader();
  stdout.setEncoding('utf8').on('data', (chunk: string) => stdoutReader.feed(chunk).forEach(emit));
  stdout.on('end', () => stdoutReader.end().forEach(emit));
  let stderrPending = '';
  const stderrLine = (line: string) => {
    if (line.trim() === '') return;
    stderrTail.push(line.slice(0, 500));
    if (stderrTail.length > stderrTailLines) stderrTail.shift();
    options.onEvent({ type: 'runner.cli_stderr', line: line.slice(0, stderrLineKeep) } satisfies RunnerCliStderrEvent);
  };
  stderr.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (stderrPending + chunk).split('\n');
    stderrPending = lines.pop() ?? '';
    lines.forEach(stderrLine);
  });
  stderr.on('end', () => stderrLine(stderrPending));
  if (options.stdin !== undefined) {
    child.stdin?.on('error', () => undefined); // the CLI may exit before reading it all
    child.stdin?.end(options.stdin);
  }

  const pid = child.pid;
  let stopped = false;
  let killTimer: NodeJS.Timeout | undefined;
  const stop = () => {
    if (pid === undefined || stopped) return;
    stopped = true;
    logger.info({ cliPid: pid, graceMs: options.stopGraceMs }, 'stopping the CLI');
    signalGroup(pid, 'SIGTERM');
    killTimer = setTimeout(() => {
      logger.warn({ cliPid: pid }, 'the CLI did not stop in time; killing it');
      signalGroup(pid, 'SIGKILL');
    }, options.stopGraceMs);
  };
  // If the runner itself exits (a crash), take the CLI's group with it.
  const killOnExit = () => {
    if (pid !== undefined) signalGroup(pid, 'SIGKILL');
  };
  process.on('exit', killOnExit);
  if (options.signal.aborted) stop();
  else options.signal.addEventListener('abort', stop, { once: true });
  if (pid !== undefined) logger.info({ cliPid: pid, cwd: options.cwd }, 'CLI started');

  return new Promise((resolve) => {
    let spawnError: Error | undefined;
    let finished = false;
    const finish = (exitCode: number | null, signal: NodeJS.Signals | null) => {
      if (finished) return;
      finished = true;
      clearTimeout(killTimer);
      options.signal.removeEventListener('abort', stop);
      process.off('exit', killOnExit);
      if (pid !== undefined) signalGroup(pid, 'SIGKILL'); // whatever its tools left running
      logger.info({ exitCode, signal, stopped, spawnError: spawnError?.message }, 'CLI ended');
      resolve({ exitCode, signal, spawnError, summary, stderrTail, stopped });
    };
    child.on('error', (error) => {
      spawnError ??= error;
      if (pid === undefined) finish(null, null); // never started: no 'close' to wait for
    });
    // 'close' comes after the exit and after stdout and stderr have ended.
    child.on('close', finish);
  });
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is gone.
  }
}
