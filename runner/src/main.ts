// The runner's entry point in the task pod: node runner/src/main.ts
// Exit codes are listed in packages/contracts/src/pod-contract.ts and runner/README.md.
import { loadConfig, loadSessionConfig, runnerModeOf } from './config.ts';
import { podPaths, runnerExitCodes } from '../../packages/contracts/src/pod-contract.ts';
import { ConfigError } from './errors.ts';
import { hostPath } from './host-path.ts';
import { makeLogger } from '../../packages/platform/src/logger.ts';
import { runTask } from './run-task.ts';
import { runSession } from './session/run-session.ts';
import { writeTerminationMessage } from './termination.ts';

const logger = makeLogger('claude-runner', process.env.RUNNER_LOG_LEVEL ?? 'info');
const stop = new AbortController();
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stop.signal.aborted) return;
    logger.info({ signal }, 'stopping: the CLI gets SIGTERM, then the events are flushed');
    stop.abort();
  });
}

async function main(): Promise<number> {
  let run: () => Promise<number>;
  try {
    // CLAUDE_RUNNER_MODE: a task's attempt (the default) or a session's activation (session/run-session.ts).
    if (runnerModeOf(process.env) === 'session') {
      const config = loadSessionConfig(process.env);
      run = () => runSession({ config, signal: stop.signal, logger, runnerEnv: process.env });
    } else {
      const config = loadConfig(process.env);
      run = () => runTask({ config, signal: stop.signal, logger, runnerEnv: process.env });
    }
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // Without a valid config there is no Redis to tell; the termination message still says why.
    logger.error({ err: error.message }, 'invalid configuration');
    await writeTerminationMessage(hostPath(process.env.RUNNER_TERMINATION_LOG || podPaths.terminationLog), {
      outcome: 'failed', exitCode: runnerExitCodes.invalid, message: error.message, reason: null, sessionId: null, model: null, usage: null,
      result: null, resultTruncated: false, attempt: null, lastSeq: 0, unpublishedEvents: 0,
    }).catch(() => undefined);
    return runnerExitCodes.invalid;
  }
  return run();
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    logger.fatal({ err: error }, 'runner crashed');
    process.exit(runnerExitCodes.taskFailed);
  },
);
