// Runs the real Claude Code CLI (node_modules/.bin/claude) once, offline, against a
// scripted API, and collects its stream-json events.
//
// The environment is built from scratch so nothing of the parent's (a real
// ANTHROPIC_API_KEY, CLAUDE_* settings, ~/.claude) reaches the CLI. The child runs in a
// process group of its own under `setpriv --pdeathsig SIGKILL`: on timeout, and after
// every run, the whole group is SIGKILLed, so neither the CLI nor a command its Bash
// tool started is left behind, even if the test runner itself dies.
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const claudeBin = path.join(repoRoot, 'node_modules/.bin/claude');

/** Lets the CLI use tools without asking. `acceptEdits` approves Write/Edit inside the
 * workspace (and shell redirections into it); `--allowedTools Bash` approves any Bash
 * command. `bypassPermissions` would be simpler but the CLI refuses it as root
 * unless IS_SANDBOX=1 is set. */
export const defaultPermissionArgs = ['--permission-mode', 'acceptEdits', '--allowedTools', 'Bash'];

/** The only variables taken from the parent's environment. */
const inheritedEnv = ['PATH', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'];

export interface RunClaudeOptions {
  /** The CLI's working directory. */
  workspace: string;
  /** Base URL of the scripted API (ANTHROPIC_BASE_URL). */
  apiUrl: string;
  prompt: string;
  /** Appended after the standard arguments, e.g. ['--max-turns', '2']. */
  extraArgs?: string[];
  /** Replaces defaultPermissionArgs. */
  permissionArgs?: string[];
  /** Added to (and overriding) the offline environment, e.g. { CLAUDE_CODE_MAX_RETRIES: '0' }. */
  env?: Record<string, string>;
  apiKey?: string;
  /** $HOME for the CLI (settings, transcripts). Default: a fresh temp dir, removed afterwards;
   * pass one to keep transcripts, e.g. for --resume. */
  home?: string;
  /** Written to stdin, then closed (for --input-format stream-json). */
  stdin?: string;
  timeoutMs?: number;
}

export interface ClaudeEvent {
  type: string;
  subtype?: string;
  [key: string]: unknown;
}

export interface ClaudeRun {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** The process id, which is also its process group id. */
  pid: number;
  /** stdout lines that parsed as JSON, in order. */
  events: ClaudeEvent[];
  /** stdout lines that did not. */
  otherStdout: string[];
  stderr: string;
}

export async function runClaude(options: RunClaudeOptions): Promise<ClaudeRun> {
  const home = options.home ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'claude-home-')));
  try {
    return await spawnClaude(options, home);
  } finally {
    if (options.home === undefined) await fs.rm(home, { recursive: true, force: true });
  }
}

function offlineEnv(options: RunClaudeOptions, home: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of inheritedEnv) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return {
    ...env,
    HOME: home,
    ANTHROPIC_BASE_URL: options.apiUrl,
    ANTHROPIC_API_KEY: options.apiKey ?? 'scripted-test-key',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_AUTOUPDATER: '1',
    ...options.env,
  };
}

function spawnClaude(options: RunClaudeOptions, home: string): Promise<ClaudeRun> {
  const args = [
    '-p',
    options.prompt,
    '--output-format',
    'stream-json',
    '--verbose',
    ...(options.permissionArgs ?? defaultPermissionArgs),
    ...(options.extraArgs ?? []),
  ];
  const child = spawn('setpriv', ['--pdeathsig', 'SIGKILL', '--', claudeBin, ...args], {
    cwd: options.workspace,
    env: offlineEnv(options, home),
    stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    detached: true, // its own process group, so the group can be killed as a whole
  });
  if (child.pid === undefined) throw new Error(`could not start ${claudeBin}`);
  const pid = child.pid;
  if (options.stdin !== undefined) child.stdin?.end(options.stdin);

  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));

  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(pid);
  }, options.timeoutMs ?? 60_000);

  return new Promise((resolve, reject) => {
    child.on('error', (error) => {
      clearTimeout(timer);
      killGroup(pid);
      reject(error);
    });
    // 'close' waits for stdout/stderr to end as well as for the exit.
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      killGroup(pid); // whatever the CLI's tools left running
      const events: ClaudeEvent[] = [];
      const otherStdout: string[] = [];
      for (const line of stdout.split('\n')) {
        if (line.trim() === '') continue;
        try {
          events.push(JSON.parse(line) as ClaudeEvent);
        } catch {
          otherStdout.push(line);
        }
      }
      resolve({ exitCode, signal, timedOut, pid, events, otherStdout, stderr });
    });
  });
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // ESRCH: nothing left in the group.
  }
}

/** True while any process of the run's process group exists. */
export function processGroupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The final `result` event, if the CLI got that far. */
export function resultEvent(run: ClaudeRun): ClaudeEvent | undefined {
  return run.events.findLast((event) => event.type === 'result');
}
