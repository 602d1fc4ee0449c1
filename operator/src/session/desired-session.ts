// What a session's objects should be (pure): the PVC the operator makes when the
// session names none, and per activation n a spec Secret and a Job `<name>-<n>`
// whose pod is a task's pod (agent-pod.ts) in session mode on the session's volume.
import type { V1Job, V1PersistentVolumeClaim, V1Secret } from '@kubernetes/client-node';
import { claudeSessionKind, defaultIdleTimeoutSeconds, defaultSessionVolumeSize, type ClaudeSession } from '../../../crds/src/claude-session.ts';
import { group, version } from '../../../crds/src/claude-task.ts';
import { podEnv, sessionVolume } from '../../../packages/contracts/src/pod-contract.ts';
import { agentPodFailurePolicy, agentPodTemplate, runnerRedisUrlKey } from '../agent-pod.ts';
import type { OperatorConfig } from '../config.ts';
import {
  managedByLabel, managedByValue, sessionActivationAnnotation, sessionJobName, sessionNameAnnotation, sessionNameLabel, sessionPvcName,
  sessionUidLabel, specSecretNameFor, taskLabelValue,
} from '../names.ts';

/** A lost pod is replaced by the Job this many times within one activation. */
export const sessionBackoffLimit = 3;

function ownerReference(session: ClaudeSession) {
  return {
    apiVersion: `${group}/${version}`, kind: claudeSessionKind, name: session.metadata.name ?? '', uid: session.metadata.uid ?? '',
    controller: true, blockOwnerDeletion: true,
  };
}

export function sessionLabels(session: ClaudeSession): Record<string, string> {
  return {
    [managedByLabel]: managedByValue, [sessionNameLabel]: taskLabelValue(session.metadata.name ?? ''), [sessionUidLabel]: session.metadata.uid ?? '',
  };
}

function metadataFor(session: ClaudeSession, name: string, activation?: number) {
  return {
    name, namespace: session.metadata.namespace, labels: sessionLabels(session),
    annotations: {
      [sessionNameAnnotation]: session.metadata.name ?? '',
      ...(activation === undefined ? {} : { [sessionActivationAnnotation]: String(activation) }),
    },
  };
}

/** The PVC that holds the workspace and $HOME/.claude: the one the spec names, else the one the operator makes. */
export function workspacePvcName(session: ClaudeSession): string {
  return session.spec.workspace?.persistentVolumeClaim?.claimName ?? sessionPvcName(session.metadata.name ?? '');
}

/** Whether the operator makes (and deletes) the session's PVC. */
export function operatorMakesPvc(session: ClaudeSession): boolean {
  return !session.spec.workspace?.persistentVolumeClaim;
}

/** Undefined when the spec names a PVC of its own. */
export function desiredSessionPvc(session: ClaudeSession): V1PersistentVolumeClaim | undefined {
  if (!operatorMakesPvc(session)) return undefined;
  const workspace = session.spec.workspace;
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    // With retain, the garbage collector must not take it with the session.
    metadata: { ...metadataFor(session, workspacePvcName(session)), ...(workspace?.retain ? {} : { ownerReferences: [ownerReference(session)] }) },
    spec: {
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: workspace?.size ?? defaultSessionVolumeSize } },
      ...(workspace?.storageClassName ? { storageClassName: workspace.storageClassName } : {}),
    },
  };
}

/** The spec as the runner runs it: the operator's defaults filled in. */
export function effectiveSessionSpec(session: ClaudeSession, config: Pick<OperatorConfig, 'DEFAULT_MODEL'>): ClaudeSession['spec'] {
  return {
    ...session.spec,
    ...(session.spec.model === undefined && config.DEFAULT_MODEL ? { model: config.DEFAULT_MODEL } : {}),
    idleTimeoutSeconds: session.spec.idleTimeoutSeconds ?? defaultIdleTimeoutSeconds,
  };
}

export function desiredSessionSecret(session: ClaudeSession, activation: number, config: Pick<OperatorConfig, 'DEFAULT_MODEL'>,
  runnerRedisUrl?: string): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { ...metadataFor(session, specSecretNameFor(sessionJobName(session.metadata.name ?? '', activation)), activation),
      ownerReferences: [ownerReference(session)] },
    type: 'Opaque',
    stringData: {
      'spec.json': JSON.stringify(effectiveSessionSpec(session, config)),
      ...(runnerRedisUrl ? { [runnerRedisUrlKey]: runnerRedisUrl } : {}),
    },
  };
}

export function desiredSessionJob(session: ClaudeSession, activation: number, config: OperatorConfig): V1Job {
  const { spec } = session;
  const name = sessionJobName(session.metadata.name ?? '', activation);
  const metadata = metadataFor(session, name, activation);
  const template = agentPodTemplate({
    spec, config, specSecretName: specSecretNameFor(name), labels: metadata.labels, annotations: metadata.annotations,
    // The volume's root, not the workspace under it: a workingDir that does not exist yet is made by
    // the container runtime as root (0755), and the runner, not root, could then write nothing in it.
    // The runner makes the workspace itself and runs the CLI there (WORKSPACE_DIR).
    workingDir: sessionVolume.mountPath,
    env: [
      { name: podEnv.runnerMode, value: 'session' },
      { name: podEnv.sessionNamespace, value: session.metadata.namespace ?? '' },
      { name: podEnv.sessionName, value: session.metadata.name ?? '' },
      { name: podEnv.sessionUid, value: session.metadata.uid ?? '' },
      { name: podEnv.claudeSessionId, value: session.metadata.uid ?? '' },
      { name: podEnv.idleTimeoutSeconds, value: String(spec.idleTimeoutSeconds ?? defaultIdleTimeoutSeconds) },
      { name: podEnv.workspaceDir, value: sessionVolume.workspace },
      { name: podEnv.claudeHome, value: sessionVolume.home },
    ],
    // One mount, no subPath: the runner keeps the workspace and the CLI's home under it.
    volumes: [{ name: sessionVolume.name, persistentVolumeClaim: { claimName: workspacePvcName(session) } }],
    volumeMounts: [{ name: sessionVolume.name, mountPath: sessionVolume.mountPath }],
  });
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { ...metadata, ownerReferences: [ownerReference(session)] },
    spec: {
      // A lost pod is retried by the Job; no activeDeadlineSeconds: a turn may run long, and idling ends the pod.
      backoffLimit: sessionBackoffLimit,
      // Never two pods on one volume: a replacement starts only once the previous pod has fully terminated.
      podReplacementPolicy: 'Failed',
      podFailurePolicy: agentPodFailurePolicy(),
      template,
    },
  };
}
