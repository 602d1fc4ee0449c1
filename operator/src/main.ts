// The operator's entry point: configuration, migrations, leader election, then
// the controller until SIGTERM.
//   node operator/src/main.ts
import os from 'node:os';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { Redis } from 'ioredis';
import { ConfigError } from '../../packages/platform/src/config.ts';
import { parseOperatorConfig } from './config.ts';
import { ClusterCache } from './cluster-cache.ts';
import { CronReconciler, cronController } from './cron-controller.ts';
import { EventCopier } from './event-copier.ts';
import { EventRecorder } from './event-recorder.ts';
import { makeKubeClients } from './kube-clients.ts';
import { createPool, isDatabaseUnreachable } from '../../packages/database/src/pool.ts';
import { LeaderElector } from './leader-election.ts';
import { Manager } from './manager.ts';
import { NotificationsReconciler, notificationsController } from './notifications/notifications-controller.ts';
import { makeLogger } from '../../packages/platform/src/logger.ts';
import { systemClock } from '../../packages/platform/src/clock.ts';
import { OperatorMetrics } from './metrics.ts';
import { RunnerRedisUsers } from './runner-redis-users.ts';
import { migrate } from '../../packages/database/src/migrate.ts';
import { TaskStore } from '../../packages/database/src/task-store.ts';
import { sumUsage } from '../../packages/database/src/usage-ledger.ts';
import { PolicyReconciler, applyIdentityObjects, policyController } from './policy/policy-controller.ts';
import { SessionReconciler } from './session/session-reconciler.ts';
import { SessionWakeSource, sessionController, sessionControllerName } from './session/session-controller.ts';
import { sessionCopyTarget } from './session/session-copier.ts';
import { taskController } from './task-controller.ts';
import { ConcurrencyGate } from './policy/concurrency-gate.ts';
import { SessionGate } from './policy/session-gate.ts';
import { PolicyStatusReconciler, policyStatusController } from './policy/policy-status-controller.ts';
import { jobNameFor } from './names.ts';
import type { ClaudePolicy } from '../../crds/src/claude-policy.ts';
import type { ClaudeSession } from '../../crds/src/claude-session.ts';
import type { ClaudeTask } from '../../crds/src/claude-task.ts';
import { TaskReconciler } from './task-reconciler.ts';
import { apiKeyRefOf, endedRateLimitedReset, rateLimitResetOf, RateLimitHolds } from './policy/rate-limits.ts';
import type { FollowedTask } from './event-copier.ts';
import type { TaskEventRecord } from '../../packages/contracts/src/task-events.ts';
import { timedMethods } from './timed.ts';

const log = makeLogger('claude-operator');

function loadKubeConfig(): KubeConfig {
  const config = new KubeConfig();
  if (process.env.KUBECONFIG || !process.env.KUBERNETES_SERVICE_HOST) {
    config.loadFromDefault();
  } else {
    // In a pod. The test bed's local node has no mount namespace and puts the
    // service-account files under LOCAL_NODE_ROOTFS; elsewhere that is unset.
    config.loadFromCluster(process.env.LOCAL_NODE_ROOTFS ? path.join(process.env.LOCAL_NODE_ROOTFS) : undefined);
  }
  return config;
}

async function main(): Promise<void> {
  let config;
  try {
    config = parseOperatorConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      log.fatal(error.message);
      process.exit(2);
    }
    throw error;
  }
  const metrics = new OperatorMetrics();
  const clients = makeKubeClients(loadKubeConfig(), { qps: config.KUBE_API_QPS, burst: config.KUBE_API_BURST }, {
    rateLimitWait: (seconds) => metrics.rateLimitWaitSeconds.observe(seconds),
    request: (verb, code, seconds) => metrics.apiserverSeconds.observe({ verb, code: String(code) }, seconds),
  });
  const applied = await migrate(config.DATABASE_URL);
  log.info({ applied }, 'database migrated');
  // A broken idle connection is only worth a log line: the next query reconnects.
  const postgresIdleError = (error: Error) => log.warn({ err: error.message }, 'idle Postgres connection failed');
  const store = timedMethods(new TaskStore(config.DATABASE_URL, { onIdleError: postgresIdleError }), (operation, seconds) => metrics.postgresSeconds.observe({ operation }, seconds));
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 3 });
  // Ready means able to serve: migrated, connected, metrics up. Not leadership: a
  // standby is Ready too, or a Deployment of 2 never finishes rolling out.
  const server = await metrics.serve(config.METRICS_PORT, () => true);

  const identity = process.env.POD_NAME ?? `${os.hostname()}-${process.pid}`;
  const elector = new LeaderElector({
    coordination: clients.coordination,
    namespace: process.env.LEADER_ELECTION_NAMESPACE ?? process.env.POD_NAMESPACE ?? 'default',
    name: 'claude-operator-leader',
    identity,
    log,
  });
  // Created once leading: only the leader copies, and a standby holds no blocking connection.
  const copying: { copier?: EventCopier; sessionCopier?: EventCopier } = {};
  const follower = {
    follow: (task: Parameters<EventCopier['follow']>[0]) => copying.copier?.follow(task),
    unfollow: (uid: string) => copying.copier?.unfollow(uid),
  };
  const sessionFollower = {
    follow: (session: Parameters<EventCopier['follow']>[0]) => copying.sessionCopier?.follow(session),
    unfollow: (uid: string) => copying.sessionCopier?.unfollow(uid),
  };
  // Sessions' records (packages/database/src/session-records.ts) take a pool.
  const sessionDb = createPool(config.DATABASE_URL, { max: 5, onIdleError: postgresIdleError });
  // The metrics' reads of the usage ledger: one connection, and a query Postgres itself stops, so a slow one holds nothing else.
  const ledgerDb = createPool(config.DATABASE_URL, {
    max: 1, connectionTimeoutMillis: 5_000, statementTimeoutMillis: config.METRICS_LEDGER_TIMEOUT_SECONDS * 2000, onIdleError: postgresIdleError,
  });
  const redisUsers = config.RUNNER_REDIS_USERS === 'per-task'
    ? new RunnerRedisUsers({ redis, secret: config.RUNNER_REDIS_ACL_SECRET ?? '', runnerRedisUrl: config.RUNNER_REDIS_URL })
    : undefined;
  if (!redisUsers) log.warn('RUNNER_REDIS_USERS=shared: every runner uses RUNNER_REDIS_URL and can write any task\'s events');
  const cache = new ClusterCache({
    kubeConfig: clients.config, logger: log, watchNamespace: config.WATCH_NAMESPACE, resyncMs: config.OPERATOR_RESYNC_SECONDS * 1000,
    metrics: (resource) => ({
      event: (type) => metrics.watchEvents.inc({ resource, type }),
      relist: (reason) => metrics.relists.inc({ resource, reason }),
      watchRestart: (outcome) => metrics.watchRestarts.inc({ resource, outcome }),
    }),
  });
  const recorder = new EventRecorder(clients.core, { onDropped: (count) => log.warn({ count }, 'Events dropped: the apiserver is slower than they come') });
  const wake = new SessionWakeSource({ redisUrl: config.REDIS_URL, log });
  // Postgres back after an outage: the tasks whose reconciles failed meanwhile catch up within seconds, not
  // after the minute of backoff their failures (one per watch event) would have earned.
  const manager = new Manager({ caches: [cache, wake], metrics, log, retrySoon: (error) => (isDatabaseUnreachable(error) ? 2_000 : undefined) });
  // The Messages API's 429s that running tasks report, by API-key Secret (rate-limits.ts): in memory only.
  const rateLimits = new RateLimitHolds();
  const apiKeyOf = (task: ClaudeTask) => apiKeyRefOf(task, config.DEFAULT_API_KEY_SECRET);
  const noticeRateLimits = (followed: FollowedTask, events: TaskEventRecord[]) => {
    for (const event of events) {
      const resetAt = rateLimitResetOf(event);
      if (!resetAt) continue;
      const task = cache.task(followed.namespace, followed.name);
      if (task?.metadata.uid !== followed.uid) continue;
      const apiKey = apiKeyOf(task);
      const hold = rateLimits.record(apiKey, resetAt, new Date(systemClock.now()));
      if (hold) {
        log.info({ task: `${followed.namespace}/${followed.name}`, secret: apiKey.secret, until: hold.until.toISOString() },
          'the Messages API rate-limits an API key: new tasks using its Secret wait until the reset');
      }
    }
  };
  const gate = new ConcurrencyGate({
    tasks: () => cache.tasks.list() as unknown as ClaudeTask[],
    policies: () => cache.policies.list() as unknown as ClaudePolicy[],
    namespace: (name) => cache.namespaces.get(name),
    hasJob: (task) => cache.job(task.metadata.namespace ?? '', jobNameFor(task.metadata.name ?? '', task.metadata.uid ?? '')) !== undefined,
    spend: (scope, from) => store.spend(scope, from),
    apiKeyOf,
    rateLimitHold: (apiKey, now) => rateLimits.holdOn(apiKey, now),
    now: () => new Date(systemClock.now()),
  });
  const tasks = new TaskReconciler({
    clients, cache, store, redis, config, log, recorder, copier: follower, redisUsers, gate,
    holdRateLimit: (task, resetAt) => {
      const now = new Date(systemClock.now());
      return rateLimits.record(apiKeyOf(task), endedRateLimitedReset(resetAt, now), now)?.until;
    },
  });
  manager.add(taskController(cache, tasks, config.OPERATOR_WORKERS, gate));
  // Few cron tasks and cheap passes: one worker is plenty.
  manager.add(cronController(cache, new CronReconciler({ clients, cache, recorder, log }), 1));
  const notifications = new NotificationsReconciler({
    tasks: cache, store, clients, config, clock: systemClock, log, onAttempt: (outcome) => metrics.webhookAttempts.inc({ outcome }),
  });
  // Few workers: each may wait for a slow receiver up to WEBHOOK_DELIVERY_TIMEOUT_SECONDS.
  manager.add(notificationsController(cache, notifications, Math.min(4, config.OPERATOR_WORKERS)));
  // Few and rarely changed: one worker.
  manager.add(policyController(cache, new PolicyReconciler({ clients, cache, log }), 1));
  manager.add(policyStatusController(cache, new PolicyStatusReconciler({
    clients, cache, usage: (query) => store.usage(query), watchNamespace: config.WATCH_NAMESPACE, now: () => new Date(systemClock.now()),
  })));
  const sessionGate = new SessionGate({
    sessions: () => cache.sessions.list() as unknown as ClaudeSession[],
    policies: () => cache.policies.list() as unknown as ClaudePolicy[],
    namespace: (name) => cache.namespaces.get(name),
  });
  const sessions = new SessionReconciler({
    clients, cache, db: sessionDb, redis, config, log, recorder, copier: sessionFollower, redisUsers, budgets: gate, sessionGate,
  });
  manager.add(sessionController(cache, wake, sessions, config.OPERATOR_WORKERS, sessionGate));

  let stopping: Promise<void> | undefined;
  const shutdown = (reason: string, code: number) => {
    stopping ??= (async () => {
      log.info({ reason }, 'stopping');
      await manager.stop().catch(() => undefined);
      await recorder.flush();
      await copying.copier?.close();
      await copying.sessionCopier?.close();
      await elector.release().catch(() => undefined);
      metrics.leader.set(0);
      server.close();
      redis.disconnect();
      await store.close();
      await sessionDb.end();
      await ledgerDb.end();
      process.exit(code);
    })();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM', 0));
  process.on('SIGINT', () => shutdown('SIGINT', 0));

  await elector.acquire(() => shutdown('lost leadership', 1));
  copying.copier = new EventCopier({
    redisUrl: config.REDIS_URL, store, logger: log, maxLength: config.EVENT_STREAM_MAX_LENGTH,
    onCopied: (events) => metrics.eventsCopied.inc(events),
    onEvents: noticeRateLimits,
    onReconnect: async (tasks) => {
      for (const task of tasks) await redisUsers?.ensure(task);
    },
  });
  copying.sessionCopier = new EventCopier({
    redisUrl: config.REDIS_URL, logger: log, maxLength: config.EVENT_STREAM_MAX_LENGTH, connectionName: 'claude-operator-session-copier',
    target: sessionCopyTarget({ db: sessionDb, onStatusEvent: ({ namespace, name }) => manager.enqueue(sessionControllerName, `${namespace}/${name}`) }),
    onCopied: (events) => metrics.eventsCopied.inc(events),
    onReconnect: async (sessionsFollowed) => {
      for (const session of sessionsFollowed) await redisUsers?.ensureSession(session);
    },
  });
  // Before any task is reconciled: per-user limits count tasks by the creator it stamps.
  await applyIdentityObjects(clients);
  await manager.start();
  // Once the watches have synced: a leader that reconciles, and reports (a standby reports neither, so nothing is counted twice).
  metrics.leader.set(1);
  metrics.reportQueued(() => cache.tasks.list() as unknown as ClaudeTask[]);
  metrics.reportLedger(() => sumUsage(ledgerDb, {
    groupBy: ['namespace', 'user', 'model'], ...(config.WATCH_NAMESPACE ? { namespace: config.WATCH_NAMESPACE } : {}),
  }), {
    maxAgeMs: config.METRICS_LEDGER_MAX_AGE_SECONDS * 1000, timeoutMs: config.METRICS_LEDGER_TIMEOUT_SECONDS * 1000,
    onError: (error) => log.warn({ err: String(error) }, 'metrics: the usage ledger could not be read; the last read is served'),
  });
  log.info({ identity }, 'operator running');
}

main().catch((error: unknown) => {
  log.fatal({ err: error instanceof Error ? error.stack : String(error) }, 'operator failed to start');
  process.exit(1);
});
