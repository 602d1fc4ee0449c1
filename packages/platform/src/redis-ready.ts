// Waits a while for an ioredis connection to be ready, so a start or a
// reconnect is not reported as a failure. Resolves true once ready, false
// when the wait ran out (the caller decides whether that is an error).
export interface ReadyEmitter {
  readonly status: string;
  once(event: 'ready', listener: () => void): unknown;
  off(event: 'ready', listener: () => void): unknown;
}

export async function redisReady(redis: ReadyEmitter, timeoutMs: number): Promise<boolean> {
  if (redis.status === 'ready') return true;
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      redis.off('ready', done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    timer.unref();
    redis.once('ready', done);
  });
  return redis.status === 'ready';
}
