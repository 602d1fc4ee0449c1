// Structured JSON logs (pino), for every deployable. Prompts, tokens, keys and
// model output are never logged at info.
import { pino } from 'pino';

export type Logger = pino.Logger;

export function makeLogger(name: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, base: { component: name } });
}

/** An error for a log line: its stack when it has one. */
export function errorText(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}
