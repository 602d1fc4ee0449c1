// Prometheus metrics of the API server (prom-client), on a registry of its own.
import client from 'prom-client';

export class ApiMetrics {
  readonly registry = new client.Registry();
  readonly requests = new client.Counter({
    name: 'claude_operator_api_requests_total', help: 'HTTP requests by method, route and status.',
    labelNames: ['method', 'route', 'status'] as const, registers: [this.registry],
  });
  readonly requestSeconds = new client.Histogram({
    name: 'claude_operator_api_request_duration_seconds', help: 'Time to answer an HTTP request.',
    labelNames: ['method', 'route'] as const, registers: [this.registry], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60],
  });
  readonly rateLimited = new client.Counter({ name: 'claude_operator_api_rate_limited_total', help: 'Requests refused with 429.', registers: [this.registry] });
  readonly auditFailures = new client.Counter({ name: 'claude_operator_api_audit_failures_total', help: 'Audit rows that could not be written (the mutation was refused) or completed (its outcome was not recorded).', registers: [this.registry] });

  constructor({ defaultMetrics = true } = {}) {
    if (defaultMetrics) client.collectDefaultMetrics({ register: this.registry });
  }
}
