// The API's dependencies made from its configuration: Kubernetes clients, a
// Postgres pool, a Redis connection, the JWT authenticator. start() migrates
// the database and listens; close() ends it all.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CustomObjectsApi, KubeConfig, VersionApi } from '@kubernetes/client-node';
import { Redis } from 'ioredis';
import pg from 'pg';
import { migrate } from '../../packages/database/src/migrate.ts';
import { createPool } from '../../packages/database/src/pool.ts';
import { createApp, type AppDeps } from './app.ts';
import type { StreamTickets } from './auth/caller.ts';
import { JwtAuthenticator } from './auth/jwt.ts';
import { PgAuditLog } from './audit.ts';
import type { ApiConfig } from './config.ts';
import { PgIdempotencyStore } from './http/idempotency.ts';
import { RedisRateLimiter } from './http/rate-limit.ts';
import type { Logger } from '../../packages/platform/src/logger.ts';
import { ApiMetrics } from './metrics.ts';
import { PgRedisHistory } from './tasks/history.ts';
import { actors } from './kube/impersonation.ts';
import { KubeTasks } from './tasks/kube-tasks.ts';
import { KubeTemplates } from './templates/kube-templates.ts';
import { kubeTaskLookup } from './stream/kube-task-lookup.ts';
import { KubeSessions } from './sessions/kube-sessions.ts';
import { kubeSessionLookup, sessionStreamKind, taskStreamKind } from './stream/stream-kinds.ts';
import { ChannelSubscriber } from './stream/channel-subscriber.ts';
import { StreamReader } from './stream/stream-reader.ts';
import { RedisStreamTickets } from './stream/tickets.ts';
import { attachStreamServer } from './stream/ws-server.ts';

export interface ApiServer {
  url: string;
  server: http.Server;
  deps: AppDeps;
  pool: pg.Pool;
  redis: Redis;
  kubeConfig: KubeConfig;
  close(): Promise<void>;
}

export interface StartOptions {
  config: ApiConfig;
  log: Logger;
  kubeConfig?: KubeConfig;
  /** The WebSocket part's tickets, when it is wired in. */
  tickets?: StreamTickets;
  /** Called with the http.Server before it listens (the WebSocket part attaches its upgrade handler). */
  onServer?: (server: http.Server, deps: AppDeps) => void;
  metrics?: ApiMetrics;
}

export async function startApiServer(options: StartOptions): Promise<ApiServer> {
  const { config, log } = options;
  const kubeConfig = options.kubeConfig ?? loadKubeConfig();
  const applied = await migrate(config.DATABASE_URL);
  log.info({ applied }, 'database migrated');
  // A Postgres that does not answer fails a query in seconds, not never: mutations are refused (503) while it is away.
  const pool = createPool(config.DATABASE_URL, { max: 10, connectionTimeoutMillis: 5_000,
    onIdleError: (error) => log.warn({ err: String(error) }, 'idle Postgres connection failed') });
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 2, enableOfflineQueue: false, lazyConnect: false });
  redis.on('error', (error) => log.warn({ err: String(error) }, 'Redis connection failed'));
  const metrics = options.metrics ?? new ApiMetrics();
  const version = kubeConfig.makeApiClient(VersionApi);
  const writers = actors(config);
  const tasks = new KubeTasks(kubeConfig.makeApiClient(CustomObjectsApi), writers);
  const sessions = new KubeSessions(kubeConfig.makeApiClient(CustomObjectsApi), writers);
  const tickets = options.tickets ?? new RedisStreamTickets(redis);
  // One Pub/Sub connection: ?wait and message wake-ups, and partial messages.
  const channels = new ChannelSubscriber({ redisUrl: config.REDIS_URL, logger: log });
  const deps: AppDeps = {
    tasks,
    templates: new KubeTemplates(kubeConfig.makeApiClient(CustomObjectsApi)),
    sessions: { store: sessions, pool, redis, messageWaitSeconds: config.MESSAGE_WAIT_SECONDS },
    history: new PgRedisHistory(pool, redis),
    usage: { db: pool },
    authenticator: new JwtAuthenticator({
      ...(config.JWT_HS256_SECRET ? { hs256Secret: config.JWT_HS256_SECRET } : { jwksUrl: config.JWT_JWKS_URL! }),
      issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE, clockToleranceSeconds: config.JWT_CLOCK_TOLERANCE_SECONDS,
      claims: { tenant: config.JWT_TENANT_CLAIM, namespaces: config.JWT_NAMESPACES_CLAIM, role: config.JWT_ROLE_CLAIM },
    }),
    rateLimiter: new RedisRateLimiter({ redis, limit: config.RATE_LIMIT_REQUESTS, windowSeconds: config.RATE_LIMIT_WINDOW_SECONDS }),
    audit: new PgAuditLog(pool),
    // A call holds its key at most for its longest ?wait and a minute more (messages do not use this store).
    idempotency: new PgIdempotencyStore(pool, { staleAfterSeconds: config.MAX_WAIT_SECONDS + 60 }),
    tickets,
    reports: {
      db: pool,
      pdf: { chromium: config.REPORT_CHROMIUM_PATH, timeoutMs: config.REPORT_PDF_TIMEOUT_SECONDS * 1000, concurrency: config.REPORT_PDF_CONCURRENCY },
    },
    readiness: {
      kubernetes: async () => { await version.getCode(); },
      postgres: async () => { await pool.query('SELECT 1'); },
      redis: async () => { await redis.ping(); },
    },
    log, metrics,
    bodyLimitBytes: config.BODY_LIMIT_BYTES,
    maxWaitSeconds: config.MAX_WAIT_SECONDS,
    trustProxy: config.TRUST_PROXY,
    wakeups: channels,
    waitRecheckMs: config.WAIT_RECHECK_SECONDS * 1000,
    cors: { allowedOrigins: config.CORS_ALLOWED_ORIGINS, maxAgeSeconds: config.CORS_MAX_AGE_SECONDS },
  };
  const longestWait = Math.max(config.MAX_WAIT_SECONDS, config.MESSAGE_WAIT_SECONDS);
  const server = http.createServer({ requestTimeout: (longestWait + 30) * 1000, headersTimeout: 20_000 }, createApp(deps));
  server.keepAliveTimeout = 65_000;
  // One blocking Redis reader for every WebSocket client of this process.
  const reader = new StreamReader({ redisUrl: config.REDIS_URL, commands: redis, logger: log });
  const streams = attachStreamServer(server, {
    authenticator: deps.authenticator, tickets, reader, redis, rateLimiter: deps.rateLimiter, logger: log, channels,
    kinds: [taskStreamKind(kubeTaskLookup(tasks, pool), pool), sessionStreamKind(kubeSessionLookup(sessions, pool), pool)],
  });
  options.onServer?.(server, deps);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.PORT, config.HOST, () => { server.off('error', reject); resolve(); });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}`,
    server, deps, pool, redis, kubeConfig,
    close: () => closing ??= (async () => {
      await streams.close();
      await reader.close();
      channels.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        // Waiting requests (?wait) end their waits; after the grace, connections go.
        setTimeout(() => server.closeAllConnections(), 10_000).unref();
      });
      redis.disconnect();
      await pool.end();
    })(),
  };
}

export function loadKubeConfig(): KubeConfig {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromDefault();
  return kubeConfig;
}
