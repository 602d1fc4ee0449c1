import { describe, expect, test } from '@jest/globals';
import type { ClaudeSession } from '../../../crds/src/claude-session.ts';
import { podEnv, sessionVolume } from '../../../packages/contracts/src/pod-contract.ts';
import { parseOperatorConfig } from '../config.ts';
import { desiredJob } from '../desired-job.ts';
import { sessionJobName } from '../names.ts';
import { desiredSessionJob, desiredSessionPvc, desiredSessionSecret } from './desired-session.ts';

const config = parseOperatorConfig({
  REDIS_URL: 'redis://redis:6379', DATABASE_URL: 'postgres://db/x', RUNNER_REDIS_ACL_SECRET: 'k'.repeat(32), DEFAULT_MODEL: 'claude-default',
});
const uid = '0b6f3a52-9a2e-4c0e-8d55-2f3c1a9e7b10';
const session = (spec: ClaudeSession['spec'] = {}): ClaudeSession => ({
  apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudeSession',
  metadata: { name: 'chat', namespace: 'team-a', uid, generation: 1 }, spec,
});

describe('session names', () => {
  test('a Job per activation, cut to fit the job-name label', () => {
    expect(sessionJobName('chat', 3)).toBe('chat-3');
    const long = sessionJobName('a'.repeat(100), 12);
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long.endsWith('-12')).toBe(true);
  });
});

describe('desiredSessionPvc', () => {
  test.each([
    ['defaults', {}, { size: '1Gi', storageClassName: undefined, owned: true }],
    ['size and class', { workspace: { size: '5Gi', storageClassName: 'fast' } }, { size: '5Gi', storageClassName: 'fast', owned: true }],
    ['retain: not owned, so not collected with the session', { workspace: { retain: true } }, { size: '1Gi', storageClassName: undefined, owned: false }],
  ])('%s', (_name, spec, expected) => {
    const pvc = desiredSessionPvc(session(spec))!;
    expect(pvc.metadata?.name).toBe('chat-session');
    expect(pvc.spec?.accessModes).toEqual(['ReadWriteOnce']);
    expect(pvc.spec?.resources?.requests?.storage).toBe(expected.size);
    expect(pvc.spec?.storageClassName).toBe(expected.storageClassName);
    expect((pvc.metadata?.ownerReferences ?? []).length > 0).toBe(expected.owned);
  });

  test('none when the spec names a PVC of its own', () => {
    expect(desiredSessionPvc(session({ workspace: { persistentVolumeClaim: { claimName: 'mine' } } }))).toBeUndefined();
  });
});

describe('desiredSessionSecret', () => {
  test('holds the spec with the defaults filled and the runner\'s Redis URL', () => {
    const secret = desiredSessionSecret(session(), 2, config, 'redis://u:p@redis:6379');
    expect(secret.metadata?.name).toBe('chat-2-spec');
    expect(JSON.parse(secret.stringData!['spec.json']!)).toEqual({ model: 'claude-default', idleTimeoutSeconds: 300 });
    expect(secret.stringData!['redis-url']).toBe('redis://u:p@redis:6379');
  });
});

describe('desiredSessionJob', () => {
  const job = desiredSessionJob(session({ idleTimeoutSeconds: 60 }), 2, config);
  const pod = job.spec!.template.spec!;
  const env = Object.fromEntries((pod.containers[0]!.env ?? []).map((variable) => [variable.name, variable.value]));

  test('is activation n, retried on pod loss, never two pods at once, with no deadline', () => {
    expect(job.metadata?.name).toBe('chat-2');
    expect(job.spec).toMatchObject({ backoffLimit: 3, podReplacementPolicy: 'Failed' });
    expect(job.spec?.activeDeadlineSeconds).toBeUndefined();
    expect(pod.restartPolicy).toBe('Never');
  });

  test('runs the runner in session mode with the session\'s identity', () => {
    expect(env).toMatchObject({
      [podEnv.runnerMode]: 'session', [podEnv.sessionNamespace]: 'team-a', [podEnv.sessionName]: 'chat', [podEnv.sessionUid]: uid,
      [podEnv.claudeSessionId]: uid, [podEnv.idleTimeoutSeconds]: '60', [podEnv.workspaceDir]: sessionVolume.workspace,
      [podEnv.claudeHome]: sessionVolume.home, CLAUDE_TASK_SPEC_FILE: '/var/run/claude-operator/task/spec.json',
      ANTHROPIC_API_KEY_FILE: '/var/run/claude-operator/anthropic/api-key',
    });
    expect(pod.containers[0]!.env).toContainEqual({ name: 'REDIS_URL', valueFrom: { secretKeyRef: { name: 'chat-2-spec', key: 'redis-url' } } });
  });

  test('mounts the session\'s PVC once, at the session volume\'s path, with no subPath', () => {
    expect(pod.volumes).toContainEqual({ name: 'session', persistentVolumeClaim: { claimName: 'chat-session' } });
    const mounts = pod.containers[0]!.volumeMounts!.filter((mount) => mount.name === 'session');
    expect(mounts).toEqual([{ name: 'session', mountPath: sessionVolume.mountPath }]);
    // Not the workspace: the runtime would make that as root on a new volume (the runner makes it).
    expect(pod.containers[0]!.workingDir).toBe(sessionVolume.mountPath);
    const named = desiredSessionJob(session({ workspace: { persistentVolumeClaim: { claimName: 'mine' } } }), 1, config);
    expect(named.spec!.template.spec!.volumes).toContainEqual({ name: 'session', persistentVolumeClaim: { claimName: 'mine' } });
  });

  test('has the same security context as a task\'s pod', () => {
    const task = desiredJob({ apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudeTask', metadata: { name: 't', namespace: 'team-a', uid }, spec: { prompt: 'p' } }, config);
    const taskPod = task.spec!.template.spec!;
    expect(pod.securityContext).toEqual(taskPod.securityContext);
    expect(pod.containers[0]!.securityContext).toEqual(taskPod.containers[0]!.securityContext);
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(job.spec?.podFailurePolicy).toEqual(task.spec?.podFailurePolicy);
  });
});
