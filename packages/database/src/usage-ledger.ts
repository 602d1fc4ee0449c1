// The usage ledger (claude_usage): what each task run and each session turn cost, by
// namespace, user, model and UTC day. Budgets, GET /api/v1/usage and the metrics all
// read these rows, so they agree by construction. Writes are idempotent upserts keyed
// by the workload and the part (a session's message id), so a copier that stores the
// same usage twice counts it once.
import type { TaskUsage } from '../../contracts/src/task-events.ts';
import type { Queryable } from './task-records.ts';

export type WorkloadKind = 'ClaudeTask' | 'ClaudeSession';

export interface UsageEntry {
  kind: WorkloadKind;
  uid: string;
  /** '' for a task's run; the message id for a session's turn. */
  part?: string;
  namespace: string;
  name: string;
  user: string | null;
  model: string | null;
  usage: TaskUsage;
  at: Date;
}

/** Upserts one entry: a task's usage is that of its last attempt, so a later write replaces it. */
export async function recordUsage(db: Queryable, entry: UsageEntry): Promise<void> {
  const usage = entry.usage;
  await db.query(
    `INSERT INTO claude_usage (workload_kind, workload_uid, part, namespace, name, user_name, model, day,
       input_tokens, output_tokens, cache_read_input_tokens, cache_creation_input_tokens, cost_usd)
     VALUES ($1, $2, $3, $4, $5, $6, $7, ($8::timestamptz AT TIME ZONE 'UTC')::date, $9, $10, $11, $12, $13)
     ON CONFLICT (workload_kind, workload_uid, part) DO UPDATE SET
       user_name = EXCLUDED.user_name, model = EXCLUDED.model, day = EXCLUDED.day,
       input_tokens = EXCLUDED.input_tokens, output_tokens = EXCLUDED.output_tokens,
       cache_read_input_tokens = EXCLUDED.cache_read_input_tokens,
       cache_creation_input_tokens = EXCLUDED.cache_creation_input_tokens,
       cost_usd = EXCLUDED.cost_usd, recorded_at = now()`,
    [entry.kind, entry.uid, entry.part ?? '', entry.namespace, entry.name, entry.user, entry.model, entry.at.toISOString(),
      usage.inputTokens ?? 0, usage.outputTokens ?? 0, usage.cacheReadInputTokens ?? 0, usage.cacheCreationInputTokens ?? 0,
      usage.costUSD ?? '0'],
  );
}

/**
 * The ledger rows a session turn adds, in SQL, for the transaction that stores its
 * answer: the namespace, name and creator come from the session's row, the user falls
 * back to the message's sender. Parameters: $1 session uid, $2 message id, $3 model,
 * $4 usage (jsonb), $5 time.
 */
export const recordSessionTurnUsageSql =
  `INSERT INTO claude_usage (workload_kind, workload_uid, part, namespace, name, user_name, model, day,
     input_tokens, output_tokens, cache_read_input_tokens, cache_creation_input_tokens, cost_usd)
   SELECT 'ClaudeSession', s.uid, m.message_id, s.namespace, s.name, coalesce(s.created_by, m.requested_by),
     coalesce($3, s.status->>'model', s.spec->>'model'), ($5::timestamptz AT TIME ZONE 'UTC')::date,
     coalesce(($4::jsonb->>'inputTokens')::bigint, 0), coalesce(($4::jsonb->>'outputTokens')::bigint, 0),
     coalesce(($4::jsonb->>'cacheReadInputTokens')::bigint, 0), coalesce(($4::jsonb->>'cacheCreationInputTokens')::bigint, 0),
     coalesce(($4::jsonb->>'costUSD')::numeric, 0)
   FROM claude_sessions s JOIN claude_session_messages m ON m.session_uid = s.uid
   WHERE s.uid = $1 AND m.message_id = $2
   ON CONFLICT (workload_kind, workload_uid, part) DO NOTHING`;

export interface SpendTotals {
  /** US dollars, as a decimal string with 6 places (numeric, never a float). */
  costUSD: string;
  /** Input (with prompt-cache reads and writes) plus output tokens. */
  tokens: number;
}

/** What one namespace or one user spent from `from` (a UTC day, inclusive) on. */
export async function readSpend(db: Queryable, scope: { namespace: string } | { user: string }, from: Date): Promise<SpendTotals> {
  const [column, value] = 'namespace' in scope ? ['namespace', scope.namespace] : ['user_name', scope.user];
  const { rows } = await db.query<{ cost: string; tokens: string }>(
    `SELECT coalesce(sum(cost_usd), 0)::numeric(18,6)::text AS cost,
       coalesce(sum(input_tokens + output_tokens + cache_read_input_tokens + cache_creation_input_tokens), 0)::text AS tokens
     FROM claude_usage WHERE ${column} = $1 AND day >= ($2::timestamptz AT TIME ZONE 'UTC')::date`,
    [value, from.toISOString()],
  );
  return { costUSD: rows[0]?.cost ?? '0.000000', tokens: Number(rows[0]?.tokens ?? 0) };
}

export const usageGroupings = ['namespace', 'user', 'model', 'day', 'kind'] as const;
export type UsageGrouping = (typeof usageGroupings)[number];

export interface UsageQuery {
  namespace?: string;
  /** Only these namespaces (an empty list matches none): a caller limited to its own. */
  namespaces?: readonly string[];
  user?: string;
  /** UTC days, inclusive. */
  from?: Date;
  to?: Date;
  groupBy?: readonly UsageGrouping[];
}

export interface UsageRow {
  namespace?: string;
  user?: string | null;
  model?: string | null;
  /** YYYY-MM-DD (UTC). */
  day?: string;
  kind?: WorkloadKind;
  runs: number;
  inputTokens: number;
  outputTokens: number;
  cacheReadInputTokens: number;
  cacheCreationInputTokens: number;
  costUSD: string;
}

const groupColumns: Record<UsageGrouping, string> = {
  namespace: 'namespace', user: 'user_name', model: 'model', day: "to_char(day, 'YYYY-MM-DD')", kind: 'workload_kind',
};

/** Sums the ledger, filtered and grouped (no groupBy: one row, the total). */
export async function sumUsage(db: Queryable, query: UsageQuery): Promise<UsageRow[]> {
  const where: string[] = [];
  const values: unknown[] = [];
  const add = (sql: string, value: unknown) => { values.push(value); where.push(sql.replace('?', `$${values.length}`)); };
  if (query.namespace !== undefined) add('namespace = ?', query.namespace);
  if (query.namespaces !== undefined) add('namespace = ANY(?::text[])', [...query.namespaces]);
  if (query.user !== undefined) add('user_name = ?', query.user);
  if (query.from) add("day >= (?::timestamptz AT TIME ZONE 'UTC')::date", query.from.toISOString());
  if (query.to) add("day <= (?::timestamptz AT TIME ZONE 'UTC')::date", query.to.toISOString());
  const groups = [...new Set(query.groupBy ?? [])];
  const selected = groups.map((group) => `${groupColumns[group]} AS "${group}"`);
  const { rows } = await db.query<Record<string, string | null>>(
    `SELECT ${[...selected,
      'count(*)::text AS runs',
      'coalesce(sum(input_tokens), 0)::text AS input',
      'coalesce(sum(output_tokens), 0)::text AS output',
      'coalesce(sum(cache_read_input_tokens), 0)::text AS cache_read',
      'coalesce(sum(cache_creation_input_tokens), 0)::text AS cache_creation',
      'coalesce(sum(cost_usd), 0)::numeric(18,6)::text AS cost'].join(', ')}
     FROM claude_usage ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
     ${groups.length ? `GROUP BY ${groups.map((group) => groupColumns[group]).join(', ')} ORDER BY ${groups.map((group) => groupColumns[group]).join(', ')}` : ''}`,
    values,
  );
  return rows.map((row) => ({
    ...Object.fromEntries(groups.map((group) => [group, row[group] ?? null])),
    runs: Number(row.runs), inputTokens: Number(row.input), outputTokens: Number(row.output),
    cacheReadInputTokens: Number(row.cache_read), cacheCreationInputTokens: Number(row.cache_creation),
    costUSD: row.cost ?? '0.000000',
  }));
}
