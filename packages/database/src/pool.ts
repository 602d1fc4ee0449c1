// The one way our processes open a Postgres pool. pg emits 'error' on the pool when
// an idle client's connection breaks (Postgres restarted, a network cut); with no
// listener that event is an uncaught exception and the process dies, so every pool
// gets one. Queries in flight fail on their own and their callers handle it; the
// pool replaces the broken client on the next checkout.
import pg from 'pg';

export interface PoolOptions {
  max?: number;
  /** A connection not made by then fails (default 5 s), rather than holding its caller for the kernel's
   * TCP timeout (about two minutes) while Postgres is partitioned away. */
  connectionTimeoutMillis?: number;
  /** Postgres stops a statement that runs longer. */
  statementTimeoutMillis?: number;
  /** Told about each idle connection that broke (log it; nothing else is needed). */
  onIdleError?: (error: Error) => void;
}

export function createPool(connectionString: string, options: PoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString, max: options.max ?? 5,
    connectionTimeoutMillis: options.connectionTimeoutMillis ?? 5_000,
    ...(options.statementTimeoutMillis === undefined ? {} : { statement_timeout: options.statementTimeoutMillis }),
  });
  pool.on('error', (error) => options.onIdleError?.(error));
  return pool;
}

/**
 * Runs `work` on a client of its own. While a client is checked out the pool does not
 * listen for its 'error' (its connection cut mid-transaction, Postgres restarted), and
 * that unhandled event kills the process: fault 3 of the chaos suite found the operator
 * dead after a cut. Here the error is caught; the query in flight fails on its own, and
 * a broken client is destroyed on release instead of going back to the pool.
 */
export async function withClient<T>(pool: pg.Pool, work: (client: pg.PoolClient, markBroken: (error: Error) => void) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const markBroken = (error: Error) => { broken ??= error; };
  client.on('error', markBroken);
  try {
    return await work(client, markBroken);
  } finally {
    // A broken client keeps the listener: it may say more before it is gone.
    if (!broken) client.off('error', markBroken);
    client.release(broken);
  }
}

/** `work` between BEGIN and COMMIT on a client of its own; ROLLBACK when it throws. */
export function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return withClient(pool, async (client, markBroken) => {
    await client.query('BEGIN');
    try {
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      // A failed ROLLBACK leaves the transaction open on that connection: it must not be reused.
      await client.query('ROLLBACK').catch(markBroken);
      throw error;
    }
  });
}

/** Node's errors for a connection that could not be made or broke. */
const connectionErrorCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN']);
/** SQLSTATEs of a server going or not there yet: class 08 (connection exception), admin/crash shutdown, starting up. */
const unavailableSqlStates = /^(08...|57P0[123])$/;
/** pg's own messages for a connection it lost or could not make in time. */
const lostConnectionMessages = /Connection terminated|not queryable|timeout exceeded when trying to connect/;

/**
 * Whether the error says Postgres could not be reached, as against a query it refused: what comes back by
 * itself, so the work is worth retrying soon rather than after a long backoff. Only the error itself is
 * read, not its causes: a kube client's "fetch failed" is caused by an ECONNREFUSED too.
 */
export function isDatabaseUnreachable(error: unknown): boolean {
  // Not `instanceof Error`: Node's socket errors can come from another realm (a vm context, as under jest).
  if (typeof error !== 'object' || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && (connectionErrorCodes.has(code) || unavailableSqlStates.test(code))) return true;
  return typeof message === 'string' && lostConnectionMessages.test(message);
}
