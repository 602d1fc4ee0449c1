// The part of an agent's pod a task and a session share: the runner container
// with its security context, the spec and API-key Secrets, git credentials, the
// runner's Redis URL, the pass-through and the agent's own variables. What
// differs (the identity variables, where the workspace lives) comes in from
// desired-job.ts and session/desired-session.ts.
import type { V1EnvVar, V1PodFailurePolicy, V1PodTemplateSpec, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import type { AgentSpec } from '../../crds/src/agent-spec.ts';
import {
  agentEnvPrefix, finalExitCodes, passedThroughEnv, podEnv, podPaths, runnerContainerName,
} from '../../packages/contracts/src/pod-contract.ts';
import type { OperatorConfig } from './config.ts';

const runAsUser = 65532;
/** The volume with the API key Secret; task-status.ts names the Secret when the kubelet cannot find it. */
export const apiKeyVolumeName = 'anthropic';
/** The spec Secret's key with the runner's own Redis URL, when runners have users of their own (runner-redis-users.ts). */
export const runnerRedisUrlKey = 'redis-url';

export interface AgentPodInput {
  spec: Pick<AgentSpec, 'apiKeySecretRef' | 'env' | 'envFrom' | 'resources' | 'runtimeClassName'> & {
    workspace?: { git?: { credentialsSecretRef?: { name: string } | undefined } | undefined } | undefined;
  };
  config: OperatorConfig;
  /** The Secret with spec.json (and the runner's Redis URL). */
  specSecretName: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Who the runner is and where it works (podEnv names), before the shared variables. */
  env: V1EnvVar[];
  /** The workspace's and home's volumes and mounts. */
  volumes: V1Volume[];
  volumeMounts: V1VolumeMount[];
  /** The runner's working directory: the workspace. */
  workingDir: string;
  terminationGracePeriodSeconds?: number;
}

export function agentPodTemplate(input: AgentPodInput): V1PodTemplateSpec {
  const { spec, config } = input;
  const apiKeySecret = spec.apiKeySecretRef?.name ?? config.DEFAULT_API_KEY_SECRET;
  const apiKeyKey = spec.apiKeySecretRef?.key ?? (spec.apiKeySecretRef ? 'api-key' : config.DEFAULT_API_KEY_SECRET_KEY);
  const gitCredentials = spec.workspace?.git?.credentialsSecretRef;
  const volumes: V1Volume[] = [
    // Only spec.json as a file: the Redis URL (with its password) comes as an env var.
    { name: 'task', secret: { secretName: input.specSecretName, items: [{ key: 'spec.json', path: 'spec.json' }], defaultMode: 0o440 } },
    { name: apiKeyVolumeName, secret: { secretName: apiKeySecret, items: [{ key: apiKeyKey, path: 'api-key' }], defaultMode: 0o440 } },
    ...input.volumes,
    { name: 'tmp', emptyDir: {} },
    // 0440 + fsGroup: readable by the runner's group only; the runner copies an ssh key to a 0600 file.
    ...(gitCredentials ? [{ name: 'git-credentials', secret: { secretName: gitCredentials.name, defaultMode: 0o440 } }] : []),
  ];
  const volumeMounts: V1VolumeMount[] = [
    { name: 'task', mountPath: podPaths.specDir, readOnly: true },
    { name: apiKeyVolumeName, mountPath: podPaths.apiKeyDir, readOnly: true },
    ...input.volumeMounts,
    { name: 'tmp', mountPath: podPaths.tmp },
    ...(gitCredentials ? [{ name: 'git-credentials', mountPath: podPaths.gitCredentials, readOnly: true }] : []),
  ];
  const env: V1EnvVar[] = [
    ...input.env,
    { name: podEnv.specFile, value: podPaths.specFile },
    { name: podEnv.apiKeyFile, value: podPaths.apiKeyFile },
    config.RUNNER_REDIS_USERS === 'per-task'
      ? { name: podEnv.redisUrl, valueFrom: { secretKeyRef: { name: input.specSecretName, key: runnerRedisUrlKey } } }
      : { name: podEnv.redisUrl, value: config.RUNNER_REDIS_URL },
    ...(gitCredentials ? [{ name: podEnv.gitCredentialsDir, value: podPaths.gitCredentials }] : []),
    ...passedThroughEnv.flatMap((key): V1EnvVar[] => (config[key] ? [{ name: key, value: config[key] }] : [])),
    // The agent's own variables: the runner hands CLAUDE_AGENT_ENV_<NAME> to the
    // CLI as <NAME> (pod-contract.ts), and keeps its own settings apart.
    ...(spec.env ?? []).map((variable): V1EnvVar => ({
      name: `${agentEnvPrefix}${variable.name}`,
      ...(variable.value !== undefined ? { value: variable.value } : {}),
      ...(variable.valueFrom ? { valueFrom: variable.valueFrom } : {}),
    })),
  ];
  return {
    metadata: { labels: input.labels, annotations: input.annotations },
    spec: {
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      ...(spec.runtimeClassName ? { runtimeClassName: spec.runtimeClassName } : {}),
      terminationGracePeriodSeconds: input.terminationGracePeriodSeconds ?? 30,
      securityContext: {
        runAsNonRoot: true,
        runAsUser,
        runAsGroup: runAsUser,
        fsGroup: runAsUser,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      volumes,
      containers: [{
        name: runnerContainerName,
        image: config.RUNNER_IMAGE,
        env,
        ...(spec.envFrom ? { envFrom: spec.envFrom.map((from) => ({ ...from, prefix: `${agentEnvPrefix}${from.prefix ?? ''}` })) } : {}),
        volumeMounts,
        workingDir: input.workingDir,
        ...(spec.resources ? { resources: spec.resources } : {}),
        terminationMessagePolicy: 'FallbackToLogsOnError',
        securityContext: {
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
        },
      }],
    },
  };
}

/** The Job's pod failure policy for an agent's pod. */
export function agentPodFailurePolicy(): V1PodFailurePolicy {
  return {
    rules: [
      // An eviction or preemption is not the agent's fault: it does not use up a retry.
      { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
      // A spec or config the runner cannot use fails the same way every time; a spent budget stays spent.
      { action: 'FailJob', onExitCodes: { containerName: runnerContainerName, operator: 'In', values: [...finalExitCodes] } },
    ],
  };
}
