// What a task's Job and spec Secret should be. Pure: the reconciler creates
// these once and never edits them (a Job's pod template is immutable).
import type { V1Job, V1Secret } from '@kubernetes/client-node';
import { claudeTaskKind, group, version, type ClaudeTask } from '../../crds/src/claude-task.ts';
import { podEnv, podPaths } from '../../packages/contracts/src/pod-contract.ts';
import { agentPodFailurePolicy, agentPodTemplate, runnerRedisUrlKey } from './agent-pod.ts';
import type { OperatorConfig } from './config.ts';
import { cappedBudget } from './policy/budget.ts';
import {
  jobNameFor, managedByLabel, managedByValue, specSecretNameFor, taskLabelValue, taskNameAnnotation, taskNameLabel, taskUidLabel,
} from './names.ts';

export { apiKeyVolumeName, runnerRedisUrlKey } from './agent-pod.ts';

function ownerReference(task: ClaudeTask) {
  return {
    apiVersion: `${group}/${version}`,
    kind: claudeTaskKind,
    name: task.metadata.name ?? '',
    uid: task.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

function labels(task: ClaudeTask): Record<string, string> {
  return { [managedByLabel]: managedByValue, [taskNameLabel]: taskLabelValue(task.metadata.name ?? ''), [taskUidLabel]: task.metadata.uid ?? '' };
}

/** The full name, which a label may be too short for; the controller maps Jobs and pods back to their task by it. */
function annotations(task: ClaudeTask): Record<string, string> {
  return { [taskNameAnnotation]: task.metadata.name ?? '' };
}

/** The spec as the runner runs it: the task's own, with the operator's defaults filled in, and maxBudgetUSD lowered
 * to what the ClaudePolicies' budgets leave (`remainingUSD`), so that the CLI's --max-budget-usd stops the run there. */
export function effectiveSpec(task: ClaudeTask, config: Pick<OperatorConfig, 'DEFAULT_MODEL'>, remainingUSD?: string): ClaudeTask['spec'] {
  const maxBudgetUSD = cappedBudget(task.spec.maxBudgetUSD, remainingUSD);
  return {
    ...task.spec,
    ...(task.spec.model === undefined && config.DEFAULT_MODEL ? { model: config.DEFAULT_MODEL } : {}),
    ...(maxBudgetUSD !== undefined ? { maxBudgetUSD } : {}),
  };
}

export interface SpecSecretExtras {
  /** The runner's own Redis URL (per-task Redis users). */
  runnerRedisUrl?: string | undefined;
  /** What the budgets leave to spend: the run's cap when below spec.maxBudgetUSD. */
  remainingUSD?: string | undefined;
}

export function desiredSpecSecret(task: ClaudeTask, config: Pick<OperatorConfig, 'DEFAULT_MODEL'>, extras: SpecSecretExtras = {}): V1Secret {
  const { runnerRedisUrl, remainingUSD } = extras;
  const jobName = jobNameFor(task.metadata.name ?? '', task.metadata.uid ?? '');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: specSecretNameFor(jobName), namespace: task.metadata.namespace, labels: labels(task), annotations: annotations(task),
      ownerReferences: [ownerReference(task)],
    },
    type: 'Opaque',
    // A Secret, not a ConfigMap: prompts may hold what their authors would not publish.
    stringData: {
      'spec.json': JSON.stringify(effectiveSpec(task, config, remainingUSD)),
      ...(runnerRedisUrl ? { [runnerRedisUrlKey]: runnerRedisUrl } : {}),
    },
  };
}

/** Kueue's label naming the LocalQueue that admits a Job (sigs.k8s.io/kueue jobframework). */
export const kueueQueueLabel = 'kueue.x-k8s.io/queue-name';

/** `kueueQueue`: a ClaudePolicy selecting the namespace leaves admission to Kueue (spec.kueue.localQueueName). The Job
 * is then created suspended with Kueue's label, and Kueue unsuspends it once its ClusterQueue has room. */
export function desiredJob(task: ClaudeTask, config: OperatorConfig, { kueueQueue }: { kueueQueue?: string | undefined } = {}): V1Job {
  const { spec } = task;
  const name = jobNameFor(task.metadata.name ?? '', task.metadata.uid ?? '');
  const template = agentPodTemplate({
    spec, config, specSecretName: specSecretNameFor(name), labels: labels(task), annotations: annotations(task), workingDir: podPaths.workspace,
    env: [
      { name: podEnv.taskNamespace, value: task.metadata.namespace ?? '' },
      { name: podEnv.taskName, value: task.metadata.name ?? '' },
      { name: podEnv.taskUid, value: task.metadata.uid ?? '' },
      { name: podEnv.workspaceDir, value: podPaths.workspace },
      { name: podEnv.claudeHome, value: podPaths.home },
    ],
    volumes: [
      spec.workspace?.persistentVolumeClaim
        ? { name: 'workspace', persistentVolumeClaim: { claimName: spec.workspace.persistentVolumeClaim.claimName } }
        : { name: 'workspace', emptyDir: {} },
      { name: 'home', emptyDir: {} },
    ],
    volumeMounts: [{ name: 'workspace', mountPath: podPaths.workspace }, { name: 'home', mountPath: podPaths.home }],
  });

  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name, namespace: task.metadata.namespace, labels: { ...labels(task), ...(kueueQueue ? { [kueueQueueLabel]: kueueQueue } : {}) },
      annotations: annotations(task), ownerReferences: [ownerReference(task)],
    },
    spec: {
      ...(kueueQueue ? { suspend: true } : {}),
      backoffLimit: spec.retries ?? 0,
      activeDeadlineSeconds: spec.timeoutSeconds ?? config.DEFAULT_TIMEOUT_SECONDS,
      // No ttlSecondsAfterFinished: the operator deletes the task itself (spec.ttlSecondsAfterFinished) once its
      // record is final, and the Job and its pod (and so `kubectl logs`) go with it by garbage collection.
      // Never two agents on one workspace: a replacement starts only once the
      // previous pod has fully terminated.
      podReplacementPolicy: 'Failed',
      podFailurePolicy: agentPodFailurePolicy(),
      template,
    },
  };
}
