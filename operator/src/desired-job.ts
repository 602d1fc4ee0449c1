// What a task's Job and spec Secret should be. Pure: the reconciler creates
// these once and never edits them (a Job's pod template is immutable).
import type { V1Job, V1Secret, V1Volume, V1VolumeMount, V1EnvVar } from '@kubernetes/client-node';
import { claudeTaskKind, group, version, type ClaudeTask } from '../../crds/src/claude-task.ts';
import type { OperatorConfig } from './config.ts';
import {
  jobNameFor, managedByLabel, managedByValue, specSecretNameFor, taskLabelValue, taskNameAnnotation, taskNameLabel, taskUidLabel,
} from './names.ts';

/** Where the runner finds what it needs inside the pod (runner/README.md). */
export const podPaths = {
  specFile: '/var/run/claude-operator/task/spec.json',
  apiKeyFile: '/var/run/claude-operator/anthropic/api-key',
  workspace: '/workspace',
  home: '/home/claude',
  /** workspace.git.credentialsSecretRef, as files: `username`/`password` or `ssh-privatekey`. */
  gitCredentials: '/var/run/claude-operator/git-credentials',
} as const;

/** The runner exits 2 for a spec or config it cannot use, and 4 when spec.maxBudgetUSD
 * was spent (runner/README.md): retrying cannot help, and a retry would spend the budget again. */
export const runnerExitBadInput = 2;
export const runnerExitBudgetExceeded = 4;
const runAsUser = 65532;
/** The volume with the API key Secret; task-status.ts names the Secret when the kubelet cannot find it. */
export const apiKeyVolumeName = 'anthropic';
export const agentEnvPrefix = 'CLAUDE_AGENT_ENV_';

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

/** The spec as the runner runs it: the task's own, with the operator's defaults filled in. */
export function effectiveSpec(task: ClaudeTask, config: Pick<OperatorConfig, 'DEFAULT_MODEL'>): ClaudeTask['spec'] {
  return task.spec.model === undefined && config.DEFAULT_MODEL ? { ...task.spec, model: config.DEFAULT_MODEL } : task.spec;
}

/** The Secret's key with the runner's own Redis URL, when runners have users of their own (runner-redis-users.ts). */
export const runnerRedisUrlKey = 'redis-url';

export function desiredSpecSecret(task: ClaudeTask, config: Pick<OperatorConfig, 'DEFAULT_MODEL'>, runnerRedisUrl?: string): V1Secret {
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
      'spec.json': JSON.stringify(effectiveSpec(task, config)),
      ...(runnerRedisUrl ? { [runnerRedisUrlKey]: runnerRedisUrl } : {}),
    },
  };
}

export function desiredJob(task: ClaudeTask, config: OperatorConfig): V1Job {
  const { spec } = task;
  const name = jobNameFor(task.metadata.name ?? '', task.metadata.uid ?? '');
  const apiKeySecret = spec.apiKeySecretRef?.name ?? config.DEFAULT_API_KEY_SECRET;
  const apiKeyKey = spec.apiKeySecretRef?.key ?? (spec.apiKeySecretRef ? 'api-key' : config.DEFAULT_API_KEY_SECRET_KEY);

  const volumes: V1Volume[] = [
    // Only spec.json as a file: the Redis URL (with its password) comes as an env var.
    { name: 'task', secret: { secretName: specSecretNameFor(name), items: [{ key: 'spec.json', path: 'spec.json' }], defaultMode: 0o440 } },
    { name: apiKeyVolumeName, secret: { secretName: apiKeySecret, items: [{ key: apiKeyKey, path: 'api-key' }], defaultMode: 0o440 } },
    spec.workspace?.persistentVolumeClaim
      ? { name: 'workspace', persistentVolumeClaim: { claimName: spec.workspace.persistentVolumeClaim.claimName } }
      : { name: 'workspace', emptyDir: {} },
    { name: 'home', emptyDir: {} },
    { name: 'tmp', emptyDir: {} },
  ];
  const gitCredentials = spec.workspace?.git?.credentialsSecretRef;
  // 0440 + fsGroup: readable by the runner's group only; the runner copies an ssh key to a 0600 file.
  if (gitCredentials) volumes.push({ name: 'git-credentials', secret: { secretName: gitCredentials.name, defaultMode: 0o440 } });
  const volumeMounts: V1VolumeMount[] = [
    { name: 'task', mountPath: '/var/run/claude-operator/task', readOnly: true },
    { name: apiKeyVolumeName, mountPath: '/var/run/claude-operator/anthropic', readOnly: true },
    { name: 'workspace', mountPath: podPaths.workspace },
    { name: 'home', mountPath: podPaths.home },
    { name: 'tmp', mountPath: '/tmp' },
    ...(gitCredentials ? [{ name: 'git-credentials', mountPath: podPaths.gitCredentials, readOnly: true }] : []),
  ];
  const passThrough = (['ANTHROPIC_BASE_URL', 'HTTPS_PROXY', 'HTTP_PROXY', 'NO_PROXY'] as const)
    .flatMap((key): V1EnvVar[] => (config[key] ? [{ name: key, value: config[key] }] : []));
  const env: V1EnvVar[] = [
    { name: 'CLAUDE_TASK_NAMESPACE', value: task.metadata.namespace ?? '' },
    { name: 'CLAUDE_TASK_NAME', value: task.metadata.name ?? '' },
    { name: 'CLAUDE_TASK_UID', value: task.metadata.uid ?? '' },
    { name: 'CLAUDE_TASK_SPEC_FILE', value: podPaths.specFile },
    { name: 'ANTHROPIC_API_KEY_FILE', value: podPaths.apiKeyFile },
    { name: 'WORKSPACE_DIR', value: podPaths.workspace },
    { name: 'CLAUDE_HOME', value: podPaths.home },
    config.RUNNER_REDIS_USERS === 'per-task'
      ? { name: 'REDIS_URL', valueFrom: { secretKeyRef: { name: specSecretNameFor(name), key: runnerRedisUrlKey } } }
      : { name: 'REDIS_URL', value: config.RUNNER_REDIS_URL },
    ...(gitCredentials ? [{ name: 'GIT_CREDENTIALS_DIR', value: podPaths.gitCredentials }] : []),
    ...passThrough,
    // The task's own variables, for the agent: the runner hands CLAUDE_AGENT_ENV_<NAME>
    // to the CLI as <NAME> (runner/README.md), and keeps its own settings apart.
    ...(spec.env ?? []).map((variable): V1EnvVar => ({
      name: `${agentEnvPrefix}${variable.name}`,
      ...(variable.value !== undefined ? { value: variable.value } : {}),
      ...(variable.valueFrom ? { valueFrom: variable.valueFrom } : {}),
    })),
  ];

  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace: task.metadata.namespace, labels: labels(task), annotations: annotations(task), ownerReferences: [ownerReference(task)] },
    spec: {
      backoffLimit: spec.retries ?? 0,
      activeDeadlineSeconds: spec.timeoutSeconds ?? config.DEFAULT_TIMEOUT_SECONDS,
      // No ttlSecondsAfterFinished: the operator deletes the task itself (spec.ttlSecondsAfterFinished) once its
      // record is final, and the Job and its pod (and so `kubectl logs`) go with it by garbage collection.
      // Never two agents on one workspace: a replacement starts only once the
      // previous pod has fully terminated.
      podReplacementPolicy: 'Failed',
      podFailurePolicy: {
        rules: [
          // An eviction or preemption is not the task's fault: it does not use up a retry.
          { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
          // A spec or config the runner cannot use fails the same way every time; a spent budget stays spent.
          { action: 'FailJob', onExitCodes: { containerName: 'runner', operator: 'In', values: [runnerExitBadInput, runnerExitBudgetExceeded] } },
        ],
      },
      template: {
        metadata: { labels: labels(task), annotations: annotations(task) },
        spec: {
          restartPolicy: 'Never',
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          ...(spec.runtimeClassName ? { runtimeClassName: spec.runtimeClassName } : {}),
          terminationGracePeriodSeconds: 30,
          securityContext: {
            runAsNonRoot: true,
            runAsUser,
            runAsGroup: runAsUser,
            fsGroup: runAsUser,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          volumes,
          containers: [{
            name: 'runner',
            image: config.RUNNER_IMAGE,
            env,
            ...(spec.envFrom ? { envFrom: spec.envFrom.map((from) => ({ ...from, prefix: `${agentEnvPrefix}${from.prefix ?? ''}` })) } : {}),
            volumeMounts,
            workingDir: podPaths.workspace,
            ...(spec.resources ? { resources: spec.resources } : {}),
            terminationMessagePolicy: 'FallbackToLogsOnError',
            securityContext: {
              allowPrivilegeEscalation: false,
              readOnlyRootFilesystem: true,
              capabilities: { drop: ['ALL'] },
            },
          }],
        },
      },
    },
  };
}
