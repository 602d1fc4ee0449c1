// GET /api/v1/usage against the bed's Postgres, with the API in-process: the ledger's
// rows summed, filtered and grouped; a caller sees its own namespaces (another is 404),
// an admin all; bad query values are 400s naming the parameter.
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { recordUsage, type UsageEntry } from '../../../packages/database/src/usage-ledger.ts';
import type { ApiServer } from '../server.ts';
import { callApi, startTestApi, token } from '../test-support.ts';

let api: ApiServer;
const suffix = randomBytes(3).toString('hex');
const nsA = `usage-a-${suffix}`;
const nsB = `usage-b-${suffix}`;
const alice = `alice-${suffix}`;
const bob = `bob-${suffix}`;

const entry = (namespace: string, user: string, model: string, at: string, costUSD: string, tokens: number, kind: UsageEntry['kind'] = 'ClaudeTask'): UsageEntry => ({
  kind, uid: randomUUID(), namespace, name: `w-${randomBytes(3).toString('hex')}`, user, model, at: new Date(at),
  usage: { inputTokens: tokens, outputTokens: tokens / 2, cacheReadInputTokens: 3, cacheCreationInputTokens: 1, costUSD },
});

beforeAll(async () => {
  ({ api } = await startTestApi());
  for (const row of [
    entry(nsA, alice, 'claude-sonnet-4-5', '2026-11-30T23:30:00Z', '0.100000', 100),
    entry(nsA, alice, 'claude-haiku-4-5', '2026-12-01T00:30:00Z', '0.020000', 20),
    entry(nsA, bob, 'claude-sonnet-4-5', '2026-12-01T10:00:00Z', '0.300000', 300, 'ClaudeSession'),
    entry(nsB, bob, 'claude-sonnet-4-5', '2026-12-02T10:00:00Z', '1.000000', 1000),
  ]) await recordUsage(api.pool, row);
});

afterAll(async () => {
  await api?.pool.query('DELETE FROM claude_usage WHERE namespace = ANY($1)', [[nsA, nsB]]).catch(() => undefined);
  await api?.close();
});

const usage = async (query: string, claims: Parameters<typeof token>[0]) =>
  callApi(api.url, 'GET', `/api/v1/usage${query}`, { token: await token(claims) });
const tenantA = { tenant: 'a', namespaces: [nsA], role: 'viewer' };
const admin = { tenant: 'platform', namespaces: [`platform-${suffix}`], role: 'admin' };
const costs = (items: unknown) => (items as Array<Record<string, unknown>>).map(({
  costUSD, runs, inputTokens: _i, outputTokens: _o, cacheReadInputTokens: _r, cacheCreationInputTokens: _c, ...group
}) => ({ ...group, costUSD, runs }));

describe('sums', () => {
  test('grouped by user and model within a namespace', async () => {
    const answer = await usage(`?namespace=${nsA}&groupBy=user,model`, tenantA);
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({
      from: null, to: null, groupBy: ['user', 'model'], items: [
        { user: alice, model: 'claude-haiku-4-5', runs: 1, inputTokens: 20, outputTokens: 10, cacheReadInputTokens: 3, cacheCreationInputTokens: 1, costUSD: '0.020000' },
        { user: alice, model: 'claude-sonnet-4-5', runs: 1, inputTokens: 100, outputTokens: 50, cacheReadInputTokens: 3, cacheCreationInputTokens: 1, costUSD: '0.100000' },
        { user: bob, model: 'claude-sonnet-4-5', runs: 1, inputTokens: 300, outputTokens: 150, cacheReadInputTokens: 3, cacheCreationInputTokens: 1, costUSD: '0.300000' },
      ],
    });
  });

  test('from and to are UTC days, inclusive, given as days or RFC 3339 times', async () => {
    const day = await usage(`?namespace=${nsA}&from=2026-12-01&to=2026-12-01&groupBy=day,kind`, tenantA);
    expect(day.json.from).toBe('2026-12-01');
    expect(costs(day.json.items)).toEqual([
      { day: '2026-12-01', kind: 'ClaudeSession', costUSD: '0.300000', runs: 1 },
      { day: '2026-12-01', kind: 'ClaudeTask', costUSD: '0.020000', runs: 1 },
    ]);
    // 01:00 in UTC+02:00 is 23:00 of the day before in UTC: that day counts.
    const offset = await usage(`?namespace=${nsA}&to=${encodeURIComponent('2026-12-01T01:00:00+02:00')}`, tenantA);
    expect(offset.json.to).toBe('2026-11-30');
    expect(costs(offset.json.items)).toEqual([{ costUSD: '0.100000', runs: 1 }]);
  });

  test('a user filter; no groupBy is one row, the total (zero when nothing matches)', async () => {
    expect(costs((await usage(`?namespace=${nsA}&user=${bob}`, tenantA)).json.items)).toEqual([{ costUSD: '0.300000', runs: 1 }]);
    expect(costs((await usage(`?namespace=${nsA}&user=nobody-${suffix}`, tenantA)).json.items)).toEqual([{ costUSD: '0.000000', runs: 0 }]);
  });
});

describe('who sees what', () => {
  test('a namespace outside the caller\'s is 404, as elsewhere in the API', async () => {
    const answer = await usage(`?namespace=${nsB}`, tenantA);
    expect(answer.status).toBe(404);
    expect(answer.json).toMatchObject({ type: 'https://claude-operator.io/problems/not-found', detail: 'no such namespace' });
  });

  test('without ?namespace a caller gets the sums of its own namespaces only', async () => {
    const answer = await usage(`?user=${bob}&groupBy=namespace`, tenantA);
    expect(costs(answer.json.items)).toEqual([{ namespace: nsA, costUSD: '0.300000', runs: 1 }]);
    const none = await usage(`?user=${bob}&groupBy=namespace`, { tenant: 'c', namespaces: [`elsewhere-${suffix}`], role: 'submitter' });
    expect(none.json.items).toEqual([]);
  });

  test('an admin sees every namespace', async () => {
    const answer = await usage(`?user=${bob}&groupBy=namespace`, admin);
    expect(costs(answer.json.items)).toEqual([{ namespace: nsA, costUSD: '0.300000', runs: 1 }, { namespace: nsB, costUSD: '1.000000', runs: 1 }]);
    expect((await usage(`?namespace=${nsB}&groupBy=user`, admin)).json.items).toEqual([expect.objectContaining({ user: bob, costUSD: '1.000000' })]);
  });

  test('no token is 401', async () => {
    expect((await callApi(api.url, 'GET', '/api/v1/usage')).status).toBe(401);
  });
});

describe('bad queries: 400 naming the parameter', () => {
  test.each([
    ['?groupBy=user,team', 'groupBy', /team is not one of namespace, user, model, day, kind/],
    ['?from=yesterday', 'from', /YYYY-MM-DD/],
    ['?from=2026-13-01', 'from', /YYYY-MM-DD/],
    ['?to=2026-12-01T10:00:00', 'to', /RFC 3339/],
    ['?from=2026-12-02&to=2026-12-01', 'to', /must not be before from/],
    ['?namespace=Not_A_Namespace', 'namespace', /DNS-1123/],
    ['?user=', 'user', /./],
    ['?user=a&user=b', 'user', /./],
    ['?bogus=1', 'bogus', /unknown parameter bogus/],
  ])('%s', async (query, parameter, message) => {
    const answer = await usage(query, admin);
    expect(answer.status).toBe(400);
    expect(answer.json.type).toBe('https://claude-operator.io/problems/validation-error');
    expect(answer.json.detail).toMatch(new RegExp(`${parameter}\\b`));
    expect(answer.json.detail).toMatch(message);
  });
});
