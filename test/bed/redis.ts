// A Redis for one test bed: REDIS_URL when the caller gives one, otherwise a
// redis-server of our own on a free loopback port, without persistence, stopped by close().
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports.ts';
import { startSupervised, waitFor, type Supervised } from './process.ts';

const execFileAsync = promisify(execFile);

export interface ProvisionedRedis {
  url: string;
  /** Our redis-server's pid; undefined for REDIS_URL. */
  pid: number | undefined;
  /** Stops our redis-server and removes its directory; nothing for REDIS_URL. Idempotent. */
  close(): Promise<void>;
}

/** A port taken between freePort() and the bind shows as an early exit; retry then. */
const START_ATTEMPTS = 3;

export async function provisionRedis({ logDir }: { logDir: string }): Promise<ProvisionedRedis> {
  const given = process.env.REDIS_URL;
  if (given) return { url: given, pid: undefined, close: async () => {} };

  await requireRedisServer();
  await fs.mkdir(logDir, { recursive: true });
  let lastError: unknown;
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'claude-operator-redis-'));
    const port = await freePort();
    const server = startSupervised({
      name: `redis-server:${port}`,
      command: 'redis-server',
      args: ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
      cwd: dir,
      logFile: path.join(logDir, `redis-${port}.log`),
    });
    const stopAndClean = async () => {
      await server.stop();
      await fs.rm(dir, { recursive: true, force: true });
    };
    try {
      await untilAnswering(server, port);
    } catch (error) {
      lastError = error;
      await stopAndClean();
      continue;
    }
    let closing: Promise<void> | undefined;
    return {
      url: `redis://127.0.0.1:${port}`,
      pid: server.pid,
      close() {
        closing ??= stopAndClean();
        return closing;
      },
    };
  }
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}

async function requireRedisServer(): Promise<void> {
  try {
    await execFileAsync('redis-server', ['--version']);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    throw new Error(
      'No Redis for the test bed: REDIS_URL is not set and redis-server is not installed. ' +
        'Install it (as root): apt-get install -y redis-server (or run: bash test/bed/prerequisites.sh); ' +
        'or set REDIS_URL.',
      { cause: error },
    );
  }
}

/** Resolves once our server answers; rejects as soon as it exits instead. */
async function untilAnswering(server: Supervised, port: number): Promise<void> {
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  void server.exited.then((result) => (exit = result));
  try {
    // An exit ends the polling too, so a dead server does not cost the whole timeout.
    const answers = async () => exit !== undefined || (await answeringPid(port)) === server.pid;
    await waitFor(`${server.name} to answer`, answers, { timeoutMs: 20_000, intervalMs: 100 });
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${server.logTail()}`, { cause: error });
  }
  if (exit !== undefined) {
    throw new Error(`${server.name} exited (code ${exit.code}, signal ${exit.signal}) before answering:\n${server.logTail()}`);
  }
}

/** The process_id in INFO from whatever answers on the port, undefined if nothing does.
 * Compared with our pid because a port taken by another redis-server between
 * freePort() and our bind would answer PING too. A raw socket, so no client
 * library's reconnect timers outlive a failed check. */
function answeringPid(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let reply = '';
    const finish = (pid: number | undefined) => {
      socket.destroy();
      resolve(pid);
    };
    socket.setTimeout(1_000, () => finish(undefined));
    socket.on('error', () => finish(undefined));
    socket.on('connect', () => socket.write('INFO server\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      if (reply.startsWith('-')) finish(undefined); // e.g. -LOADING
      const match = /\r\nprocess_id:(\d+)\r\n/.exec(reply);
      if (match?.[1] !== undefined) finish(Number(match[1]));
    });
  });
}
