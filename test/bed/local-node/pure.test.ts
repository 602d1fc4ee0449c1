// Table tests for the local node's pure parts: image → argv, env expansion and
// resolution, and the phase a pod's container states add up to.
import { describe, expect, test } from '@jest/globals';
import type { V1Pod } from '@kubernetes/client-node';
import { ContainerConfigError, expandReferences, podField, resolveContainerEnv } from './env.ts';
import { containerArgv, imageRepository, type ImageMapping } from './images.ts';
import { podPhase, type ContainerRecord, type PodRecord } from './pod-status.ts';

describe('images', () => {
  test.each([
    ['busybox', 'busybox'],
    ['busybox:1.37', 'busybox'],
    ['ghcr.io/claude-operator/runner:v1@sha256:abc', 'ghcr.io/claude-operator/runner'],
    ['localhost:5000/x/y', 'localhost:5000/x/y'],
    ['localhost:5000/x/y:2', 'localhost:5000/x/y'],
  ])('the repository of %s is %s', (image, repository) => {
    expect(imageRepository(image)).toBe(repository);
  });

  const table: ImageMapping[] = [
    { repository: 'busybox', entrypoint: [], cmd: ['sh'] },
    { repository: 'runner', entrypoint: ['node', 'main.ts'], cmd: ['--default'] },
  ];
  test.each([
    ['image CMD when nothing is given', { image: 'busybox' }, ['sh']],
    ['command replaces the entrypoint', { image: 'busybox', command: ['sh', '-c'], args: ['echo'] }, ['sh', '-c', 'echo']],
    ['args replace CMD and keep the entrypoint', { image: 'runner:1', args: ['--x'] }, ['node', 'main.ts', '--x']],
    ['entrypoint and CMD', { image: 'runner' }, ['node', 'main.ts', '--default']],
    ['an unmapped image', { image: 'nginx' }, undefined],
  ])('%s', (_name, container, argv) => {
    expect(containerArgv(table, container)).toEqual(argv);
  });
});

describe('env', () => {
  test.each([
    ['$(A)-$(B)', { A: 'a', B: 'b' }, 'a-b'],
    ['$(MISSING) stays', {}, '$(MISSING) stays'],
    ['$$(A) is escaped', { A: 'a' }, '$(A) is escaped'],
    ['$$ alone', {}, '$ alone'],
    ['no refs', { A: 'a' }, 'no refs'],
  ])('expand %s', (input, env, expected) => {
    expect(expandReferences(input, env)).toBe(expected);
  });

  const pod: V1Pod = {
    metadata: { name: 'p', namespace: 'ns', uid: 'u-1', labels: { app: 'x' }, annotations: { note: 'y' } },
    spec: { nodeName: 'local-node', serviceAccountName: 'sa', containers: [] },
  };
  test.each([
    ['metadata.name', 'p'], ['metadata.namespace', 'ns'], ['metadata.uid', 'u-1'], ["metadata.labels['app']", 'x'],
    ["metadata.annotations['note']", 'y'], ['spec.nodeName', 'local-node'], ['spec.serviceAccountName', 'sa'],
    ['status.podIP', '127.0.0.1'],
  ])('fieldRef %s', (fieldPath, value) => {
    expect(podField(pod, fieldPath)).toBe(value);
  });

  const sources = {
    secret: async (_ns: string, name: string) => (name === 's' ? { token: 't' } : undefined),
    configMap: async (_ns: string, name: string) => (name === 'c' ? { mode: 'm' } : undefined),
  };
  test('envFrom first, then env in order, with later variables overriding and referring to earlier ones', async () => {
    const env = await resolveContainerEnv(pod, {
      name: 'main',
      envFrom: [{ configMapRef: { name: 'c' } }],
      env: [
        { name: 'mode', value: 'overridden-$(mode)' },
        { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 's', key: 'token' } } },
        { name: 'OPTIONAL', valueFrom: { secretKeyRef: { name: 'absent', key: 'k', optional: true } } },
      ],
    }, sources, { BASE: 'b' });
    expect(env).toEqual({ BASE: 'b', mode: 'overridden-m', TOKEN: 't' });
  });
  test.each([
    ['a missing secret', { secretKeyRef: { name: 'absent', key: 'k' } }, /secret "absent" not found/],
    ['a missing key', { secretKeyRef: { name: 's', key: 'nope' } }, /couldn't find key nope in secret ns\/s/],
    ['a missing configmap', { configMapKeyRef: { name: 'absent', key: 'k' } }, /configmap "absent" not found/],
  ])('%s is a ContainerConfigError that names it', async (_name, valueFrom, message) => {
    const resolving = resolveContainerEnv(pod, { name: 'main', env: [{ name: 'X', valueFrom }] }, sources, {});
    await expect(resolving).rejects.toBeInstanceOf(ContainerConfigError);
    await expect(resolving).rejects.toThrow(message);
  });
});

describe('pod phase', () => {
  const at = new Date(0);
  const c = (run: ContainerRecord['run']): ContainerRecord => ({ name: 'c', image: 'i', run, restartCount: 0 });
  const waiting = c({ kind: 'waiting', reason: 'ContainerCreating' });
  const running = c({ kind: 'running', startedAt: at });
  const exited = (exitCode: number) => c({ kind: 'terminated', exitCode, reason: exitCode ? 'Error' : 'Completed', startedAt: at, finishedAt: at });
  const pod = (containers: ContainerRecord[], initContainers: ContainerRecord[] = [], ended?: PodRecord['ended']): PodRecord =>
    ({ containers, initContainers, ...(ended ? { ended } : {}) });
  test.each([
    ['nothing started', pod([waiting]), 'Pending'],
    ['init container still running', pod([waiting], [running]), 'Pending'],
    ['init container failed', pod([waiting], [exited(1)]), 'Failed'],
    ['one running', pod([running, waiting]), 'Running'],
    ['one exited, one running', pod([exited(0), running]), 'Running'],
    ['all exited 0', pod([exited(0), exited(0)], [exited(0)]), 'Succeeded'],
    ['one exited non-zero', pod([exited(0), exited(2)]), 'Failed'],
    ['ended by the deadline while running', pod([running], [], { reason: 'DeadlineExceeded', message: '' }), 'Failed'],
    ['ended after all succeeded', pod([exited(0)], [], { reason: 'DeadlineExceeded', message: '' }), 'Succeeded'],
  ] as const)('%s → %s', (_name, record, phase) => {
    expect(podPhase(record)).toBe(phase);
  });
});
