// ClaudePolicy spec.kueue, the operator's side of it: the Jobs of the namespaces
// such a policy selects are created suspended with Kueue's queue-name label, the
// operator's own concurrency limits of that policy step aside, and the task
// says it waits for Kueue. The bed runs no Kueue yet (issue 11 leaves that
// open): the test unsuspends one Job itself, as Kueue's admission does, and
// shows the task then runs; it does not stand for Kueue's admission.
import { expect, test } from '@jest/globals';
import type { V1Job } from '@kubernetes/client-node';
import { kueueQueueLabel } from '../../operator/src/desired-job.ts';
import { jobNameFor } from '../../operator/src/names.ts';
import { useTestPolicies } from './support/policies.ts';
import { useTaskFixture } from './support/task-fixture.ts';

const fixture = useTaskFixture('kueue');
const policies = useTestPolicies();

test('with kueue set, both tasks get suspended Jobs labelled for the LocalQueue (the policy\'s limit of 1 steps aside) and wait for Kueue', async () => {
  const { ns, tasks } = fixture();
  await policies.create('kueue', ns.name, { kueue: { localQueueName: 'claude' }, concurrency: { maxTasksPerNamespace: 1 } });
  for (const name of ['kueue-1', 'kueue-2']) await tasks.applyTask(name, { prompt: `${name} [[scenario:answer]]` });

  const waiting = await Promise.all(['kueue-1', 'kueue-2'].map((name) =>
    tasks.taskWhen(name, 'WaitingForKueue', (t) => t.status?.reason === 'WaitingForKueue')));
  for (const task of waiting) {
    expect(task.status).toMatchObject({ phase: 'Pending', message: 'the Job waits for Kueue to admit it (LocalQueue claude)' });
    const job: V1Job = await ns.batch.readNamespacedJob({ namespace: ns.name, name: jobNameFor(task.metadata.name!, task.metadata.uid!) });
    expect({ suspend: job.spec?.suspend, queue: job.metadata?.labels?.[kueueQueueLabel] }).toEqual({ suspend: true, queue: 'claude' });
  }

  // What Kueue does when it admits a Job: unsuspend it. The task then runs to the end; the other still waits.
  const first = waiting[0]!;
  const unsuspended = await ns.kubectl('patch', 'job', jobNameFor(first.metadata.name!, first.metadata.uid!), '--type=merge', '-p', '{"spec":{"suspend":false}}');
  expect(unsuspended.code).toBe(0);
  await tasks.taskWhen('kueue-1', 'Succeeded', (t) => t.status?.phase === 'Succeeded', 180_000);
  expect((await tasks.taskWhen('kueue-2', 'still waiting', () => true)).status?.reason).toBe('WaitingForKueue');
});
