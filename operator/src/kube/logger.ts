// The logging the kube building blocks need: pino's shape (an object of
// fields, then a message), so a pino Logger can be passed as is.

export interface Logger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export const silentLogger: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

/** An error as log fields: its message, and its HTTP status when it has one. */
export function errorFields(error: unknown): { err: string; statusCode?: number } {
  const message = error instanceof Error ? error.message : String(error);
  const statusCode = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof statusCode === 'number' ? { err: message, statusCode } : { err: message };
}
