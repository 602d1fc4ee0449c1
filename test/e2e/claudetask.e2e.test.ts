// A ClaudeTask from `kubectl apply` to a finished run, on the test bed: the real
// claude CLI in a pod of the local node, against the scripted API, with the
// operator running under the chart's ClusterRole.
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { RbacAuthorizationV1Api } from '@kubernetes/client-node';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { parseStreamEntry, workloadStreamKeys } from '../../packages/contracts/src/event-stream.ts';
import { repoRoot } from '../bed/binaries.ts';
import type { ScriptedApi } from '../scripted-api/server.ts';
import { bedSetting, kubeConfig, waitFor, type TestNamespace } from '../support/cluster.ts';
import type { OperatorUnderTest } from './support/operator-under-test.ts';
import {
  cronPermissions, grantedByChart, grantedForPolicies, operatorRequests, permission, sessionPermissions, templatePermissions, webhookPermissions,
} from './support/rbac-audit.ts';
import { setUpTaskFixture, type TaskFixture } from './support/task-fixture.ts';
import { taskTools, type TaskTools } from './support/tasks.ts';

let api: ScriptedApi;
let ns: TestNamespace;
let operator: OperatorUnderTest;
let redis: Redis;
let db: pg.Client;
let fixture: TaskFixture | undefined;
let taskWhen: TaskTools['taskWhen'];
let applyTask: TaskTools['applyTask'];
let podsOf: TaskTools['podsOf'];

beforeAll(async () => {
  fixture = await setUpTaskFixture('tasks');
  ({ api, ns, operator, redis, db } = fixture);
  ({ taskWhen, applyTask, podsOf } = taskTools(ns, operator));
  await operator.start();
});

afterAll(async () => {
  await fixture?.close();
});

async function streamEvents(name: string) {
  const entries = await redis.xrange(workloadStreamKeys('task', ns.name, name).events, '-', '+');
  return entries.map(([id, fields]) => {
    const entry = parseStreamEntry(id, fields);
    return { seq: entry.seq, type: entry.type, data: entry.data as Record<string, unknown> };
  });
}

describe('a task runs', () => {
  test('kubectl apply -f examples/task.yaml reaches Succeeded; the file is written; Postgres and Redis hold every event in order', async () => {
    const applied = await ns.kubectl('apply', '-f', path.join(repoRoot, 'examples/task.yaml'));
    expect(applied.stdout).toContain('claudetask.claude-operator.io/hello-file created');
    const task = await taskWhen('hello-file', 'Succeeded', (t) => t.status?.phase === 'Succeeded');

    const table = await ns.kubectl('get', 'ctask');
    expect(table.stdout).toMatch(/^NAME\s+PHASE\s+MODEL\s+TURNS\s+COST\s+AGE\s+DURATION\s*$/m);
    expect(table.stdout).toMatch(/^hello-file\s+Succeeded\s+claude-sonnet-4-5\s+\d+\s+\d+\.\d+\s+\S+\s+\d+s\s*$/m);
    expect(task.status).toMatchObject({ attempts: 1, exitCode: 0, claudeSessionId: expect.any(String) });
    expect(task.status?.conditions?.find((c) => c.type === 'Finished')).toMatchObject({ status: 'True', reason: 'Succeeded' });

    // The file the scenario asked for, in the pod's workspace volume on the local node.
    const podDirs = await fs.readdir(path.join(bedSetting('BED_DIR'), 'pods'));
    const podDir = podDirs.find((dir) => dir.startsWith(`${ns.name}_${task.status?.podName}_`));
    expect(podDir).toBeDefined();
    expect(await fs.readFile(path.join(bedSetting('BED_DIR'), 'pods', podDir!, 'volumes/workspace/hello.txt'), 'utf8'))
      .toBe('hello from claude-operator\n');

    const events = await streamEvents('hello-file');
    expect(events.map((e) => e.seq)).toEqual(events.map((_e, i) => i + 1));
    expect(events[0]?.type).toBe('runner.started');
    expect(events.some((e) => e.type === 'assistant')).toBe(true);
    expect(events.at(-1)).toMatchObject({ type: 'runner.completed', data: { outcome: 'succeeded' } });

    await waitFor('the final record in Postgres', async () =>
      (await db.query('SELECT finalized_at FROM claude_tasks WHERE uid = $1', [task.metadata.uid])).rows[0]?.finalized_at != null);
    const record = await db.query('SELECT phase, spec, result FROM claude_tasks WHERE uid = $1', [task.metadata.uid]);
    expect(record.rows[0]).toMatchObject({ phase: 'Succeeded', spec: expect.objectContaining({ model: 'claude-sonnet-4-5' }) });
    const stored = await db.query('SELECT seq, type, data FROM claude_task_events WHERE task_uid = $1 ORDER BY seq', [task.metadata.uid]);
    expect(stored.rows.map((row) => ({ seq: Number(row.seq), type: row.type, data: row.data }))).toEqual(events);
    // The runner had a Redis user of its own, from the spec Secret, and it is gone with the task's end.
    const job = await ns.batch.readNamespacedJob({ name: task.status!.jobName!, namespace: ns.name });
    expect(job.spec?.template.spec?.containers[0]?.env?.find((e) => e.name === 'REDIS_URL'))
      .toEqual({ name: 'REDIS_URL', valueFrom: { secretKeyRef: { name: `${task.status!.jobName}-spec`, key: 'redis-url' } } });
    expect(await redis.call('ACL', 'GETUSER', `claude-task-${task.metadata.uid}`)).toBeNull();
    const transitions = await db.query('SELECT to_phase FROM claude_task_transitions WHERE task_uid = $1 ORDER BY id', [task.metadata.uid]);
    expect(transitions.rows.map((row) => row.to_phase).at(-1)).toBe('Succeeded');
    expect(transitions.rows[0]?.to_phase).toBe('Pending');

    const kubeEvents = await ns.kubectl('get', 'events', '--field-selector', `involvedObject.name=hello-file,involvedObject.kind=ClaudeTask`, '-o', 'jsonpath={.items[*].reason}');
    expect(kubeEvents.stdout.split(' ')).toEqual(expect.arrayContaining(['JobCreated', 'Succeeded']));
    const metrics = await (await fetch(`${operator.metricsUrl}/metrics`)).text();
    expect(metrics).toMatch(/^claude_operator_reconcile_total\{controller="claudetasks",outcome="(done|requeued)"\} [1-9]/m);
    expect(metrics).toMatch(/^claude_operator_leader 1$/m);
  });

  test('deleting a running task waits (finalizer) until its record and events are in Postgres', async () => {
    await applyTask('delete-me', { prompt: 'delete-me [[scenario:slow {"tokens":600,"delayMs":100}]]' });
    const running = await taskWhen('delete-me', 'Running', (t) => t.status?.phase === 'Running');
    expect(running.metadata.finalizers).toContain('claude-operator.io/record');
    expect(await redis.call('ACL', 'GETUSER', `claude-task-${running.metadata.uid}`)).not.toBeNull();
    await waitFor('the model answering', async () => api.requests.some((r) => r.scenario === 'slow' && JSON.stringify(r.body).includes('delete-me')));
    const deleted = await ns.kubectl('delete', 'ctask', 'delete-me', '--wait=true', '--timeout=60s');
    expect(deleted.code).toBe(0);
    const record = await db.query('SELECT finalized_at, phase FROM claude_tasks WHERE uid = $1', [running.metadata.uid]);
    expect(record.rows[0]?.finalized_at).not.toBeNull();
    expect(record.rows[0]?.phase).toBe('Cancelled');
    // The agent was stopped before the history was copied: its last word is in Postgres.
    const stored = await db.query('SELECT type, data FROM claude_task_events WHERE task_uid = $1 ORDER BY seq', [running.metadata.uid]);
    expect(stored.rows.at(-1)).toMatchObject({ type: 'runner.completed', data: { outcome: 'cancelled' } });
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(await redis.exists(workloadStreamKeys('task', ns.name, 'delete-me').events)).toBe(0);
  });
});

describe('tasks end as they should', () => {
  test('cancel mid-run: Cancelled within seconds, and the pod is gone', async () => {
    await applyTask('cancel-me', { prompt: 'cancel-me [[scenario:slow {"tokens":600,"delayMs":100}]]', timeoutSeconds: 300 });
    const running = await taskWhen('cancel-me', 'Running', (t) => t.status?.phase === 'Running');
    // Mid-run: the model is streaming its (slow) answer to the agent.
    await waitFor('the model answering', async () => api.requests.some((r) => r.scenario === 'slow' && JSON.stringify(r.body).includes('cancel-me')));
    const patched = await ns.kubectl('patch', 'ctask', 'cancel-me', '--type', 'merge', '-p', '{"spec":{"cancel":true}}');
    expect(patched.code).toBe(0);
    const cancelledAt = Date.now();
    const cancelled = await taskWhen('cancel-me', 'Cancelled', (t) => t.status?.phase === 'Cancelled', 45_000);
    expect(Date.now() - cancelledAt).toBeLessThan(45_000);
    expect(cancelled.status?.message).toContain('cancel');
    await waitFor('no pod left', async () => (await podsOf(running)).length === 0, { timeoutMs: 30_000 });
    await waitFor('the runner reported the cancellation', async () => (await streamEvents('cancel-me')).at(-1)?.type === 'runner.completed');
    expect((await streamEvents('cancel-me')).at(-1)?.data).toMatchObject({ outcome: 'cancelled' });
  });

  test('a deadline: TimedOut', async () => {
    await applyTask('too-slow', { prompt: '[[scenario:slow {"tokens":600,"delayMs":100}]]', timeoutSeconds: 4 });
    const task = await taskWhen('too-slow', 'TimedOut', (t) => t.status?.phase === 'TimedOut');
    expect(task.status?.message).toMatch(/longer than 4 s/);
  });

  test('scripted 500s: Failed with a message, after the retries the task asked for', async () => {
    await applyTask('server-errors', {
      prompt: '[[scenario:server-error]]', retries: 1,
      env: [{ name: 'CLAUDE_CODE_MAX_RETRIES', value: '0' }],
    });
    const task = await taskWhen('server-errors', 'Failed', (t) => t.status?.phase === 'Failed', 120_000);
    expect(task.status?.attempts).toBe(2);
    expect(task.status?.message).toMatch(/500|api_error|API Error/i);
    expect(task.status?.message).toContain('after 2 attempts');
    const job = await ns.batch.readNamespacedJob({ name: task.status!.jobName!, namespace: ns.name });
    expect(job.status?.failed).toBe(2);
  });
});

describe('RBAC', () => {
  test('the operator uses every permission the chart grants, and is refused none', async () => {
    // Every path that needs a permission: create, run, cancel, delete, and the deletion after a ttl.
    await applyTask('rbac-probe', { prompt: 'rbac-probe [[scenario:slow {"tokens":600,"delayMs":100}]]' });
    await taskWhen('rbac-probe', 'Running', (t) => t.status?.phase === 'Running');
    await ns.kubectl('patch', 'ctask', 'rbac-probe', '--type', 'merge', '-p', '{"spec":{"cancel":true}}');
    await taskWhen('rbac-probe', 'Cancelled', (t) => t.status?.phase === 'Cancelled', 45_000);
    expect((await ns.kubectl('delete', 'ctask', 'rbac-probe', '--wait=true', '--timeout=60s')).code).toBe(0);
    // ttlSecondsAfterFinished: the operator deletes the finished task itself.
    await applyTask('rbac-ttl', { prompt: 'rbac-ttl', ttlSecondsAfterFinished: 0 });
    await waitFor('the finished task deleted by its ttl', async () =>
      (await ns.kubectl('get', 'ctask', 'rbac-ttl')).stderr.includes('NotFound'), { timeoutMs: 90_000 });

    const { used, refused } = await operatorRequests(operator);
    expect(refused).toEqual([]);
    const granted = await grantedByChart(operator);
    // claudetasks/finalizers is checked inside the Job create's admission
    // (OwnerReferencesPermissionEnforcement), never requested itself: the next test proves it.
    const checkedAtAdmission = permission('claude-operator.io', 'claudetasks/finalizers', 'update');
    // Making tasks on a schedule (a minute's wait), reading templates and a webhook's HMAC key are
    // proven in cron.e2e.test.ts, templates.e2e.test.ts and webhooks.e2e.test.ts.
    // Sessions' own permissions: the session controller's tests (session e2e to come).
    const exercisedElsewhere = [...cronPermissions, ...templatePermissions, ...webhookPermissions, ...sessionPermissions];
    expect([...granted].filter((p) => !used.has(p) && p !== checkedAtAdmission && !exercisedElsewhere.includes(p)).sort()).toEqual([]);
    // The policies role: claudepolicy.e2e.test.ts proves each of its rules is used; tasks use its cache of ClaudePolicies.
    const forPolicies = await grantedForPolicies(operator);
    expect([...used].filter((p) => !granted.has(p) && !forPolicies.has(p)).sort()).toEqual([]);
  });

  test('claudetasks/finalizers is needed: without it, creating an owned Job is refused', async () => {
    await applyTask('owner', { prompt: 'owner', cancel: true });
    const owner = await taskWhen('owner', 'Cancelled', (t) => t.status?.phase === 'Cancelled');
    const rbac = kubeConfig().makeApiClient(RbacAuthorizationV1Api);
    const reduced = `${operator.release}-no-finalizers`;
    const chartRole = await rbac.readClusterRole({ name: operator.release });
    await rbac.createClusterRole({ body: { metadata: { name: reduced },
      rules: (chartRole.rules ?? []).filter((rule) => !rule.resources?.includes('claudetasks/finalizers')) } });
    await ns.core.createNamespacedServiceAccount({ namespace: ns.name, body: { metadata: { name: 'reduced' } } });
    await rbac.createClusterRoleBinding({ body: { metadata: { name: reduced },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: reduced },
      subjects: [{ kind: 'ServiceAccount', name: 'reduced', namespace: ns.name }] } });
    try {
      const job = {
        apiVersion: 'batch/v1', kind: 'Job',
        metadata: { name: 'owned', ownerReferences: [{ apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudeTask', name: 'owner', uid: owner.metadata.uid, controller: true, blockOwnerDeletion: true }] },
        spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox', command: ['true'] }] } } },
      };
      const file = path.join(bedSetting('BED_DIR'), `${ns.name}-owned-job.json`);
      await fs.writeFile(file, JSON.stringify(job));
      const asReduced = await ns.kubectl('create', '-f', file, '--dry-run=server', `--as=system:serviceaccount:${ns.name}:reduced`);
      expect(asReduced.code).not.toBe(0);
      expect(asReduced.stderr).toMatch(/cannot set blockOwnerDeletion/);
      const asOperator = await ns.kubectl('create', '-f', file, '--dry-run=server', `--as=system:serviceaccount:${operator.namespace}:${operator.serviceAccount}`);
      expect(asOperator.code).toBe(0);
      expect(asOperator.stderr).not.toMatch(/blockOwnerDeletion|forbidden/i);
    } finally {
      await rbac.deleteClusterRoleBinding({ name: reduced }).catch(() => undefined);
      await rbac.deleteClusterRole({ name: reduced }).catch(() => undefined);
    }
  });
});
