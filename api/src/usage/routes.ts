// GET /api/v1/usage: the usage ledger's sums (packages/database/src/usage-ledger.ts),
// for chargeback. An admin sees every namespace; any other caller only its own: a
// namespace outside them is 404 as everywhere in the API, and without ?namespace
// the sums cover just the caller's namespaces.
import { Router } from 'express';
import { canSee, type Caller } from '../auth/caller.ts';
import { callerOf, contextOf } from '../http/context.ts';
import { Problem, issuesOf } from '../http/problem.ts';
import { sumUsage } from '../../../packages/database/src/usage-ledger.ts';
import type { Queryable } from '../../../packages/database/src/task-records.ts';
import { UsageQuerySchema, utcDate } from './schemas.ts';

export interface UsageRouteDeps {
  db: Queryable;
}

export function usageRoutes(deps: UsageRouteDeps): Router {
  const router = Router();
  router.get('/usage', async (req, res) => {
    const caller = callerOf(res);
    const query = parseUsageQuery(req.query);
    if (query.namespace !== undefined) {
      contextOf(res).target = { namespace: query.namespace };
      if (!seesAll(caller) && !canSee(caller, query.namespace)) throw new Problem('not-found', 'no such namespace');
    }
    const limited = query.namespace === undefined && !seesAll(caller) && !caller.namespaces.includes('*');
    const items = await sumUsage(deps.db, { ...query, ...(limited ? { namespaces: caller.namespaces } : {}) });
    res.json({
      from: query.from ? utcDate(query.from) : null, to: query.to ? utcDate(query.to) : null, groupBy: query.groupBy ?? [], items,
    });
  });
  return router;
}

/** Chargeback is the platform's view: an admin's sums span every namespace. */
function seesAll(caller: Caller): boolean {
  return caller.role === 'admin';
}

/** The query, or a 400 whose detail names each bad parameter. */
function parseUsageQuery(query: unknown) {
  const parsed = UsageQuerySchema.safeParse(query);
  if (parsed.success) return parsed.data;
  const issues = issuesOf(parsed.error, ['query']);
  const named = parsed.error.issues.map((issue) => issue.code === 'unrecognized_keys'
    ? `unknown parameter ${issue.keys.join(', ')}` : `${issue.path.map(String).join('.')}: ${issue.message}`);
  throw new Problem('validation-error', `the query is not valid: ${[...new Set(named)].join('; ')}`, { issues });
}
