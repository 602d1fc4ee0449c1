// Prometheus metrics (prom-client) and the health endpoints on one small server.
import http from 'node:http';
import client from 'prom-client';
import { systemClock, type Clock } from '../../packages/platform/src/clock.ts';
import type { UsageRow } from '../../packages/database/src/usage-ledger.ts';
import { CachedRead, ledgerSamples, queuedByReason, tokenTypes } from './ledger-metrics.ts';

const latencyBuckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

type QueuedSource = () => ReadonlyArray<{ status?: { phase?: string; reason?: string } }>;

export class OperatorMetrics {
  readonly registry = new client.Registry();
  // Set once leading (reportLedger, reportQueued): a standby reports none, so
  // summing over replicas does not count the ledger twice.
  private ledger: CachedRead<UsageRow[]> | undefined;
  private queuedSource: QueuedSource | undefined;
  // Where a reconcile's time goes: waiting in its queue, then its own run, of
  // which the apiserver's and Postgres's answers are part.
  readonly reconciles = new client.Counter({
    name: 'claude_operator_reconcile_total', help: 'Reconciles by controller and outcome.', labelNames: ['controller', 'outcome'] as const, registers: [this.registry],
  });
  readonly reconcileSeconds = new client.Histogram({
    name: 'claude_operator_reconcile_duration_seconds', help: 'Time one reconcile took.', labelNames: ['controller'] as const, registers: [this.registry],
    buckets: latencyBuckets,
  });
  readonly queueWaitSeconds = new client.Histogram({
    name: 'claude_operator_queue_wait_seconds', help: 'Time a key waited in its work queue before a worker took it.', labelNames: ['controller'] as const,
    registers: [this.registry], buckets: latencyBuckets,
  });
  readonly queueDepth = new client.Gauge({
    name: 'claude_operator_queue_depth', help: 'Keys waiting in the work queue.', labelNames: ['controller'] as const, registers: [this.registry],
  });
  readonly apiserverSeconds = new client.Histogram({
    name: 'claude_operator_apiserver_request_duration_seconds', help: 'Time the apiserver took to answer a request (watches not counted), after the client-side rate limit.',
    labelNames: ['verb', 'code'] as const, registers: [this.registry], buckets: latencyBuckets,
  });
  readonly rateLimitWaitSeconds = new client.Histogram({
    name: 'claude_operator_client_rate_limit_wait_seconds', help: 'Time a request waited for the client-side rate limit (KUBE_API_QPS, KUBE_API_BURST).',
    registers: [this.registry], buckets: latencyBuckets,
  });
  readonly postgresSeconds = new client.Histogram({
    name: 'claude_operator_postgres_duration_seconds', help: 'Time a task-store call to Postgres took.', labelNames: ['operation'] as const,
    registers: [this.registry], buckets: latencyBuckets,
  });
  readonly watchEvents = new client.Counter({
    name: 'claude_operator_watch_events_total', help: 'Watch events by resource and type.', labelNames: ['resource', 'type'] as const, registers: [this.registry],
  });
  readonly relists = new client.Counter({
    name: 'claude_operator_relists_total', help: 'Full relists by resource and reason.', labelNames: ['resource', 'reason'] as const, registers: [this.registry],
  });
  readonly watchRestarts = new client.Counter({
    name: 'claude_operator_watch_restarts_total',
    help: 'Watches started again, by resource and how the last one ended (ended by the server, failed, expired, stalled).',
    labelNames: ['resource', 'outcome'] as const, registers: [this.registry],
  });
  readonly eventsCopied = new client.Counter({
    name: 'claude_operator_events_copied_total', help: 'Runner events copied from Redis to Postgres while tasks run.', registers: [this.registry],
  });
  readonly webhookAttempts = new client.Counter({
    name: 'claude_operator_webhook_attempts_total', help: 'Completion webhook delivery attempts by outcome (delivered, retry, failed).',
    labelNames: ['outcome'] as const, registers: [this.registry],
  });
  readonly leader = new client.Gauge({ name: 'claude_operator_leader', help: '1 while this replica leads.', registers: [this.registry] });
  // From the usage ledger in Postgres at scrape time: the same rows budgets and
  // GET /api/v1/usage sum. A task run again replaces its usage, so a series may
  // go down a little; Prometheus reads that as a counter reset.
  readonly tokens = new client.Counter({
    name: 'claude_operator_tokens_total',
    help: 'Tokens used by tasks and sessions, from the usage ledger: by namespace, creator (user; empty when unknown), model and type (input, output, cache_read, cache_creation).',
    labelNames: ['namespace', 'user', 'model', 'type'] as const, registers: [this.registry],
    collect: async () => {
      const rows = await this.ledger?.get();
      this.tokens.reset();
      for (const sample of ledgerSamples(rows ?? [])) {
        for (const type of tokenTypes) this.tokens.inc({ ...sample.labels, type }, sample.tokens[type]);
      }
    },
  });
  readonly costUSD = new client.Counter({
    name: 'claude_operator_cost_usd_total', help: 'US dollars spent by tasks and sessions, from the usage ledger: by namespace, creator (user) and model.',
    labelNames: ['namespace', 'user', 'model'] as const, registers: [this.registry],
    collect: async () => {
      const rows = await this.ledger?.get();
      this.costUSD.reset();
      for (const sample of ledgerSamples(rows ?? [])) this.costUSD.inc(sample.labels, sample.costUSD);
    },
  });
  readonly ledgerReadFailures = new client.Counter({
    name: 'claude_operator_ledger_read_failures_total', help: 'Reads of the usage ledger that failed or were too slow (scrapes then got the previous read).',
    registers: [this.registry],
  });
  readonly queuedTasks = new client.Gauge({
    name: 'claude_operator_queued_tasks', help: 'Tasks waiting Queued, by reason (QuotaExceeded, BudgetExhausted, RateLimited).',
    labelNames: ['reason'] as const, registers: [this.registry],
    collect: () => {
      this.queuedTasks.reset();
      if (!this.queuedSource) return;
      for (const [reason, count] of queuedByReason(this.queuedSource())) this.queuedTasks.set({ reason }, count);
    },
  });

  constructor() {
    client.collectDefaultMetrics({ register: this.registry });
  }

  /** Reports the ledger's sums (grouped by namespace, user and model) from now on; `read` is asked at most every maxAgeMs. */
  reportLedger(read: () => Promise<UsageRow[]>, options: { maxAgeMs: number; timeoutMs: number; clock?: Clock; onError?: (error: unknown) => void }): void {
    this.ledger = new CachedRead(read, {
      clock: options.clock ?? systemClock, maxAgeMs: options.maxAgeMs, timeoutMs: options.timeoutMs,
      onError: (error) => {
        this.ledgerReadFailures.inc();
        options.onError?.(error);
      },
    });
  }

  /** Reports the queued tasks of `tasks` (the operator's cache) by reason from now on. */
  reportQueued(tasks: QueuedSource): void {
    this.queuedSource = tasks;
  }

  /** Serves /metrics, /healthz and /readyz (ready once `isReady()` says so). */
  serve(port: number, isReady: () => boolean): Promise<http.Server> {
    const server = http.createServer((request, response) => {
      void (async () => {
        if (request.url === '/metrics') {
          response.setHeader('content-type', this.registry.contentType);
          response.end(await this.registry.metrics());
        } else if (request.url === '/healthz') {
          response.end('ok');
        } else if (request.url === '/readyz') {
          response.statusCode = isReady() ? 200 : 503;
          response.end(isReady() ? 'ok' : 'not ready');
        } else {
          response.statusCode = 404;
          response.end('not found');
        }
      })();
    });
    return new Promise((resolve) => server.listen(port, () => resolve(server)));
  }
}
