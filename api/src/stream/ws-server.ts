// The event WebSocket of a task or a session (stream-kinds.ts):
// GET /api/v1/namespaces/:ns/{tasks|sessions}/:name/stream?from=<seq>&view=raw|normalized&partial=true
//
// Everything is decided at the HTTP upgrade, before any WebSocket exists: the
// caller (a bearer token, or a single-use ticket for browsers), the tenant (a task
// outside the caller's namespaces is 404, as if it did not exist) and the task.
// A refusal is a plain HTTP answer with a problem+json body, and no upgrade.
//
// Once upgraded the socket only sends: each message is `{seq, type, data, time}`,
// with `messageId` for a session's events of a message's turn (with
// ?view=normalized: the normalized events of events/normalized.ts), from the
// event after `from` (0 = the start) to the last event, then a close with 1000
// (a session's stream goes on until the session is closed or gone).
// With ?partial=true the CLI's partial-message chunks come too, as
// they are published (events/partial.ts). A client too slow for the live stream
// is closed with 1013 and a reason that says where to reconnect from.
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { WebSocket, WebSocketServer } from 'ws';
import { AuthenticationError, canSee, type Authenticator, type Caller, type StreamTarget, type StreamTickets } from '../auth/caller.ts';
import type { z } from 'zod';
import { normalizeEvent, type EventView } from '../events/normalized.ts';
import { partialMessage } from '../events/partial.ts';
import { Problem, parseOr400, problemOf } from '../http/problem.ts';
import { rateLimitHeaders, rateLimitKey, rateLimitedProblem, type RateLimiter } from '../http/rate-limit.ts';
import { workloadStreamKeys } from '../../../packages/contracts/src/event-stream.ts';
import { errorText } from '../../../packages/platform/src/logger.ts';
import type { ChannelSubscriber } from './channel-subscriber.ts';
import { closeCodes, EventFeed, type FeedSink } from './replay.ts';
import type { StreamReader } from './stream-reader.ts';
import type { StreamKind } from './stream-kinds.ts';
import type { TaskRef } from './task-lookup.ts';
import { StreamQuerySchema } from '../tasks/schemas.ts';
import type { StreamEvent } from './stream-event.ts';
import { closeSocket, waitForDrain } from './socket.ts';
import { refuseUpgrade } from './upgrade-reply.ts';

type StreamQuery = z.infer<typeof StreamQuerySchema>;

const normalizedView = (event: StreamEvent): string[] => normalizeEvent(event)
  .map((normalized) => JSON.stringify(event.messageId === undefined ? normalized : { ...normalized, messageId: event.messageId }));

export interface StreamServerOptions {
  authenticator: Authenticator;
  /** Without it, only bearer tokens are accepted. */
  tickets?: StreamTickets;
  /** What can be followed: tasks, sessions. */
  kinds: StreamKind[];
  reader: StreamReader;
  /** Non-blocking commands (XRANGE), shared. */
  redis: Redis;
  logger: Logger;
  /** The REST limit: an upgrade counts as a request and is refused (429) before it happens. */
  rateLimiter?: RateLimiter;
  /** Pub/Sub, for clients that ask for partial messages (?partial=true); without it they are refused (501). */
  channels?: ChannelSubscriber;
  /** A live client with more unsent bytes than this is closed with 1013. Default 1 MiB. */
  maxBufferedBytes?: number;
  /** How long a replay waits for a client to take what it was sent. Default 30 s. */
  stallMs?: number;
  /** How long a closed socket may take to finish the closing handshake. Default 5 s. */
  closeGraceMs?: number;
  /** Pings; a client that has not answered the previous one is dropped. Default 30 s. */
  pingIntervalMs?: number;
  idleCheckMs?: number;
  pageSize?: number;
}

export interface StreamServerStats {
  clients: number;
  /** Clients closed because they could not keep up. */
  closedSlow: number;
  /** The largest send buffer any client reached, in bytes. */
  maxBufferedSeen: number;
}

export interface StreamServer {
  stats(): StreamServerStats;
  /** Stops taking upgrades and closes every client with 1001. Idempotent. */
  close(): Promise<void>;
}

export const streamPathPattern = /^\/api\/v1\/namespaces\/([^/]+)\/([a-z]+)\/([^/]+)\/stream$/;
/** Kubernetes object names; anything else cannot be a task or a session. */
const namePattern = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** The client closed its socket during authentication: there is nobody to answer. */
class ClientGone extends Error {}

const notFound = (what = 'task'): Problem => new Problem('not-found', `no such ${what}`);

interface Target { kind: StreamKind; object: TaskRef }

export function attachStreamServer(server: http.Server, options: StreamServerOptions): StreamServer {
  const settings = {
    ...options,
    maxBufferedBytes: options.maxBufferedBytes ?? 1024 * 1024,
    stallMs: options.stallMs ?? 30_000,
    closeGraceMs: options.closeGraceMs ?? 5_000,
    pingIntervalMs: options.pingIntervalMs ?? 30_000,
  };
  const { logger } = settings;
  // Clients never need to send anything; a tiny limit keeps them from trying.
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024, perMessageDeflate: false, clientTracking: false });
  const clients = new Set<{ ws: WebSocket; feed: EventFeed; alive: boolean }>();
  const counters = { closedSlow: 0, maxBufferedSeen: 0 };
  /** Extra headers for a request's 101 answer. */
  const upgradeHeaders = new WeakMap<http.IncomingMessage, Record<string, string>>();
  wss.on('headers', (headers, request) => {
    for (const [name, value] of Object.entries(upgradeHeaders.get(request) ?? {})) headers.push(`${name}: ${value}`);
  });
  let closing: Promise<void> | undefined;

  const onUpgrade = (request: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    // A client that goes away during authentication must not crash the process.
    socket.on('error', (error) => logger.debug({ err: error.message }, 'upgrade socket error'));
    accept(request, socket).then(
      ({ target, query, caller }) => {
        if (closing || socket.destroyed) {
          socket.destroy();
          return;
        }
        wss.handleUpgrade(request, socket, head, (ws) => startClient(ws, target, query, caller));
      },
      (error: unknown) => {
        if (error instanceof ClientGone) {
          socket.destroy();
          return;
        }
        let problem = problemOf(error);
        if (problem.status >= 500) {
          logger.error({ err: errorText(problem.cause ?? error) }, 'stream upgrade failed');
          problem = new Problem('unavailable', 'cannot open the stream now');
        }
        refuseUpgrade(socket, problem, pathOf(request));
      },
    );
  };

  async function accept(request: http.IncomingMessage, socket: Duplex): Promise<{ target: Target; query: StreamQuery; caller: Caller }> {
    if (closing) throw new Problem('unavailable', 'the server is shutting down');
    const url = new URL(request.url ?? '/', 'http://localhost');
    const match = streamPathPattern.exec(url.pathname);
    const kind = settings.kinds.find((candidate) => candidate.collection === match?.[2]);
    const namespace = decode(match?.[1]);
    const name = decode(match?.[3]);
    if (!kind || !namespace || !name) throw notFound(kind?.what);
    const caller = await authenticate(request, url, { namespace, name, collection: kind.collection });
    await takeRateLimit(request, caller);
    if (!canSee(caller, namespace) || !namePattern.test(namespace) || !namePattern.test(name)) throw notFound(kind.what);
    const query = parseOr400(StreamQuerySchema, Object.fromEntries(url.searchParams), 'the query', ['query']);
    if (query.partial && !settings.channels) throw new Problem('not-implemented', 'partial messages are not available on this server');
    const object = await kind.lookup(namespace, name);
    if (!object) throw notFound(kind.what);
    if (socket.destroyed) throw new ClientGone();
    return { target: { kind, object }, query, caller };
  }

  async function authenticate(request: http.IncomingMessage, url: URL, taskKey: StreamTarget): Promise<Caller> {
    const header = request.headers.authorization;
    const ticket = url.searchParams.get('ticket');
    if (header !== undefined) {
      const bearer = /^Bearer +([^ ]+)$/i.exec(header)?.[1];
      if (!bearer) throw new AuthenticationError('the Authorization header is not a bearer token');
      return await settings.authenticator.authenticate(bearer);
    }
    if (ticket !== null && settings.tickets) return await settings.tickets.redeem(ticket, taskKey);
    throw new AuthenticationError('a bearer token or a stream ticket is required');
  }

  /** Refuses with 429 over the limit; otherwise the 101 carries the RateLimit fields. A limiter that fails lets the upgrade through. */
  async function takeRateLimit(request: http.IncomingMessage, caller: Caller): Promise<void> {
    if (!settings.rateLimiter) return;
    let decision;
    try {
      decision = await settings.rateLimiter.take(rateLimitKey(caller));
    } catch (error) {
      logger.warn({ err: (error as Error).message }, 'rate limiter unavailable; upgrade let through');
      return;
    }
    if (!decision.allowed) throw rateLimitedProblem(decision);
    upgradeHeaders.set(request, rateLimitHeaders(decision));
  }

  function startClient(ws: WebSocket, { kind, object: task }: Target, query: StreamQuery, caller: Caller): void {
    const { from, view } = query;
    const sink: FeedSink = {
      send(json) {
        if (ws.readyState !== WebSocket.OPEN) return;
        ws.send(json);
        counters.maxBufferedSeen = Math.max(counters.maxBufferedSeen, ws.bufferedAmount);
      },
      bufferedAmount: () => ws.bufferedAmount,
      waitForDrain: (bytes) => waitForDrain(ws, bytes, settings.stallMs),
      close(code, reason) {
        if (code === closeCodes.tryAgainLater) counters.closedSlow++;
        closeSocket(ws, code, reason, settings.closeGraceMs);
      },
    };
    const identity = { namespace: task.namespace, name: task.name, uid: task.uid };
    const keys = workloadStreamKeys(kind.workload, task.namespace, task.name);
    const feed = new EventFeed({
      reader: settings.reader,
      redis: settings.redis,
      history: kind.history,
      logger,
      maxBufferedBytes: settings.maxBufferedBytes,
      idleCheckMs: settings.idleCheckMs,
      pageSize: settings.pageSize,
      isFinished: async () => kind.isFinished(await kind.lookup(task.namespace, task.name)),
      completion: kind.completion,
      finishedReason: `${kind.what} finished`,
      encode: view === 'normalized' ? normalizedView : undefined,
    }, identity, keys.events, from, sink);
    const client = { ws, feed, alive: true };
    clients.add(client);
    const stopPartials = query.partial ? followPartials(ws, keys.partial, view) : undefined;
    ws.on('pong', () => (client.alive = true));
    ws.on('error', (error) => logger.debug({ err: error.message }, 'stream socket error'));
    ws.on('close', (code) => {
      feed.stop();
      stopPartials?.();
      clients.delete(client);
      logger.debug({ [kind.what]: `${task.namespace}/${task.name}`, subject: caller.subject, code, lastSeq: feed.lastSeq }, 'stream closed');
    });
    logger.debug({ [kind.what]: `${task.namespace}/${task.name}`, subject: caller.subject, from, view }, 'stream opened');
    feed.start();
  }

  /**
   * Sends the partial-message chunks of the channel as they are published, from the
   * moment the subscription holds. They are extras: a client with a full send
   * buffer does not get them, and they are never replayed.
   */
  function followPartials(ws: WebSocket, channel: string, view: EventView): () => void {
    let unsubscribe: (() => void) | undefined;
    let stopped = false;
    settings.channels!.subscribe(channel, (published) => {
      if (ws.readyState !== WebSocket.OPEN || ws.bufferedAmount > settings.maxBufferedBytes / 2) return;
      const message = partialMessage(published, view);
      if (message !== undefined) ws.send(message);
    }).then((done) => {
      if (stopped) done();
      else unsubscribe = done;
    }, (error: Error) => logger.warn({ err: error.message, channel }, 'cannot follow partial messages'));
    return () => {
      stopped = true;
      unsubscribe?.();
    };
  }

  const heartbeat = setInterval(() => {
    for (const client of clients) {
      if (!client.alive) {
        client.ws.terminate();
        continue;
      }
      client.alive = false;
      client.ws.ping();
    }
  }, settings.pingIntervalMs);
  heartbeat.unref();

  server.on('upgrade', onUpgrade);

  return {
    stats: () => ({ clients: clients.size, ...counters }),
    close() {
      closing ??= (async () => {
        server.off('upgrade', onUpgrade);
        clearInterval(heartbeat);
        const closed = [...clients].map(({ ws, feed }) => {
          feed.stop();
          return new Promise<void>((resolve) => {
            if (ws.readyState === WebSocket.CLOSED) resolve();
            else ws.once('close', () => resolve());
            closeSocket(ws, closeCodes.goingAway, 'server shutting down', settings.closeGraceMs);
          });
        });
        await Promise.all(closed);
        await new Promise<void>((resolve) => wss.close(() => resolve()));
      })();
      return closing;
    },
  };
}

function pathOf(request: http.IncomingMessage): string {
  return (request.url ?? '/').split('?')[0]!.slice(0, 512);
}

function decode(segment: string | undefined): string | undefined {
  if (segment === undefined) return undefined;
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}
