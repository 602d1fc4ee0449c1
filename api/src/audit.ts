// The audit trail of mutating calls, in Postgres (table api_audit, migration 002).
import type pg from 'pg';

export interface AuditEntry {
  requestId: string;
  subject: string | null;
  tenant: string | null;
  role: string | null;
  method: string;
  action: string;
  namespace: string | null;
  name: string | null;
  status: number;
  durationMs: number;
  clientIp: string | null;
}

export interface AuditLog {
  record(entry: AuditEntry): Promise<void>;
}

export function outcomeOf(status: number): 'success' | 'denied' | 'rejected' | 'error' {
  if (status < 400) return 'success';
  if ([401, 403, 404, 429].includes(status)) return 'denied';
  if (status < 500) return 'rejected';
  return 'error';
}

export class PgAuditLog implements AuditLog {
  private readonly pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.pool = pool;
  }

  async record(entry: AuditEntry): Promise<void> {
    await this.pool.query(
      `INSERT INTO api_audit (request_id, subject, tenant, role, method, action, namespace, name, status, outcome, duration_ms, client_ip)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
      [entry.requestId, cut(entry.subject), cut(entry.tenant), entry.role, entry.method, cut(entry.action), cut(entry.namespace), cut(entry.name),
        entry.status, outcomeOf(entry.status), Math.round(entry.durationMs), entry.clientIp],
    );
  }
}

/** Audit text comes partly from the request; it is bounded so a long path cannot bloat the table. */
function cut(value: string | null): string | null {
  return value === null ? null : value.replaceAll('\u0000', '').slice(0, 512);
}
