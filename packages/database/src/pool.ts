// The one way our processes open a Postgres pool. pg emits 'error' on the pool when
// an idle client's connection breaks (Postgres restarted, a network cut); with no
// listener that event is an uncaught exception and the process dies, so every pool
// gets one. Queries in flight fail on their own and their callers handle it; the
// pool replaces the broken client on the next checkout.
import pg from 'pg';

export interface PoolOptions {
  max?: number;
  connectionTimeoutMillis?: number;
  /** Postgres stops a statement that runs longer. */
  statementTimeoutMillis?: number;
  /** Told about each idle connection that broke (log it; nothing else is needed). */
  onIdleError?: (error: Error) => void;
}

export function createPool(connectionString: string, options: PoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString, max: options.max ?? 5,
    ...(options.connectionTimeoutMillis === undefined ? {} : { connectionTimeoutMillis: options.connectionTimeoutMillis }),
    ...(options.statementTimeoutMillis === undefined ? {} : { statement_timeout: options.statementTimeoutMillis }),
  });
  pool.on('error', (error) => options.onIdleError?.(error));
  return pool;
}
