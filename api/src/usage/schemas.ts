// What GET /api/v1/usage takes and gives, as zod schemas: they validate the query
// and are rendered into the OpenAPI document.
import { z } from 'zod';
import { usageGroupings } from '../../../packages/database/src/usage-ledger.ts';
import { NamespaceSchema } from '../tasks/schemas.ts';

/** A UTC day: YYYY-MM-DD, or an RFC 3339 time (its UTC day counts). */
const utcDay = z.union([z.iso.date(), z.iso.datetime({ offset: true })], {
  error: 'must be a day (YYYY-MM-DD) or an RFC 3339 time such as 2026-12-01T00:00:00Z',
}).transform((text) => new Date(/^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text));

const groupByList = z.string().max(200)
  .transform((text) => [...new Set(text.split(',').map((part) => part.trim()).filter((part) => part !== ''))])
  .pipe(z.array(z.enum(usageGroupings, { error: (issue) => `${String(issue.input)} is not one of ${usageGroupings.join(', ')}` })));

export const UsageQuerySchema = z.object({
  namespace: NamespaceSchema.optional().describe('Only this namespace.'),
  user: z.string().min(1).max(1024).optional().describe('Only the usage of this creator (claude-operator.io/created-by).'),
  from: utcDay.optional().describe('The first UTC day counted (inclusive): YYYY-MM-DD, or an RFC 3339 time whose UTC day counts.'),
  to: utcDay.optional().describe('The last UTC day counted (inclusive), as `from`.'),
  groupBy: groupByList.optional().describe(`A comma-separated list of ${usageGroupings.join(', ')}: one row per combination; none: one row, the total.`),
}).strict().refine((query) => !query.from || !query.to || utcDate(query.from) <= utcDate(query.to), {
  path: ['to'], message: 'must not be before from',
});

export function utcDate(date: Date): string {
  return date.toISOString().slice(0, 10);
}

export const UsageRowSchema = z.object({
  namespace: z.string().optional(),
  user: z.string().nullable().optional().describe('null: the creator is not known (made before the identity policy).'),
  model: z.string().nullable().optional(),
  day: z.string().optional().describe('YYYY-MM-DD (UTC).'),
  kind: z.enum(['ClaudeTask', 'ClaudeSession']).optional(),
  runs: z.number().int().describe('Task runs and session turns counted.'),
  inputTokens: z.number().int(),
  outputTokens: z.number().int(),
  cacheReadInputTokens: z.number().int(),
  cacheCreationInputTokens: z.number().int(),
  costUSD: z.string().describe('US dollars, a decimal string with 6 places.'),
}).describe('The sums of one group (only the grouped-by fields are present).');

export const UsageReportSchema = z.object({
  from: z.string().nullable().describe('The first UTC day counted; null: from the start.'),
  to: z.string().nullable().describe('The last UTC day counted; null: up to now.'),
  groupBy: z.array(z.enum(usageGroupings)),
  items: z.array(UsageRowSchema),
}).describe('Usage from the ledger in Postgres: each task run and session turn, by namespace, creator, model and UTC day.');
