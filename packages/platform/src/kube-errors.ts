// What an error from the Kubernetes API (@kubernetes/client-node) says: its
// HTTP status, whether retrying the same request could change the answer, and
// the apiserver's own message.

/** The HTTP status of a client-node error, if it has one. */
export function statusCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'number' ? code : undefined;
}

/** 4xx answers that retrying the same request cannot change: not 409 (a conflict
 * the next pass resolves), 429 (throttled) or 408 (timed out). */
export function isPermanentApiError(error: unknown): boolean {
  const code = statusCode(error);
  return code !== undefined && code >= 400 && code < 500 && ![408, 409, 429].includes(code);
}

/** The apiserver's own words: the message of the Status it answered with. */
export function apiServerMessage(error: unknown): string {
  const body = (error as { body?: unknown })?.body;
  try {
    const status = typeof body === 'string' ? JSON.parse(body) as { message?: unknown } : body as { message?: unknown } | undefined;
    if (typeof status?.message === 'string') return status.message;
  } catch {
    // not JSON: fall through
  }
  return error instanceof Error ? error.message : String(error);
}
