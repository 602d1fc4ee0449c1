// ClaudePolicy spec.kueue on the bed, with the real Kueue (test/bed/kueue.ts, built
// from sigs.k8s.io/kueue by test/cluster/build-kueue.sh): the Jobs of the namespaces
// such a policy selects are created suspended with Kueue's queue-name label, the
// operator's own concurrency limit of that policy steps aside, and the tasks say
// they wait for Kueue. Once their LocalQueue exists, a ClusterQueue with room for
// one pod admits them one at a time (sampled all along from the Jobs and pods the
// apiserver has), and all of them succeed.
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import type { ClaudeTask } from '../../crds/src/claude-task.ts';
import { kueueQueueLabel } from '../../operator/src/desired-job.ts';
import { jobNameFor } from '../../operator/src/names.ts';
import { startKueue, type RunningKueue } from '../bed/kueue.ts';
import { bedSetting, kubeConfig, kubectl } from '../support/cluster.ts';
import { useTestPolicies } from './support/policies.ts';
import { useTaskFixture } from './support/task-fixture.ts';
import { kubectlGet } from './support/tasks.ts';

const fixture = useTaskFixture('kueue');
const policies = useTestPolicies();
const taskNames = ['kueue-1', 'kueue-2', 'kueue-3'];

let kueue: RunningKueue | undefined;
let workDir = '';
const clusterObjects: string[] = [];
beforeAll(async () => {
  workDir = await fs.mkdtemp(path.join(bedSetting('BED_DIR'), 'kueue-'));
  kueue = await startKueue({
    workDir, kubeconfig: bedSetting('KUBECONFIG'), kubectl, caCertFile: kubeConfig().getCurrentCluster()!.caFile!,
    jobNamespaces: [fixture().ns.name],
  });
}, 20 * 60_000);
afterAll(async () => {
  for (const object of clusterObjects.reverse()) await kubectl('delete', object, '--ignore-not-found');
  await kueue?.stop();
  if (workDir) await fs.rm(workDir, { recursive: true, force: true });
});

/** kubectl apply of one object from JSON; a refusal fails the test with the apiserver's (or a webhook's) words. */
async function apply(object: Record<string, unknown>, namespace?: string): Promise<void> {
  const file = path.join(workDir, `${String((object.metadata as { name: string }).name)}-${String(object.kind)}.json`);
  await fs.writeFile(file, JSON.stringify(object));
  const applied = await kubectl(...(namespace ? ['--namespace', namespace] : []), 'apply', '-f', file);
  expect({ code: applied.code, stderr: applied.stderr }).toEqual({ code: 0, stderr: '' });
}

interface Workload {
  metadata: { name: string; ownerReferences?: Array<{ kind: string; name: string }> };
  status?: { conditions?: Array<{ type: string; status: string; reason?: string; message?: string }> };
}
const conditionTrue = (workload: Workload, type: string) => workload.status?.conditions?.some((c) => c.type === type && c.status === 'True') ?? false;

/** A Job has finished once the job controller says so (the interim conditions count: its pods are done by then). */
const finishedTypes = new Set(['Complete', 'Failed', 'SuccessCriteriaMet', 'FailureTarget']);
const admittedAndUnfinished = (job: V1Job) =>
  job.spec?.suspend === false && !job.status?.conditions?.some((c) => finishedTypes.has(c.type) && c.status === 'True');
const podActive = (pod: V1Pod) => pod.status?.phase === 'Pending' || pod.status?.phase === 'Running';

/** Every 250 ms until stopped: the most unsuspended unfinished Jobs, and the most live pods, seen at once. */
function sampleAdmitted(namespace: string): { stop(): Promise<{ jobs: number; pods: number; samples: number }> } {
  const { ns } = fixture();
  const highest = { jobs: 0, pods: 0, samples: 0 };
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const [jobs, pods] = await Promise.all([ns.batch.listNamespacedJob({ namespace }), ns.core.listNamespacedPod({ namespace })]);
      highest.jobs = Math.max(highest.jobs, jobs.items.filter(admittedAndUnfinished).length);
      highest.pods = Math.max(highest.pods, pods.items.filter(podActive).length);
      highest.samples++;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  })();
  return { async stop() { stopped = true; await loop; return highest; } };
}

test('Kueue\'s own webhooks answer for the test namespace: a Job with a bad Kueue annotation is refused by Kueue', async () => {
  const { ns } = fixture();
  const file = path.join(workDir, 'bad-annotation-job.json');
  await fs.writeFile(file, JSON.stringify({ apiVersion: 'batch/v1', kind: 'Job', metadata: {
    name: 'bad-annotation', labels: { [kueueQueueLabel]: 'claude' }, annotations: { 'kueue.x-k8s.io/job-min-parallelism': 'many' },
  }, spec: { suspend: true, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox' }] } } } }));
  const created = await ns.kubectl('create', '--dry-run=server', '-f', file);
  expect(created.code).not.toBe(0);
  expect(created.stderr).toMatch(/admission webhook "vjob\.kb\.io" denied the request.*job-min-parallelism/);
});

test('a ClusterQueue with one pod of quota admits three tasks\' Jobs one at a time; the policy\'s own limit steps aside', async () => {
  const { ns, tasks } = fixture();
  const suffix = ns.name.slice('kueue-'.length);
  const flavor = `claude-${suffix}`;
  const clusterQueue = `claude-${suffix}`;
  // maxTasksPerNamespace 1 would hold the second and third task back: with kueue set, Kueue decides instead.
  await policies.create('kueue', ns.name, { kueue: { localQueueName: 'claude' }, concurrency: { maxTasksPerNamespace: 1 } });
  for (const name of taskNames) await tasks.applyTask(name, { prompt: `${name} [[scenario:slow {"tokens":20,"delayMs":150}]]` });

  // No LocalQueue yet: Kueue holds every Job, and each task says it waits for Kueue.
  const waiting = await Promise.all(taskNames.map((name) =>
    tasks.taskWhen(name, 'WaitingForKueue', (t) => t.status?.reason === 'WaitingForKueue', 120_000)));
  for (const task of waiting) {
    expect(task.status).toMatchObject({ phase: 'Pending', message: 'the Job waits for Kueue to admit it (LocalQueue claude)' });
    const job: V1Job = await ns.batch.readNamespacedJob({ namespace: ns.name, name: jobNameFor(task.metadata.name!, task.metadata.uid!) });
    expect({ suspend: job.spec?.suspend, queue: job.metadata?.labels?.[kueueQueueLabel] }).toEqual({ suspend: true, queue: 'claude' });
  }

  // Room for one pod: the runner pod sets no requests, so Kueue counts pods.
  clusterObjects.push(`resourceflavor.kueue.x-k8s.io/${flavor}`, `clusterqueue.kueue.x-k8s.io/${clusterQueue}`);
  await apply({ apiVersion: 'kueue.x-k8s.io/v1beta2', kind: 'ResourceFlavor', metadata: { name: flavor } });
  await apply({ apiVersion: 'kueue.x-k8s.io/v1beta2', kind: 'ClusterQueue', metadata: { name: clusterQueue }, spec: {
    namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns.name } },
    resourceGroups: [{ coveredResources: ['pods'], flavors: [{ name: flavor, resources: [{ name: 'pods', nominalQuota: 1 }] }] }],
  } });
  const sampler = sampleAdmitted(ns.name);
  let highest: { jobs: number; pods: number; samples: number };
  try {
    await apply({ apiVersion: 'kueue.x-k8s.io/v1beta2', kind: 'LocalQueue', metadata: { name: 'claude' }, spec: { clusterQueue } }, ns.name);
    for (const name of taskNames) await tasks.taskWhen(name, 'Succeeded', (t) => t.status?.phase === 'Succeeded', 300_000);
  } finally {
    highest = await sampler.stop();
  }
  expect(highest.samples).toBeGreaterThan(0);
  expect({ jobs: highest.jobs, pods: highest.pods }).toEqual({ jobs: 1, pods: 1 });

  // Kueue's own record: one Workload per Job, each admitted through the ClusterQueue and finished.
  const workloads = await kubectlGet<{ items: Workload[] }>(ns, 'workloads.kueue.x-k8s.io');
  const jobNames = waiting.map((task: ClaudeTask) => jobNameFor(task.metadata.name!, task.metadata.uid!));
  expect(workloads.items.map((w) => ({
    job: w.metadata.ownerReferences?.find((o) => o.kind === 'Job')?.name,
    admitted: conditionTrue(w, 'Admitted'), finished: conditionTrue(w, 'Finished'),
  })).sort((a, b) => String(a.job).localeCompare(String(b.job))))
    .toEqual([...jobNames].sort().map((job) => ({ job, admitted: true, finished: true })));
});
