// Structured JSON logs (pino). Prompts and secrets are never logged at info.
import { pino } from 'pino';

export type Logger = pino.Logger;

export function makeLogger(name: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, base: { component: name } });
}
