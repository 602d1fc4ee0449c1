// A redis-server of one test's own, on a free loopback port, for faults the
// bed's shared Redis must not suffer: SIGKILL, a restart on the same port, empty
// (as a Redis without persistence comes back) or with its append-only file.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from '../bed/ports.ts';
import { startSupervised, waitFor, type Supervised } from '../bed/process.ts';

export interface OwnRedis {
  url: string;
  port: number;
  /** The running server's pid, undefined while it is down. */
  pid(): number | undefined;
  /** SIGKILL: no shutdown, nothing saved. */
  kill(): Promise<void>;
  /** Starts it again on the same port; `empty` first removes whatever it had on disk. */
  restart(options?: { empty?: boolean }): Promise<void>;
  /** Stops it and removes its directory. Idempotent. */
  close(): Promise<void>;
}

export async function startOwnRedis({ appendOnly = false }: { appendOnly?: boolean } = {}): Promise<OwnRedis> {
  // The name marks it as the bed's for test/leftover-processes.sh.
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'claude-operator-own-redis-'));
  const port = await freePort();
  let server: Supervised | undefined;

  async function start(): Promise<void> {
    server = startSupervised({
      name: `own-redis:${port}`,
      command: 'redis-server',
      args: ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir,
        ...(appendOnly ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'])],
      cwd: dir,
      logFile: path.join(dir, 'redis.log'),
    });
    await waitFor(`own redis-server on ${port}`, async () => {
      const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        return (await probe.ping()) === 'PONG';
      } finally {
        probe.disconnect();
      }
    }, { timeoutMs: 15_000, intervalMs: 100 });
  }

  await start();
  let closing: Promise<void> | undefined;
  const redis: OwnRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid: () => server?.pid,
    async kill() {
      const running = server;
      server = undefined;
      if (!running) return;
      if (running.pid !== undefined) process.kill(running.pid, 'SIGKILL');
      await running.exited;
    },
    async restart({ empty = false } = {}) {
      await redis.kill();
      if (empty) {
        for (const entry of await fs.readdir(dir)) if (entry !== 'redis.log') await fs.rm(path.join(dir, entry), { recursive: true, force: true });
      }
      await start();
    },
    close() {
      closing ??= (async () => {
        await server?.stop();
        await fs.rm(dir, { recursive: true, force: true });
      })();
      return closing;
    },
  };
  return redis;
}
