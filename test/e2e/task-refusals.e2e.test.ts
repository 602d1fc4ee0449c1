// Tasks that cannot run (yet) say why, where a kubectl user looks: the status,
// its conditions (so `kubectl wait` returns) and Warning Events. A missing API key
// Secret waits, with the command that fixes it; a spec the operator cannot use and
// a Job the apiserver refuses end the task Failed instead of retrying forever; a
// pod a ResourceQuota refuses leaves it Pending QuotaExceeded until there is room.
import { describe, expect, test } from '@jest/globals';
import type { ClaudeTask } from '../../crds/src/claude-task.ts';
import { kubectl, waitFor } from '../support/cluster.ts';
import { useTaskFixture } from './support/task-fixture.ts';
import { conditionOf as condition, kubectlGet as getJson, kubectlWaitTimeout as waitTimeout } from './support/tasks.ts';

describe('in a namespace of ordinary tasks', () => {
  const fixture = useTaskFixture('refusals');
  const ns = () => fixture().ns;
  const tasks = () => fixture().tasks;

  test('a missing API key Secret: Pending with reason APIKeySecretMissing, a Warning that says what to create; once created, the task runs', async () => {
    await tasks().applyTask('needs-key', { prompt: 'needs-key [[scenario:answer]]', apiKeySecretRef: { name: 'no-such-secret' } });
    const waited = await ns().kubectl('wait', '--for=jsonpath={.status.reason}=APIKeySecretMissing', 'ctask/needs-key', waitTimeout);
    expect(waited.code).toBe(0);
    const pending = await getJson<ClaudeTask>(ns(), 'ctask', 'needs-key');
    expect(pending.status?.phase).toBe('Pending');
    expect(pending.status?.message).toContain('no-such-secret');
    expect(condition(pending, 'Succeeded')).toMatchObject({ status: 'Unknown', reason: 'APIKeySecretMissing' });
    expect(condition(pending, 'Finished')).toMatchObject({ status: 'False' });

    const warnings = (await tasks().eventsOf('needs-key')).filter((e) => e.type === 'Warning' && e.reason === 'APIKeySecretMissing');
    expect(warnings.length).toBeGreaterThan(0);
    expect(warnings.map((e) => e.message)).toEqual(warnings.map(() => pending.status?.message));

    // Do what the message says, as a user would copy it (with a key in place of the placeholder).
    const command = /kubectl (create secret generic \S+ -n \S+ --from-literal=[\w.-]+=)<your key>/.exec(pending.status?.message ?? '');
    expect(command).not.toBeNull();
    expect(command![1]).toBe(`create secret generic no-such-secret -n ${ns().name} --from-literal=api-key=`);
    const created = await kubectl(...`${command![1]}test-key`.split(' '));
    expect(created).toMatchObject({ code: 0, stdout: expect.stringContaining('secret/no-such-secret created') });

    expect((await ns().kubectl('wait', '--for=condition=Succeeded', 'ctask/needs-key', waitTimeout)).code).toBe(0);
    expect((await getJson<ClaudeTask>(ns(), 'ctask', 'needs-key')).status?.result).toBe('This is a scripted answer.');
  });

  test('a spec the CRD lets through but the operator cannot use: Failed with reason InvalidSpec and conditions, so kubectl wait returns', async () => {
    // The CRD bounds jsonSchema by its properties; its size as JSON (it goes to the CLI as one argument) only the operator's model checks.
    const tooBig = { type: 'object', description: 'x'.repeat(70 * 1024) };
    await tasks().applyTask('invalid-spec', { prompt: 'invalid-spec', jsonSchema: tooBig });
    expect((await ns().kubectl('wait', '--for=condition=Finished', 'ctask/invalid-spec', waitTimeout)).code).toBe(0);
    expect((await ns().kubectl('wait', '--for=condition=Succeeded=False', 'ctask/invalid-spec', waitTimeout)).code).toBe(0);

    const task = await getJson<ClaudeTask>(ns(), 'ctask', 'invalid-spec');
    expect(task.status).toMatchObject({ phase: 'Failed', reason: 'InvalidSpec', message: expect.stringMatching(/^invalid spec: jsonSchema: .*bytes/) });
    expect(condition(task, 'Accepted')).toMatchObject({ status: 'False', reason: 'InvalidSpec', message: task.status?.message });
    expect(condition(task, 'Succeeded')).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect((await ns().kubectl('get', 'jobs', '-l', 'claude-operator.io/task=invalid-spec', '-o', 'name')).stdout).toBe('');
    expect((await tasks().eventsOf('invalid-spec')).filter((e) => e.type === 'Warning').map((e) => e.message)).toEqual([task.status?.message]);
  });
});

describe('in a namespace whose ResourceQuota allows no Jobs', () => {
  // Its own namespace and operator: the quota would stop every other task's Job too.
  const fixture = useTaskFixture('quota');
  const ns = () => fixture().ns;
  const tasks = () => fixture().tasks;

  test('the refused Job ends the task Failed (JobRejected) with the apiserver\'s message, a Warning Event, and kubectl wait returns', async () => {
    const quota = await ns().kubectl('create', 'quota', 'no-jobs', '--hard=count/jobs.batch=0');
    expect(quota.code).toBe(0);
    // The quota admission only enforces a quota once the controller manager has set its status.
    await waitFor('the quota in force', async () =>
      (await ns().kubectl('get', 'resourcequota', 'no-jobs', '-o', 'jsonpath={.status.hard}')).stdout.includes('count/jobs.batch'), { timeoutMs: 60_000 });

    await tasks().applyTask('over-quota', { prompt: 'over-quota [[scenario:answer]]' });
    expect((await ns().kubectl('wait', '--for=condition=Finished', 'ctask/over-quota', waitTimeout)).code).toBe(0);
    const task = await getJson<ClaudeTask>(ns(), 'ctask', 'over-quota');
    expect(task.status).toMatchObject({ phase: 'Failed', reason: 'JobRejected' });
    // The apiserver's own words, e.g. `jobs.batch "…" is forbidden: exceeded quota: no-jobs, requested: count/jobs.batch=1, …`.
    expect(task.status?.message).toMatch(/forbidden: exceeded quota: no-jobs/);
    expect(condition(task, 'Accepted')).toMatchObject({ status: 'False', reason: 'JobRejected', message: task.status?.message });
    expect(condition(task, 'Succeeded')).toMatchObject({ status: 'False', reason: 'JobRejected' });
    expect(task.status?.jobName).toBeUndefined();

    const warnings = (await tasks().eventsOf('over-quota')).filter((e) => e.type === 'Warning');
    expect(warnings.map((e) => e.message)).toEqual([task.status?.message]);
    expect(warnings[0]?.message).toContain('exceeded quota');
  });
});

describe('in a namespace whose ResourceQuota allows no pods', () => {
  // Its own namespace and operator: the quota would hold every other task's pod too.
  const fixture = useTaskFixture('pod-quota');
  const ns = () => fixture().ns;
  const tasks = () => fixture().tasks;

  test('the refused pod shows on the task as QuotaExceeded with the apiserver\'s message, not "waiting for the pod"; with room, it runs', async () => {
    expect((await ns().kubectl('create', 'quota', 'no-pods', '--hard=pods=0')).code).toBe(0);
    await waitFor('the quota in force', async () =>
      (await ns().kubectl('get', 'resourcequota', 'no-pods', '-o', 'jsonpath={.status.hard}')).stdout.includes('pods'), { timeoutMs: 60_000 });

    await tasks().applyTask('pod-over-quota', { prompt: 'pod-over-quota [[scenario:answer]]' });
    expect((await ns().kubectl('wait', '--for=jsonpath={.status.reason}=QuotaExceeded', 'ctask/pod-over-quota', waitTimeout)).code).toBe(0);
    const held = await getJson<ClaudeTask>(ns(), 'ctask', 'pod-over-quota');
    expect(held.status).toMatchObject({ phase: 'Pending', reason: 'QuotaExceeded' });
    // The job controller's FailedCreate, in the apiserver's words: `pods "…" is forbidden: exceeded quota: no-pods, requested: pods=1, …`.
    expect(held.status?.message).toMatch(/^a ResourceQuota refuses the task's pod .*: pods ".+" is forbidden: exceeded quota: no-pods/);
    expect(condition(held, 'Accepted')).toMatchObject({ status: 'True', reason: 'JobCreated' });
    expect(condition(held, 'Running')).toMatchObject({ status: 'False', reason: 'QuotaExceeded', message: held.status?.message });
    const printed = await ns().kubectl('get', 'ctask', 'pod-over-quota');
    expect(printed.stdout).toMatch(/pod-over-quota\s+Pending/);
    const warnings = (await tasks().eventsOf('pod-over-quota')).filter((e) => e.type === 'Warning' && e.reason === 'QuotaExceeded');
    expect(warnings.map((e) => e.message)).toContain(held.status?.message);

    // Room again: the job controller creates the pod on its next try, and the task runs to the end.
    expect((await ns().kubectl('delete', 'quota', 'no-pods')).code).toBe(0);
    expect((await ns().kubectl('wait', '--for=condition=Succeeded', 'ctask/pod-over-quota', waitTimeout)).code).toBe(0);
    expect((await getJson<ClaudeTask>(ns(), 'ctask', 'pod-over-quota')).status?.result).toBe('This is a scripted answer.');
  });
});
