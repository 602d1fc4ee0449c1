// Accounting on the whole system: tasks run by the real CLI against the scripted
// API, created by different users (kubectl --as alice, --as carol, and REST), each
// charged to its creator. GET /api/v1/usage grouped by user and by user and model,
// and the operator's tokens and cost metrics, equal the sums of the tasks' own
// stored usage (status.usage, and the same in Postgres).
import fs from 'node:fs/promises';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { beforeAll, afterAll, expect, test } from '@jest/globals';
import { RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { callApi, startTestApi, token } from '../../api/src/test-support.ts';
import type { ApiServer } from '../../api/src/server.ts';
import { createdByAnnotation, type ClaudeTask } from '../../crds/src/claude-task.ts';
import { bedSetting, kubeConfig, waitFor } from '../support/cluster.ts';
import { useTaskFixture } from './support/task-fixture.ts';

// The metrics reread the ledger on every scrape here.
const fixture = useTaskFixture('usage', { operatorEnv: { METRICS_LEDGER_MAX_AGE_SECONDS: '0' } });
let api: ApiServer;

beforeAll(async () => {
  ({ api } = await startTestApi());
  const { ns } = fixture();
  const rbac = kubeConfig().makeApiClient(RbacAuthorizationV1Api);
  await rbac.createNamespacedRole({ namespace: ns.name, body: { metadata: { name: 'task-creator' },
    rules: [{ apiGroups: ['claude-operator.io'], resources: ['claudetasks'], verbs: ['create', 'get'] }] } });
  for (const user of ['alice', 'carol']) {
    await rbac.createNamespacedRoleBinding({ namespace: ns.name, body: { metadata: { name: user },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'task-creator' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }] } });
  }
});
afterAll(async () => {
  await api?.close();
});

async function createAs(user: string, name: string, spec: Record<string, unknown>): Promise<void> {
  const { ns } = fixture();
  const file = path.join(bedSetting('BED_DIR'), `${ns.name}-${name}.json`);
  await fs.writeFile(file, JSON.stringify({ apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudeTask', metadata: { name }, spec }));
  const created = await ns.kubectl('create', '-f', file, `--as=${user}`);
  expect({ code: created.code, stderr: created.stderr }).toEqual({ code: 0, stderr: '' });
}

interface Sums { runs: number; input: number; output: number; cacheRead: number; cacheCreation: number; microUSD: number }
const zero = (): Sums => ({ runs: 0, input: 0, output: 0, cacheRead: 0, cacheCreation: 0, microUSD: 0 });
/** Decimal dollars (at most 6 places) as integer micro-dollars, so sums are exact. */
const micro = (usd: string | undefined) => {
  const [whole = '0', fraction = ''] = (usd ?? '0').split('.');
  return Number(whole) * 1_000_000 + Number(fraction.padEnd(6, '0').slice(0, 6));
};

/** The tasks' own usage, summed by key. */
function sumTasks(tasks: ClaudeTask[], keyOf: (task: ClaudeTask) => string): Map<string, Sums> {
  const sums = new Map<string, Sums>();
  for (const task of tasks) {
    const usage = task.status?.usage ?? {};
    const sum = sums.get(keyOf(task)) ?? zero();
    sums.set(keyOf(task), {
      runs: sum.runs + 1, input: sum.input + (usage.inputTokens ?? 0), output: sum.output + (usage.outputTokens ?? 0),
      cacheRead: sum.cacheRead + (usage.cacheReadInputTokens ?? 0), cacheCreation: sum.cacheCreation + (usage.cacheCreationInputTokens ?? 0),
      microUSD: sum.microUSD + micro(usage.costUSD),
    });
  }
  return sums;
}

const userOf = (task: ClaudeTask) => task.metadata.annotations?.[createdByAnnotation] ?? '';
const modelOf = (task: ClaudeTask) => task.status?.model ?? task.spec.model ?? '';

interface UsageItem { user?: string | null; model?: string | null; runs: number; inputTokens: number; outputTokens: number;
  cacheReadInputTokens: number; cacheCreationInputTokens: number; costUSD: string }

function sumsOfItems(items: UsageItem[], keyOf: (item: UsageItem) => string): Map<string, Sums> {
  return new Map(items.map((item) => [keyOf(item), {
    runs: item.runs, input: item.inputTokens, output: item.outputTokens, cacheRead: item.cacheReadInputTokens,
    cacheCreation: item.cacheCreationInputTokens, microUSD: micro(item.costUSD),
  }]));
}

/** The operator's samples of one metric for the namespace, by `user|model` (and type for tokens). */
function samplesOf(text: string, metric: string, namespace: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = new RegExp(`^${metric}\\{(.*)\\} (\\S+)$`).exec(line);
    if (!match) continue;
    const labels = Object.fromEntries([...match[1]!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (labels.namespace !== namespace) continue;
    samples.set([labels.user, labels.model, labels.type].filter((part) => part !== undefined).join('|'), Number(match[2]));
  }
  return samples;
}

test('usage by user over REST and the operator\'s metrics equal the sums of the tasks\' stored usage', async () => {
  const { ns, tasks, db, operator } = fixture();
  await createAs('alice', 'by-alice-1', { prompt: 'alice one [[scenario:write-file {"path":"a.txt","content":"a"}]]' });
  await createAs('alice', 'by-alice-2', { prompt: 'alice two', model: 'claude-haiku-4-5' });
  await createAs('carol', 'by-carol', { prompt: 'carol [[scenario:answer {"text":"carol\'s answer"}]]' });
  const bearer = await token({ tenant: 'team-u', namespaces: [ns.name], role: 'submitter' });
  const posted = await callApi(api.url, 'POST', `/api/v1/namespaces/${ns.name}/tasks`, { token: bearer, body: { name: 'by-rest', spec: { prompt: 'over REST' } } });
  expect(posted.status).toBe(202);

  const ended: ClaudeTask[] = [];
  for (const name of ['by-alice-1', 'by-alice-2', 'by-carol', 'by-rest']) {
    ended.push(await tasks.taskWhen(name, 'Succeeded with its usage', (t) => t.status?.phase === 'Succeeded' && t.status.usage !== undefined, 180_000));
  }
  expect(ended.map(userOf).slice(0, 3)).toEqual(['alice', 'alice', 'carol']);
  for (const task of ended) expect(micro(task.status?.usage?.costUSD)).toBeGreaterThan(0);
  // What Postgres stored of each task is its status's usage.
  await waitFor('every task\'s usage in Postgres', async () => {
    const { rows } = await db.query(`SELECT name, status->'usage' AS usage FROM claude_tasks WHERE namespace = $1`, [ns.name]);
    return ended.every((task) => rows.some((row: { name: string; usage: unknown }) =>
      // Deep equality: jsonb keeps its keys in an order of its own.
      row.name === task.metadata.name && isDeepStrictEqual(row.usage, task.status?.usage)));
  });

  const byUser = sumTasks(ended, userOf);
  const byUserModel = sumTasks(ended, (task) => `${userOf(task)}|${modelOf(task)}`);
  expect(byUser.size).toBe(3);

  const usage = async (groupBy: string) => {
    const answer = await callApi(api.url, 'GET', `/api/v1/usage?namespace=${ns.name}&groupBy=${groupBy}`, { token: bearer });
    expect(answer.status).toBe(200);
    return answer.json.items as UsageItem[];
  };
  let restByUser = new Map<string, Sums>();
  await waitFor('the ledger to hold every run', async () => {
    restByUser = sumsOfItems(await usage('user'), (item) => item.user ?? '');
    return [...restByUser.values()].reduce((runs, sums) => runs + sums.runs, 0) === ended.length;
  }, { timeoutMs: 30_000 });
  expect(restByUser).toEqual(byUser);
  expect(sumsOfItems(await usage('user,model'), (item) => `${item.user ?? ''}|${item.model ?? ''}`)).toEqual(byUserModel);

  const metrics = await fetch(`${operator.metricsUrl}/metrics`).then((response) => response.text());
  const cost = samplesOf(metrics, 'claude_operator_cost_usd_total', ns.name);
  const tokens = samplesOf(metrics, 'claude_operator_tokens_total', ns.name);
  expect(new Map([...cost].map(([key, usd]) => [key, Math.round(usd * 1_000_000)]))).toEqual(new Map([...byUserModel].map(([key, sums]) => [key, sums.microUSD])));
  const expectedTokens = new Map([...byUserModel].flatMap(([key, sums]) => [
    [`${key}|input`, sums.input], [`${key}|output`, sums.output], [`${key}|cache_read`, sums.cacheRead], [`${key}|cache_creation`, sums.cacheCreation],
  ]));
  expect(tokens).toEqual(expectedTokens);
});
