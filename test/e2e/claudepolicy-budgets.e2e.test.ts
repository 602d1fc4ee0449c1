// ClaudePolicy budgets on the whole system. The cost of a run is the real CLI's,
// from the token counts the scripted API returns (inputTokens per answer), and
// lands in the usage ledger; the operator reads the ledger to admit work.
// - A Namespace USD budget smaller than the cost of 3 tasks: the first runs
//   under it, the second gets the rest as its --max-budget-usd and is stopped
//   there (Failed, BudgetExceeded, its cost in status), and the third waits
//   Queued BudgetExhausted; raising the budget starts it, and it succeeds.
// - A running task that keeps calling the model is stopped once its cost
//   crosses what the budget leaves.
// - `kubectl get cpol` shows the namespaces, what runs and the spend/budget.
// The policies select the fixture's namespace alone (its name label).
import { expect, test } from '@jest/globals';
import type { ClaudePolicySpec } from '../../crds/src/claude-policy.ts';
import { terminalPhases, type ClaudeTask } from '../../crds/src/claude-task.ts';
import { jobNameFor, specSecretNameFor } from '../../operator/src/names.ts';
import { kubectl, waitFor } from '../support/cluster.ts';
import { useTestPolicies } from './support/policies.ts';
import { conditionOf } from './support/tasks.ts';
import { useTaskFixture } from './support/task-fixture.ts';

const fixture = useTaskFixture('budgets');
const testPolicies = useTestPolicies();

const dailyBudget = (maxCostUSD: string): ClaudePolicySpec['budgets'] => [{ scope: 'Namespace', period: 'Daily', maxCostUSD }];
const createPolicy = (prefix: string, budgets: ClaudePolicySpec['budgets']) => testPolicies.create(prefix, fixture().ns.name, { budgets });

const ended = (task: ClaudeTask) => task.status?.phase !== undefined && terminalPhases.has(task.status.phase);

async function runToEnd(name: string, spec: Record<string, unknown>): Promise<ClaudeTask> {
  await fixture().tasks.applyTask(name, spec);
  return fixture().tasks.taskWhen(name, 'ended', ended, 180_000);
}

/** The maxBudgetUSD the runner was given: the spec Secret the operator made for the task. */
async function runnerBudget(task: ClaudeTask): Promise<string | undefined> {
  const { ns } = fixture();
  const secret = await ns.core.readNamespacedSecret({ namespace: ns.name, name: specSecretNameFor(jobNameFor(task.metadata.name!, task.metadata.uid!)) });
  return JSON.parse(Buffer.from(secret.data!['spec.json']!, 'base64').toString('utf8')).maxBudgetUSD;
}

/** What the namespace spent today, as the ledger has it. */
async function spentToday(): Promise<number> {
  const { rows } = await fixture().db.query(
    "SELECT coalesce(sum(cost_usd), 0)::text AS cost FROM claude_usage WHERE namespace = $1 AND day = (now() AT TIME ZONE 'UTC')::date",
    [fixture().ns.name]);
  return Number(rows[0].cost);
}

/** One model call of about 0.41 USD with the CLI's default model (100000 input tokens). */
const costlyAnswer = (n: number) => ({ prompt: `budget task ${n} [[scenario:answer {"inputTokens":100000}]]` });

test('a budget smaller than 3 tasks: the second is stopped at the rest, the third waits Queued BudgetExhausted, and raising the budget starts it', async () => {
  const { tasks, ns } = fixture();
  const policy = await createPolicy('budget', dailyBudget('0.60'));

  const first = await runToEnd('first', costlyAnswer(1));
  expect(first.status).toMatchObject({ phase: 'Succeeded' });
  const firstCost = Number(first.status?.usage?.costUSD);
  // The scenario's premise: one task fits the budget, two do not.
  expect(firstCost).toBeLessThan(0.60);
  expect(2 * firstCost).toBeGreaterThan(0.60);
  expect(await runnerBudget(first)).toBe('0.60');

  const second = await runToEnd('second', costlyAnswer(2));
  // It ran with what the budget left, and the CLI stopped it there.
  expect(Number(await runnerBudget(second))).toBeCloseTo(0.60 - firstCost, 5);
  expect(second.status).toMatchObject({ phase: 'Failed', reason: 'BudgetExceeded' });
  expect(Number(second.status?.usage?.costUSD)).toBeGreaterThan(0.60 - firstCost);

  await tasks.applyTask('third', costlyAnswer(3));
  const queued = await tasks.taskWhen('third', 'Queued', (t) => t.status?.phase === 'Queued');
  const today = new Date().toISOString().slice(0, 10);
  expect(queued.status?.reason).toBe('BudgetExhausted');
  expect(queued.status?.message).toMatch(new RegExp(`^ClaudePolicy ${policy}: the Daily Namespace budget is spent \\(namespace ${ns.name} has spent `
    + `[0-9.]+/0\\.60 USD since ${today}T00:00:00\\.000Z\\); the task waits until it resets at \\d{4}-\\d\\d-\\d\\dT00:00:00\\.000Z or the budget is raised$`));
  expect(conditionOf(queued, 'Accepted')).toMatchObject({ status: 'False', reason: 'BudgetExhausted', message: queued.status?.message });
  // Held, not started: no Job is made for it (a pass later, still Queued).
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  expect((await tasks.getTask('third')).status).toMatchObject({ phase: 'Queued', reason: 'BudgetExhausted' });
  expect((await ns.batch.listNamespacedJob({ namespace: ns.name })).items.map((job) => job.metadata?.annotations?.['claude-operator.io/task-name']))
    .not.toContain('third');

  const raised = await ns.kubectl('patch', 'claudepolicy', policy, '--type', 'merge', '-p', JSON.stringify({ spec: { budgets: dailyBudget('5.00') } }));
  expect(raised.stderr).toBe('');
  const third = await tasks.taskWhen('third', 'ended', ended, 180_000);
  expect(third.status).toMatchObject({ phase: 'Succeeded' });
  expect(Number(await runnerBudget(third))).toBeCloseTo(5 - firstCost - Number(second.status?.usage?.costUSD), 5);
});

test('a running task whose cost crosses what the budget leaves is stopped: Failed, BudgetExceeded, its cost in status', async () => {
  const { api } = fixture();
  // What this namespace spent so far (the first test), plus 1 USD: the rest the next task may spend.
  const before = await spentToday();
  const limit = (Math.ceil(before * 100) / 100 + 1).toFixed(2);
  const policy = await createPolicy('crossing', dailyBudget(limit));
  const requestsBefore = api.requests.length;
  // Calls the model again and again (a Bash tool each time), about 0.41 USD a call; only the budget stops it.
  const task = await runToEnd('crossing', { prompt: '[[scenario:loop-tools {"inputTokens":100000}]]', allowedTools: ['Bash'], maxTurns: 30 });
  const rest = Number(limit) - before;
  expect(Number(await runnerBudget(task))).toBeCloseTo(rest, 5);
  expect(task.status).toMatchObject({ phase: 'Failed', reason: 'BudgetExceeded' });
  expect(task.status?.message).toContain(`had cost ${task.status?.usage?.costUSD} US dollars`);
  expect(Number(task.status?.usage?.costUSD)).toBeGreaterThan(rest);
  expect(api.requests.length - requestsBefore).toBeLessThan(30); // the budget stopped it, not maxTurns
  // The ledger has charged the namespace what the task reports.
  const spent = await spentToday();
  expect(spent).toBeCloseTo(before + Number(task.status?.usage?.costUSD), 5);

  // kubectl get cpol: the namespaces it selects, what runs against no limit, and the spend against the budget.
  const spend = `${spent.toFixed(2)}/${limit}`;
  await waitFor(`ClaudePolicy ${policy} shows 1 namespace, 0 running, ${spend}`, async () => {
    const shown = await kubectl('get', 'cpol', policy, '--no-headers', '-o', 'custom-columns=N:.status.namespaces,R:.status.running,S:.status.spend');
    return shown.stdout.trim().split(/\s+/).join(' ') === `1 0 ${spend}`;
  }, { timeoutMs: 60_000 });
  const table = await kubectl('get', 'cpol', policy);
  expect(table.stdout).toMatch(new RegExp(`^NAME\\s+NAMESPACES\\s+RUNNING\\s+SPEND\\s+AGE\\n${policy}\\s+1\\s+0\\s+${spend.replaceAll('.', '\\.')}\\s`));
});
