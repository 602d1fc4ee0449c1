// Prometheus metrics (prom-client) and the health endpoints on one small server.
import http from 'node:http';
import client from 'prom-client';

export class OperatorMetrics {
  readonly registry = new client.Registry();
  readonly reconciles = new client.Counter({
    name: 'claude_operator_reconcile_total', help: 'Reconciles by outcome.', labelNames: ['outcome'] as const, registers: [this.registry],
  });
  readonly reconcileSeconds = new client.Histogram({
    name: 'claude_operator_reconcile_duration_seconds', help: 'Time one reconcile took.', registers: [this.registry],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  });
  readonly queueDepth = new client.Gauge({ name: 'claude_operator_queue_depth', help: 'Keys waiting in the work queue.', registers: [this.registry] });
  readonly watchEvents = new client.Counter({
    name: 'claude_operator_watch_events_total', help: 'Watch events by resource and type.', labelNames: ['resource', 'type'] as const, registers: [this.registry],
  });
  readonly relists = new client.Counter({
    name: 'claude_operator_relists_total', help: 'Full relists by resource and reason.', labelNames: ['resource', 'reason'] as const, registers: [this.registry],
  });
  readonly eventsCopied = new client.Counter({
    name: 'claude_operator_events_copied_total', help: 'Runner events copied from Redis to Postgres while tasks run.', registers: [this.registry],
  });
  readonly leader = new client.Gauge({ name: 'claude_operator_leader', help: '1 while this replica leads.', registers: [this.registry] });

  constructor() {
    client.collectDefaultMetrics({ register: this.registry });
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
