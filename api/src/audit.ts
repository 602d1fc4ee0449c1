// The audit trail of mutating calls, in Postgres (table api_audit, migrations
// 002 and 003). A call's row is written before the call runs (begin: outcome
// 'pending') and completed when its response is done (complete): a call whose
// row cannot be written must not run, so no mutation goes unaudited.
import type pg from 'pg';

export interface AuditStart {
  requestId: string;
  method: string;
  /** The raw `METHOD path` until the route names the action. */
  action: string;
  clientIp: string | null;
}

export interface AuditCompletion {
  subject: string | null;
  tenant: string | null;
  role: string | null;
  action: string;
  namespace: string | null;
  name: string | null;
  status: number;
  durationMs: number;
}

export interface AuditLog {
  /** Writes the row of a call about to run and returns its id; throws when it cannot. */
  begin(start: AuditStart): Promise<string>;
  /** Completes the row with who called, what on, and how it ended. */
  complete(id: string, completion: AuditCompletion): Promise<void>;
}

export type AuditOutcome = 'pending' | 'success' | 'denied' | 'rejected' | 'error';

export function outcomeOf(status: number): Exclude<AuditOutcome, 'pending'> {
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

  async begin(start: AuditStart): Promise<string> {
    const { rows } = await this.pool.query<{ id: string }>(
      `INSERT INTO api_audit (request_id, method, action, outcome, client_ip) VALUES ($1, $2, $3, 'pending', $4) RETURNING id`,
      [start.requestId, start.method, cut(start.action), start.clientIp],
    );
    return rows[0]!.id;
  }

  async complete(id: string, entry: AuditCompletion): Promise<void> {
    await this.pool.query(
      `UPDATE api_audit SET subject = $2, tenant = $3, role = $4, action = $5, namespace = $6, name = $7, status = $8, outcome = $9,
         duration_ms = $10, completed_at = now()
       WHERE id = $1`,
      [id, cut(entry.subject), cut(entry.tenant), entry.role, cut(entry.action), cut(entry.namespace), cut(entry.name),
        entry.status, outcomeOf(entry.status), Math.round(entry.durationMs)],
    );
  }
}

/** Audit text comes partly from the request; it is bounded so a long path cannot bloat the table. */
function cut(value: string | null): string | null {
  return value === null ? null : value.replaceAll('\u0000', '').slice(0, 512);
}
