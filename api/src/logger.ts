// Structured JSON logs (pino). Prompts, tokens and secrets are never logged at info.
export { makeLogger, type Logger } from '../../packages/platform/src/logger.ts';

/** An error for a log line: its stack when it has one. */
export function errorText(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}
