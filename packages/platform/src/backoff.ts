// Exponential backoff with jitter: a fleet of runners that lost the same Redis,
// or informers (and operator replicas) that lost the same apiserver, should not
// all come back at the same instant.

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}

export const defaultBackoff: BackoffOptions = { initialMs: 100, maxMs: 5_000 };

/** The wait before retry number `failures` (1 = after the first failure):
 * half of the exponential step plus a random part of the other half. */
export function backoffDelay(failures: number, options: BackoffOptions = defaultBackoff, random: () => number = Math.random): number {
  const step = Math.min(options.maxMs, options.initialMs * 2 ** Math.max(0, failures - 1));
  return Math.round(step / 2 + random() * (step / 2));
}
