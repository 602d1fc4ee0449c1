// The runner in session mode (notes/session-design.md, step 3): one activation of a
// ClaudeSession. It prepares the workspace and the transcript, then answers the
// inbox's messages one turn at a time until it idles out (exit 0) or is stopped
// (SIGTERM, exit 143). A message is acknowledged only once the operator has its
// runner.turn_completed in Postgres, so a lost pod's message is answered by the next
// pod, and exactly once (the answered hash).
import fs from 'node:fs/promises';
import { Redis } from 'ioredis';
import { ClaudeSessionSpecSchema, type ClaudeSessionSpec } from '../../../crds/src/claude-session.ts';
import { workloadStreamKeys } from '../../../packages/contracts/src/event-stream.ts';
import { sessionAnsweredKey, sessionControlChannel, sessionInboxKey, sessionTranscriptKey } from '../../../packages/contracts/src/session-stream.ts';
import { runnerExitCodes } from '../../../packages/contracts/src/pod-contract.ts';
import type {
  RunnerSessionEndedEvent, RunnerStartedEvent, RunnerWorkspaceReadyEvent,
} from '../../../packages/contracts/src/task-events.ts';
import type { Logger } from '../../../packages/platform/src/logger.ts';
import { inheritedEnvNames } from '../cli-env.ts';
import type { SessionRunnerConfig } from '../config.ts';
import { ConfigError, RunnerError } from '../errors.ts';
import { EventPublisher } from '../event-publisher.ts';
import { PartialPublisher } from '../partial-publisher.ts';
import { readApiKey, readSpecFile, type CliAgent } from '../run-task.ts';
import { prepareWorkspace, redactUrl } from '../workspace.ts';
import { ControlListener } from './control.ts';
import { Inbox, type InboxDelivery } from './inbox.ts';
import { untilDone, whenNotAborted } from './retry.ts';
import { restoreTranscriptAtStart, transcriptPaths } from './transcript.ts';
import { runTurn, type TurnContext } from './turn.ts';

export interface RunSessionOptions {
  config: SessionRunnerConfig;
  /** Aborted on SIGTERM. */
  signal: AbortSignal;
  logger: Logger;
  runnerEnv: NodeJS.ProcessEnv;
}

interface SessionEnd {
  reason: RunnerSessionEndedEvent['reason'];
  message: string;
  exitCode: number;
}

/** Pending messages taken per read. */
const pendingBatch = 10;
const partialCloseTimeoutMs = 1_000;
/** How often a turn still waiting for the operator to persist its answer is logged. */
const persistWarnMs = 60_000;

export async function runSession(options: RunSessionOptions): Promise<number> {
  const { config, logger } = options;
  const { namespace, name } = config.session;
  const keys = workloadStreamKeys('session', namespace, name);
  const publisher = new EventPublisher({
    redisUrl: config.redisUrl, streamKey: keys.events, wakeChannel: keys.wake,
    persistedKey: keys.persisted, persistWaitMs: config.persistWaitMs, logger,
  });
  const partials = new PartialPublisher({ redisUrl: config.redisUrl, channel: keys.partial, logger });
  const redis = new Redis(config.redisUrl, { retryStrategy: (times) => Math.min(times * 200, 2_000) });
  redis.on('error', (error: Error) => logger.debug({ err: error.message }, 'inbox: redis connection error'));
  let turnInterrupt: AbortController | undefined;
  const control = new ControlListener({
    redisUrl: config.redisUrl, channel: sessionControlChannel(namespace, name), logger,
    onCommand: (command) => {
      logger.info({ command: command.type, turnInFlight: turnInterrupt !== undefined }, 'control command');
      turnInterrupt?.abort();
    },
  });

  let end: SessionEnd;
  try {
    end = await serve(options, { publisher, partials, redis, control, setTurn: (turn) => (turnInterrupt = turn) });
  } catch (error) {
    end = endOfError(error, logger);
  }
  control.close();
  const partialCounts = await partials.close(partialCloseTimeoutMs);
  publisher.publish({ type: 'runner.session_ended', reason: end.reason, message: end.message } satisfies RunnerSessionEndedEvent);
  const closed = await publisher.close(config.flushTimeoutMs);
  redis.disconnect();
  logger.info({ reason: end.reason, exitCode: end.exitCode, lastSeq: closed.lastSeq, unpublishedEvents: closed.unpublished,
    partialEvents: partialCounts }, 'session activation finished');
  return end.exitCode;
}

interface Connections {
  publisher: EventPublisher;
  partials: PartialPublisher;
  redis: Redis;
  control: ControlListener;
  setTurn: (interrupt: AbortController | undefined) => void;
}

async function serve(options: RunSessionOptions, c: Connections): Promise<SessionEnd> {
  const { config, signal: stop, logger } = options;
  const { namespace, name, uid, claudeSessionId } = config.session;
  const started: RunnerStartedEvent = { type: 'runner.started', namespace, name, uid, attempt: null };
  let spec: ClaudeSessionSpec;
  let agent: CliAgent;
  try {
    spec = await readSpecFile(config.specFile, ClaudeSessionSpecSchema, 'session');
    if (spec.engine === 'api') throw new ConfigError('a session runs the Claude Code CLI: spec.engine api is for tasks only');
    agent = { spec, apiKey: await readApiKey(config.apiKeyFile) };
  } catch (error) {
    c.publisher.publish(started);
    throw error;
  }
  c.publisher.publish({ ...started, engine: 'cli', model: spec.model ?? null } satisfies RunnerStartedEvent);
  logger.info({ model: spec.model, idleTimeoutMs: config.session.idleTimeoutMs }, 'session activation started');

  // The workspace is cloned on the session's first start only; after that it is the agent's, as it left it.
  const git = spec.workspace?.git;
  const present = await fs.readdir(config.workspaceDir).catch(() => []);
  const fresh = present.every((entry) => entry === 'lost+found');
  const inherited = Object.fromEntries(inheritedEnvNames.flatMap((n) => (options.runnerEnv[n] === undefined ? [] : [[n, options.runnerEnv[n]!]])));
  await prepareWorkspace({ dir: config.workspaceDir, git: fresh ? git : undefined, env: { ...inherited, ...config.proxy, HOME: config.claudeHome },
    credentialsDir: config.gitCredentialsDir, signal: stop, logger });
  if (git && fresh) c.publisher.publish({ type: 'runner.workspace_ready', git: redactUrl(git.url), ref: git.ref ?? null } satisfies RunnerWorkspaceReadyEvent);

  const transcriptKey = sessionTranscriptKey(namespace, name);
  const transcript = await transcriptPaths(config.claudeHome, config.workspaceDir, claudeSessionId);
  const inbox = new Inbox(c.redis, { inbox: sessionInboxKey(namespace, name), answered: sessionAnsweredKey(namespace, name) });
  // whenNotAborted: a SUBSCRIBE waits for Redis however long it is away.
  const ready = await whenNotAborted(untilDone('prepare the inbox and the transcript', async () => {
    await c.control.start();
    await inbox.createGroup();
    return restoreTranscriptAtStart(transcript, c.redis, transcriptKey);
  }, stop, logger), stop);
  if (ready === undefined) return stopped();
  logger.info({ transcript: ready }, 'transcript ready');

  const turns: TurnContext = { cli: options, agent, publisher: c.publisher, partials: c.partials, redis: c.redis, transcript, transcriptKey };
  /** Answered by this process: a message read again because its XACK failed is not answered twice. */
  const answeredHere = new Set<string>();
  const answer = async (delivery: InboxDelivery): Promise<boolean> => {
    const { message, entryId } = delivery;
    if (message === undefined) {
      logger.error({ entryId }, 'inbox entry is not a message (messageId, text, acceptedAt); acknowledged without a turn');
      return (await untilDone('acknowledge', () => inbox.ack(entryId), stop, logger)) !== undefined;
    }
    const answered = answeredHere.has(message.messageId)
      || await untilDone('check the answered hash', () => inbox.isAnswered(message.messageId), stop, logger);
    if (answered === undefined) return false;
    if (!answered) {
      const interrupt = new AbortController();
      c.setTurn(interrupt);
      const result = await runTurn(turns, message, delivery.delivery, interrupt.signal).finally(() => c.setTurn(undefined));
      if (result === 'stopped') return false;
      answeredHere.add(message.messageId);
      // The operator has the answer in Postgres before the message leaves the inbox.
      while (!(await c.publisher.waitPersisted(result.completedSeq, persistWarnMs, stop))) {
        if (stop.aborted) return false;
        logger.warn({ messageId: message.messageId, seq: result.completedSeq }, 'the turn\'s answer is not in Postgres yet; waiting');
      }
    } else {
      logger.info({ messageId: message.messageId, delivery: delivery.delivery }, 'message already answered; acknowledged');
    }
    return (await untilDone('acknowledge', () => inbox.ack(entryId), stop, logger)) !== undefined;
  };

  const idleMs = config.session.idleTimeoutMs;
  let idleSince = Date.now();
  while (!stop.aborted) {
    let batch = await untilDone('read pending messages', () => inbox.readPending(pendingBatch), stop, logger);
    if (batch === undefined) break;
    if (batch.length === 0) {
      const left = idleSince + idleMs - Date.now();
      if (left <= 0) {
        logger.info({ idleMs }, 'idle: no message for the idle timeout');
        return { reason: 'Idle', message: `No message for ${Math.round(idleMs / 1000)} s.`, exitCode: runnerExitCodes.succeeded };
      }
      batch = await whenNotAborted(untilDone('read new messages', () => inbox.readNew(left), stop, logger), stop);
      if (batch === undefined) break;
    }
    for (const delivery of batch) {
      if (!(await answer(delivery))) break;
      idleSince = Date.now();
    }
  }
  return stopped();
}

function stopped(): SessionEnd {
  return { reason: 'Stopped', message: 'Stopped by SIGTERM; a turn in flight is answered by the next pod.', exitCode: runnerExitCodes.cancelled };
}

function endOfError(error: unknown, logger: Logger): SessionEnd {
  if (error instanceof RunnerError) {
    logger.error({ err: error.message, retryable: error.retryable }, 'session activation failed');
    if (error.exitCode === runnerExitCodes.cancelled) return stopped();
    return { reason: 'Failed', message: error.message, exitCode: error.exitCode };
  }
  logger.error({ err: error }, 'runner error');
  return { reason: 'Failed', message: `Runner error: ${(error as Error).message}`, exitCode: runnerExitCodes.taskFailed };
}
