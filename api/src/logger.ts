// Structured JSON logs (pino). Prompts, tokens and secrets are never logged at info.
export { makeLogger, type Logger } from '../../operator/src/logger.ts';
