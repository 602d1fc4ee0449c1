// Idempotency-Key on POST (draft-ietf-httpapi-idempotency-key-header): a client
// that retries a call with the same key gets the first answer again, and
// nothing is done twice. Keys are kept in Postgres (api_idempotency) for 24 h,
// per caller (tenant and subject), with a fingerprint of the call (method,
// path, body as canonical JSON):
// - a new key: the call runs; its answer (status < 500) is stored before it is
//   sent, so a retry that follows the answer finds it. A 5xx frees the key.
// - the same key and call, answered: that answer again, with Idempotent-Replayed: true.
// - the same key and call, still running: 409 idempotency-key-in-use.
// - the same key with another call: 422 idempotency-key-reused.
// A call that never answered (a crashed replica) holds its key until staleAfterSeconds.
import crypto from 'node:crypto';
import type { Request, Response } from 'express';
import type pg from 'pg';
import type { Caller } from '../auth/caller.ts';
import type { Logger } from '../../../packages/platform/src/logger.ts';
import { Problem } from './problem.ts';

export const idempotencyTtlSeconds = 24 * 60 * 60;
/** The answer's fields that a replay repeats. */
const replayedHeaders = ['content-type', 'location'];

export interface StoredAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export type Claim =
  | { kind: 'claimed' }
  | { kind: 'answered'; answer: StoredAnswer }
  | { kind: 'in-progress' }
  | { kind: 'other-request' };

export interface IdempotencyScope { tenant: string; subject: string; key: string }

export interface IdempotencyStore {
  claim(scope: IdempotencyScope, fingerprint: string): Promise<Claim>;
  answer(scope: IdempotencyScope, answer: StoredAnswer): Promise<void>;
  release(scope: IdempotencyScope): Promise<void>;
}

export class PgIdempotencyStore implements IdempotencyStore {
  private readonly pool: pg.Pool;
  private readonly staleAfterSeconds: number;

  constructor(pool: pg.Pool, options: { staleAfterSeconds: number }) {
    this.pool = pool;
    this.staleAfterSeconds = options.staleAfterSeconds;
  }

  async claim({ tenant, subject, key }: IdempotencyScope, fingerprint: string, retried = false): Promise<Claim> {
    // The caller's expired keys, and this key if its call is long gone without an answer.
    await this.pool.query(
      `DELETE FROM api_idempotency WHERE tenant = $1 AND subject = $2
         AND (expires_at < now() OR (key = $3 AND status IS NULL AND created_at < now() - make_interval(secs => $4)))`,
      [tenant, subject, key, this.staleAfterSeconds]);
    const inserted = await this.pool.query(
      `INSERT INTO api_idempotency (tenant, subject, key, fingerprint, expires_at) VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))
       ON CONFLICT DO NOTHING`,
      [tenant, subject, key, fingerprint, idempotencyTtlSeconds]);
    if (inserted.rowCount === 1) return { kind: 'claimed' };
    const { rows } = await this.pool.query<{ fingerprint: string; status: number | null; headers: Record<string, string> | null; body: string | null }>(
      'SELECT fingerprint, status, headers, body FROM api_idempotency WHERE tenant = $1 AND subject = $2 AND key = $3', [tenant, subject, key]);
    const row = rows[0];
    // Freed between the two statements (a 5xx released it): as good as new, once.
    if (!row) return retried ? { kind: 'in-progress' } : this.claim({ tenant, subject, key }, fingerprint, true);
    if (row.fingerprint !== fingerprint) return { kind: 'other-request' };
    if (row.status === null) return { kind: 'in-progress' };
    return { kind: 'answered', answer: { status: row.status, headers: row.headers ?? {}, body: row.body ?? '' } };
  }

  async answer({ tenant, subject, key }: IdempotencyScope, answer: StoredAnswer): Promise<void> {
    await this.pool.query('UPDATE api_idempotency SET status = $4, headers = $5, body = $6 WHERE tenant = $1 AND subject = $2 AND key = $3',
      [tenant, subject, key, answer.status, JSON.stringify(answer.headers), answer.body]);
  }

  async release({ tenant, subject, key }: IdempotencyScope): Promise<void> {
    await this.pool.query('DELETE FROM api_idempotency WHERE tenant = $1 AND subject = $2 AND key = $3 AND status IS NULL', [tenant, subject, key]);
  }
}

/** The key as the draft sends it (a structured-field string, "…"), or a bare token as many clients do. */
export function parseIdempotencyKey(header: string): string | undefined {
  const quoted = /^"([\x20\x21\x23-\x5b\x5d-\x7e]{1,255})"$/.exec(header.trim());
  if (quoted) return quoted[1];
  return /^[A-Za-z0-9._~:+/=-]{1,255}$/.test(header.trim()) ? header.trim() : undefined;
}

/** JSON with object keys sorted, so the same body with its keys in another order is the same request. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, item]) => item !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([name, item]) => `${JSON.stringify(name)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export function requestFingerprint(method: string, path: string, body: unknown): string {
  return crypto.createHash('sha256').update(canonicalJson([method, path, body ?? null])).digest('hex');
}

/**
 * For a route that mutates: 'replayed' when the answer went out from the
 * store (the route does nothing more), 'proceed' otherwise (no key, or a key
 * now claimed for this call, whose answer will be stored). Throws the 400,
 * 409 and 422 problems.
 */
export async function idempotent(store: IdempotencyStore | undefined, caller: Caller, req: Request, res: Response, log: Logger): Promise<'replayed' | 'proceed'> {
  const header = req.get('idempotency-key');
  if (header === undefined) return 'proceed';
  if (!store) throw new Problem('not-implemented', 'Idempotency-Key is not available on this server');
  const key = parseIdempotencyKey(header);
  if (key === undefined) {
    throw new Problem('validation-error', 'the Idempotency-Key header is not valid', {
      issues: [{ path: 'headers.idempotency-key', message: 'must be a quoted string ("…") or a token, 1 to 255 printable ASCII characters' }],
    });
  }
  const scope = { tenant: caller.tenant, subject: caller.subject, key };
  const claim = await store.claim(scope, requestFingerprint(req.method, req.originalUrl.split('?')[0] ?? '', req.body));
  switch (claim.kind) {
    case 'other-request':
      throw new Problem('idempotency-key-reused', 'this Idempotency-Key was used for another request in the last 24 hours; use a new key');
    case 'in-progress':
      throw new Problem('idempotency-key-in-use', 'a request with this Idempotency-Key is still in progress; retry once it has answered', { headers: { 'Retry-After': '1' } });
    case 'answered':
      for (const [name, value] of Object.entries(claim.answer.headers)) res.setHeader(name, value);
      res.setHeader('Idempotent-Replayed', 'true');
      res.status(claim.answer.status).send(claim.answer.body);
      return 'replayed';
    case 'claimed':
      storeAnswerBeforeSending(store, scope, res, log);
      return 'proceed';
  }
}

/** Holds the answer back until it is stored (or the key freed, for a 5xx), then sends it. */
function storeAnswerBeforeSending(store: IdempotencyStore, scope: IdempotencyScope, res: Response, log: Logger): void {
  const send = res.send;
  res.send = function (this: Response, body?: unknown) {
    // res.send(object) comes back here with the JSON text; only text and bytes are the answer.
    if (typeof body !== 'string' && !Buffer.isBuffer(body)) return send.call(this, body);
    res.send = send;
    const status = res.statusCode;
    const headers = Object.fromEntries(replayedHeaders.flatMap((name) => {
      const value = res.getHeader(name);
      return value === undefined ? [] : [[name, String(value)]];
    }));
    const saving = status >= 500 ? store.release(scope) : store.answer(scope, { status, headers, body: String(body) });
    saving.catch((error: unknown) => log.error({ err: String(error), status }, 'Idempotency-Key answer not stored; the key stays taken until it is stale'))
      .finally(() => send.call(this, body));
    return this;
  };
}
