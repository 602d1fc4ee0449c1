// Structured JSON logs on stdout (the container log). Prompts, keys and model
// output are never logged at info; events go to Redis, not here.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string = process.env.RUNNER_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name: 'claude-runner', level, base: { pid: process.pid } });
}
