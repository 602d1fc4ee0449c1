// One attempt of a task, start to end: read the spec and key, prepare the
// workspace, run the engine, and always finish with the terminal event, the
// flush to Redis and the termination message. Returns the exit code.
// Partial events go to the task's partial channel, everything else to its Stream.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { z } from 'zod';
import { ClaudeTaskSpecSchema, type ClaudeTaskSpec } from '../../crds/src/claude-task.ts';
import { claudeArgs, type CliFile, type CliSession, type CliSpec } from './cli-args.ts';
import { buildCliEnv, inheritedEnvNames } from './cli-env.ts';
import { completionOf, type EngineRunOutcome } from './completion.ts';
import type { CommonRunnerConfig, RunnerConfig } from './config.ts';
import { runnerExitCodes } from '../../packages/contracts/src/pod-contract.ts';
import { CancelledError, ConfigError, RunnerError } from './errors.ts';
import { EventPublisher } from './event-publisher.ts';
import { isPartialEvent, workloadStreamKeys } from '../../packages/contracts/src/event-stream.ts';
import type { RunnerCompletedEvent, RunnerStartedEvent, RunnerWorkspaceReadyEvent, TaskEvent } from '../../packages/contracts/src/task-events.ts';
import type { Logger } from '../../packages/platform/src/logger.ts';
import { PartialPublisher } from './partial-publisher.ts';
import { renderPrompt } from './prompt-template.ts';
import { runApi } from './run-api.ts';
import { runCli, type CliRun } from './run-cli.ts';
import { OomWatch, type OomKill } from './oom-watch.ts';
import { writeTerminationMessage } from './termination.ts';
import { prepareWorkspace, redactUrl } from './workspace.ts';

/** What running the CLI needs, in a task and in a session's turn. */
export interface CliContext {
  config: CommonRunnerConfig;
  /** Aborted on SIGTERM (a session's turn: also on an interrupt). */
  signal: AbortSignal;
  logger: Logger;
  /** The runner's own environment, for the variables the CLI and git inherit. */
  runnerEnv: NodeJS.ProcessEnv;
}

export interface RunTaskOptions extends CliContext {
  config: RunnerConfig;
}

/** The agent the CLI runs as: its spec's flags and the API key. */
export interface CliAgent {
  spec: CliSpec;
  apiKey: string;
}

interface PreparedTask {
  spec: ClaudeTaskSpec;
  apiKey: string;
  prompt: string;
}

/** Where an engine's events go. */
export type EventSink = (event: TaskEvent) => void;

/** How long the end of an attempt waits for partial events still being published. */
const partialCloseTimeoutMs = 1_000;

export async function runTask(options: RunTaskOptions): Promise<number> {
  const { config, logger } = options;
  const keys = workloadStreamKeys('task', config.task.namespace, config.task.name);
  const publisher = new EventPublisher({
    redisUrl: config.redisUrl,
    streamKey: keys.events,
    wakeChannel: keys.wake,
    persistedKey: keys.persisted,
    persistWaitMs: config.persistWaitMs,
    logger,
  });
  const partials = new PartialPublisher({ redisUrl: config.redisUrl, channel: keys.partial, logger });
  const sink: EventSink = (event) => (isPartialEvent(event) ? partials.publish(event) : publisher.publish(event));
  let completed: RunnerCompletedEvent;
  try {
    completed = await runAttempt(options, publisher, sink);
  } catch (error) {
    completed = completionOfError(error, logger);
  }
  const partialCounts = await partials.close(partialCloseTimeoutMs);
  publisher.publish(completed);
  const closed = await publisher.close(config.flushTimeoutMs);
  const { type: _type, ...outcome } = completed;
  try {
    await writeTerminationMessage(config.terminationLogFile, {
      ...outcome,
      resultTruncated: false,
      attempt: config.task.attempt ?? null,
      lastSeq: closed.lastSeq,
      unpublishedEvents: closed.unpublished,
    });
  } catch (error) {
    logger.warn({ err: (error as Error).message, file: config.terminationLogFile }, 'cannot write the termination message');
  }
  logger.info({ outcome: completed.outcome, exitCode: completed.exitCode, reason: completed.reason, model: completed.model,
    usage: completed.usage, sessionId: completed.sessionId, lastSeq: closed.lastSeq, unpublishedEvents: closed.unpublished,
    partialEvents: partialCounts }, 'task attempt finished');
  return completed.exitCode;
}

async function runAttempt(options: RunTaskOptions, publisher: EventPublisher, sink: EventSink): Promise<RunnerCompletedEvent> {
  const { config, signal, logger } = options;
  const started: RunnerStartedEvent = { type: 'runner.started', namespace: config.task.namespace, name: config.task.name, uid: config.task.uid,
    attempt: config.task.attempt ?? null };
  let task: PreparedTask;
  try {
    task = await prepareTask(config);
  } catch (error) {
    publisher.publish(started);
    throw error;
  }
  const { spec } = task;
  const engine = spec.engine ?? 'cli';
  publisher.publish({ ...started, engine, model: spec.model ?? null, promptLength: task.prompt.length } satisfies RunnerStartedEvent);
  logger.info({ engine, model: spec.model, attempt: config.task.attempt, promptLength: task.prompt.length }, 'task attempt started');

  const inherited = Object.fromEntries(inheritedEnvNames.flatMap((name) => {
    const value = options.runnerEnv[name];
    return value === undefined ? [] : [[name, value]];
  }));
  await prepareWorkspace({ dir: config.workspaceDir, git: spec.workspace?.git, env: { ...inherited, ...config.proxy, HOME: config.claudeHome },
    credentialsDir: config.gitCredentialsDir, signal, logger });
  if (spec.workspace?.git) publisher.publish({ type: 'runner.workspace_ready', git: redactUrl(spec.workspace.git.url), ref: spec.workspace.git.ref ?? null } satisfies RunnerWorkspaceReadyEvent);
  if (signal.aborted) throw new CancelledError('Stopped by SIGTERM before Claude started.');

  const outcome = engine === 'api' ? await runApiEngine(options, task, sink) : await runCliEngine(options, task, task.prompt, sink);
  return completionOf(outcome);
}

async function prepareTask(config: RunnerConfig): Promise<PreparedTask> {
  const spec = await readSpec(config.specFile);
  const apiKey = await readApiKey(config.apiKeyFile);
  // The operator writes a template task's resolved spec, which always has a prompt; an empty one is a bug upstream.
  if (spec.prompt === undefined) throw new ConfigError('the spec has no prompt (a task made from a template gets its template\'s)');
  return { spec, apiKey, prompt: renderPrompt(spec.prompt, spec.variables) };
}

/** Runs the CLI once with the prompt; `session` for a session's turn (--session-id / --resume). */
export async function runCliEngine(options: CliContext, task: CliAgent, prompt: string, sink: EventSink,
  session?: CliSession): Promise<EngineRunOutcome> {
  const { config } = options;
  await fs.mkdir(config.tmpDir, { recursive: true });
  // Private to this attempt (mode 0700) and gone when the CLI is.
  const filesDir = await fs.mkdtemp(path.join(config.tmpDir, 'claude-runner-cli-'));
  try {
    const invocation = claudeArgs(task.spec, prompt, filesDir, session);
    await writeCliFiles(invocation.files);
    return await startCli(options, task, invocation.args, invocation.stdin, sink);
  } finally {
    await fs.rm(filesDir, { recursive: true, force: true });
  }
}

async function writeCliFiles(files: CliFile[]): Promise<void> {
  for (const file of files) await fs.writeFile(file.path, file.content, { mode: 0o600, flag: 'wx' });
}

async function startCli(options: CliContext, task: CliAgent, args: string[], stdin: string | undefined,
  sink: EventSink): Promise<EngineRunOutcome> {
  const { config, logger } = options;
  const { env, ignoredAgentEnv } = buildCliEnv({
    runnerEnv: options.runnerEnv, agentEnv: config.agentEnv, apiKey: task.apiKey, anthropicBaseUrl: config.anthropicBaseUrl,
    proxy: config.proxy, claudeHome: config.claudeHome, permissionMode: task.spec.permissionMode,
  });
  if (ignoredAgentEnv.length > 0) logger.warn({ names: ignoredAgentEnv }, 'agent environment variables ignored: the runner sets them');
  await fs.mkdir(config.claudeHome, { recursive: true });
  // Checked here because under setpriv a missing CLI would look like a CLI that failed.
  await fs.access(config.cliPath, fs.constants.X_OK).catch((error: Error) => {
    throw new ConfigError(`the Claude CLI at ${config.cliPath} cannot be run: ${error.message}`, { cause: error });
  });
  // An OOM kill stops the CLI as SIGTERM would; the run is then not "stopped" but OOM-killed.
  const oomStop = new AbortController();
  const oomWatch = await OomWatch.start({ cgroupDir: config.cgroupDir, intervalMs: config.oomPollMs, onKill: (kill) => {
    logger.warn({ kills: kill.kills, limitBytes: kill.limitBytes }, 'the OOM killer took a process in the container: stopping Claude');
    oomStop.abort();
  } });
  let run: CliRun;
  let oomKill: OomKill | undefined;
  try {
    run = await runCli({
      cliPath: config.cliPath, setprivPath: config.setprivPath, args, stdin, env, cwd: config.workspaceDir,
      signal: AbortSignal.any([options.signal, oomStop.signal]), stopGraceMs: config.cliStopGraceMs, onEvent: sink, logger,
    });
  } finally {
    oomKill = await oomWatch.stop();
  }
  return {
    oomKill,
    sessionId: run.summary.sessionId,
    model: run.summary.model,
    result: run.summary.result,
    expectsStructuredOutput: task.spec.jsonSchema !== undefined,
    stopped: run.stopped && options.signal.aborted,
    rateLimitRetryDue: run.summary.rateLimitRetryDue,
    process: { exitCode: run.exitCode, signal: run.signal, spawnError: run.spawnError, stderrTail: run.stderrTail, cliPath: config.cliPath },
  };
}

async function runApiEngine(options: RunTaskOptions, task: PreparedTask, sink: EventSink): Promise<EngineRunOutcome> {
  const { config } = options;
  const run = await runApi({
    spec: task.spec, prompt: task.prompt, apiKey: task.apiKey, baseUrl: config.anthropicBaseUrl,
    defaultModel: config.api.defaultModel, maxTokens: config.api.maxTokens, signal: options.signal,
    onEvent: sink, logger: options.logger,
  });
  return {
    sessionId: run.summary.sessionId, model: run.summary.model, result: run.summary.result, expectsStructuredOutput: false,
    stopped: run.stopped,
  };
}

export function readSpec(file: string): Promise<ClaudeTaskSpec> {
  return readSpecFile(file, ClaudeTaskSpecSchema, 'task');
}

/** The spec file, parsed with the kind's schema; a ConfigError that says what is wrong. */
export async function readSpecFile<S extends z.ZodType>(file: string, schema: S, kind: string): Promise<z.infer<S>> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read the ${kind} spec at ${file}: ${(error as Error).message}`, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`the ${kind} spec at ${file} is not JSON: ${(error as Error).message}`, { cause: error });
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `spec.${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`invalid ${kind} spec: ${problems.join('; ')}`);
  }
  return parsed.data;
}

export async function readApiKey(file: string): Promise<string> {
  let key: string;
  try {
    key = (await fs.readFile(file, 'utf8')).trim();
  } catch (error) {
    throw new ConfigError(`cannot read the API key at ${file}: ${(error as Error).message}`, { cause: error });
  }
  if (key === '') throw new ConfigError(`the API key file ${file} is empty`);
  return key;
}

function completionOfError(error: unknown, logger: Logger): RunnerCompletedEvent {
  const base = { type: 'runner.completed' as const, reason: null, result: null, usage: null, sessionId: null, model: null };
  if (error instanceof RunnerError) {
    logger.error({ err: error.message, retryable: error.retryable }, 'task attempt failed before Claude finished');
    const outcome = error instanceof CancelledError ? 'cancelled' : 'failed';
    return { ...base, outcome, exitCode: error.exitCode, message: error.message };
  }
  logger.error({ err: error }, 'runner error');
  return { ...base, outcome: 'failed', exitCode: runnerExitCodes.taskFailed, message: `Runner error: ${(error as Error).message}` };
}
