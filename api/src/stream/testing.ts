// The stream server on its own, for its integration tests and the latency
// benchmark: an http server on a loopback port with the WebSocket attached, the
// one StreamReader, tickets in Redis, tasks looked up in Postgres, and callers
// from a fixed token table instead of JWTs.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import pg from 'pg';
import { pino, type Logger } from 'pino';
import { WebSocket } from 'ws';
import { parseStreamEntry } from '../../../packages/contracts/src/event-stream.ts';
import type { TaskEventRecord } from '../../../packages/contracts/src/task-events.ts';
import { writeEvents } from '../../../packages/database/src/task-records.ts';
import { AuthenticationError, type Authenticator, type Caller } from '../auth/caller.ts';
import { ChannelSubscriber } from './channel-subscriber.ts';
import { StreamReader } from './stream-reader.ts';
import { postgresSessionLookup, sessionStreamKind, taskStreamKind } from './stream-kinds.ts';
import { postgresTaskLookup } from './task-lookup.ts';
import { RedisStreamTickets } from './tickets.ts';
import { attachStreamServer, type StreamServer, type StreamServerOptions } from './ws-server.ts';

export interface StreamStack {
  /** ws://127.0.0.1:port */
  base: string;
  streamUrl(namespace: string, name: string, query?: Record<string, string | number>): string;
  redis: Redis;
  pool: pg.Pool;
  reader: StreamReader;
  tickets: RedisStreamTickets;
  streamServer: StreamServer;
  close(): Promise<void>;
}

export type StackOptions = Partial<Omit<StreamServerOptions, 'authenticator' | 'tickets' | 'kinds' | 'reader' | 'redis' | 'channels'>> & {
  redisUrl: string;
  databaseUrl: string;
  /** Bearer token -> caller. */
  callers: Record<string, Caller>;
  logger?: Logger;
  readerBlockMs?: number;
};

export function tokenTable(callers: Record<string, Caller>): Authenticator {
  return {
    async authenticate(token) {
      const caller = callers[token];
      if (!caller) throw new AuthenticationError('unknown token');
      return caller;
    },
  };
}

export async function startStreamStack(options: StackOptions): Promise<StreamStack> {
  const { redisUrl, databaseUrl, callers, readerBlockMs, ...serverOptions } = options;
  const logger = options.logger ?? pino({ level: 'silent' });
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 2 });
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 10 });
  const reader = new StreamReader({ redisUrl, commands: redis, logger, blockMs: readerBlockMs ?? 5_000 });
  const tickets = new RedisStreamTickets(redis);
  const channels = new ChannelSubscriber({ redisUrl, logger });
  const server = http.createServer((_request, response) => response.writeHead(404).end());
  const streamServer = attachStreamServer(server, {
    ...serverOptions,
    logger,
    authenticator: tokenTable(callers),
    tickets,
    kinds: [taskStreamKind(postgresTaskLookup(pool), pool), sessionStreamKind(postgresSessionLookup(pool), pool)],
    reader,
    redis,
    channels,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let closing: Promise<void> | undefined;
  return {
    base,
    streamUrl(namespace, name, query = {}) {
      const search = new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]));
      return `${base}/api/v1/namespaces/${encodeURIComponent(namespace)}/tasks/${encodeURIComponent(name)}/stream?${search}`;
    },
    redis,
    pool,
    reader,
    tickets,
    streamServer,
    close() {
      closing ??= (async () => {
        await streamServer.close();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await reader.close();
        channels.close();
        redis.disconnect();
        await pool.end();
      })();
      return closing;
    },
  };
}

/** Inserts a claude_tasks row as the operator would; returns its uid. */
export async function insertTask(pool: pg.Pool, task: { uid: string; namespace: string; name: string; phase: string }): Promise<void> {
  await pool.query(
    `INSERT INTO claude_tasks (uid, namespace, name, spec, phase, created_at) VALUES ($1, $2, $3, '{}'::jsonb, $4, now())`,
    [task.uid, task.namespace, task.name, task.phase],
  );
}

export async function setPhase(pool: pg.Pool, uid: string, phase: string): Promise<void> {
  await pool.query('UPDATE claude_tasks SET phase = $2 WHERE uid = $1', [uid, phase]);
}

/** Copies the stream into claude_task_events, as the operator does when the task ends. */
export async function copyStreamToHistory(pool: pg.Pool, redis: Redis, key: string, uid: string): Promise<number> {
  const entries = await redis.xrange(key, '-', '+');
  const rows = entries.map(([id, fields]) => {
    const { seq, type, data, time } = parseStreamEntry(id, fields);
    return { seq, type, data, time };
  });
  await writeEvents(pool, uid, rows);
  return rows.length;
}

/** A raw-view message as a client receives it. */
export type ReceivedMessage = TaskEventRecord<Record<string, unknown>>;

export interface Followed {
  ws: WebSocket;
  messages: ReceivedMessage[];
  /** Resolves with the close code and reason once the socket is closed. */
  closed: Promise<{ code: number; reason: string }>;
  /** Resolves when the upgrade succeeded; rejects with the HTTP status and body when it was refused. */
  opened: Promise<void>;
  /** The headers of the 101 answer. */
  upgradeHeaders: Promise<http.IncomingHttpHeaders>;
}

export class UpgradeRefused extends Error {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;

  constructor(status: number, headers: http.IncomingHttpHeaders, body: string) {
    super(`upgrade refused: ${status} ${body}`);
    this.status = status;
    this.headers = headers;
    this.body = body;
  }

  get contentType(): string | undefined {
    return this.headers['content-type'];
  }
}

/** A WebSocket client that keeps every message; onMessage may close it early. */
export function follow(url: string, options: { token?: string; onMessage?: (message: ReceivedMessage, ws: WebSocket) => void } = {}): Followed {
  const headers: Record<string, string> = options.token ? { authorization: `Bearer ${options.token}` } : {};
  const ws = new WebSocket(url, { headers, perMessageDeflate: false });
  const messages: ReceivedMessage[] = [];
  ws.on('message', (raw) => {
    const message = JSON.parse(String(raw)) as ReceivedMessage;
    messages.push(message);
    options.onMessage?.(message, ws);
  });
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_request, response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => reject(new UpgradeRefused(response.statusCode ?? 0, response.headers, body)));
    });
    ws.once('error', reject);
  });
  opened.catch(() => undefined);
  const upgradeHeaders = new Promise<http.IncomingHttpHeaders>((resolve) => ws.once('upgrade', (response) => resolve(response.headers)));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.once('close', (code, reason) => resolve({ code, reason: String(reason) }));
    // A refused upgrade never opens, so it never closes either.
    opened.catch(() => resolve({ code: 0, reason: 'refused' }));
  });
  return { ws, messages, closed, opened, upgradeHeaders };
}
