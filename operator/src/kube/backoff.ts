// Exponential backoff with jitter: several informers (or operator replicas)
// that lost the same apiserver must not all come back at the same instant.

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}

/** The wait before retry number `failures` (1 = after the first failure):
 * half of the capped exponential step plus a random part of the other half. */
export function backoffDelay(failures: number, options: BackoffOptions, random: () => number = Math.random): number {
  const step = Math.min(options.maxMs, options.initialMs * 2 ** Math.max(0, failures - 1));
  return Math.round(step / 2 + random() * (step / 2));
}
