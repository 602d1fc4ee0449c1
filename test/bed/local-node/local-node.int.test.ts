// The local node on the real control plane: pods and Jobs run through it as the
// kubelet would run them, and the real job controller decides their outcome.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { createTestNamespace, waitFor, type TestNamespace } from '../../support/cluster.ts';

let ns: TestNamespace;
let hostDir: string;

beforeAll(async () => {
  ns = await createTestNamespace('local-node');
  hostDir = await fs.mkdtemp(path.join(os.tmpdir(), 'local-node-test-'));
});
afterAll(async () => {
  await ns?.delete();
  await fs.rm(hostDir, { recursive: true, force: true });
});

function shellPod(name: string, script: string, extra: Partial<V1Pod['spec']> = {}, container: Partial<V1Container> = {}): V1Pod {
  return {
    metadata: { name },
    spec: {
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 5,
      ...extra,
      containers: [{ name: 'main', image: 'busybox:1.37', command: ['sh', '-c', script], ...container }],
    },
  };
}

const terminated = (pod: V1Pod) => pod.status?.containerStatuses?.[0]?.state?.terminated;

describe('Jobs through the real job controller', () => {
  test('a Job whose pod runs a script completes, and the controller marks it Complete', async () => {
    await ns.batch.createNamespacedJob({ namespace: ns.name, body: {
      metadata: { name: 'ok' },
      spec: { backoffLimit: 0, template: { spec: { restartPolicy: 'Never', containers: [
        { name: 'main', image: 'busybox', command: ['sh', '-c', 'test "$(echo hello)" = hello'] }] } } },
    } });
    await waitFor('job ok Complete', async () => {
      const job = await ns.batch.readNamespacedJob({ name: 'ok', namespace: ns.name });
      return job.status?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True') ?? false;
    }, { timeoutMs: 45_000 });
    const pods = await ns.core.listNamespacedPod({ namespace: ns.name, labelSelector: 'job-name=ok' });
    expect(pods.items).toHaveLength(1);
    expect(pods.items[0]?.spec?.nodeName).toBe('local-node');
    expect(pods.items[0]?.status?.phase).toBe('Succeeded');
    expect(terminated(pods.items[0]!)).toMatchObject({ exitCode: 0, reason: 'Completed' });
  });

  test('a failing Job is retried backoffLimit times and then marked Failed', async () => {
    await ns.batch.createNamespacedJob({ namespace: ns.name, body: {
      metadata: { name: 'fails' },
      spec: { backoffLimit: 1, template: { spec: { restartPolicy: 'Never', containers: [
        { name: 'main', image: 'busybox', command: ['sh', '-c', 'exit 3'] }] } } },
    } });
    await waitFor('job fails Failed', async () => {
      const job = await ns.batch.readNamespacedJob({ name: 'fails', namespace: ns.name });
      return job.status?.conditions?.some((c) => c.type === 'Failed' && c.status === 'True' && c.reason === 'BackoffLimitExceeded') ?? false;
    }, { timeoutMs: 60_000 });
    const pods = await ns.core.listNamespacedPod({ namespace: ns.name, labelSelector: 'job-name=fails' });
    expect(pods.items).toHaveLength(2);
    for (const pod of pods.items) {
      expect(pod.status?.phase).toBe('Failed');
      expect(terminated(pod)).toMatchObject({ exitCode: 3, reason: 'Error' });
    }
  });
});

describe('pods', () => {
  test('env from values, Secrets, ConfigMaps and fieldRefs, and secret/configMap/emptyDir volumes at their mount paths', async () => {
    await ns.core.createNamespacedSecret({ namespace: ns.name, body: { metadata: { name: 'creds' }, stringData: { token: 's3cret', 'api-key': 'key-from-file' } } });
    await ns.core.createNamespacedConfigMap({ namespace: ns.name, body: { metadata: { name: 'settings' }, data: { mode: 'fast', 'app.conf': 'level=debug' } } });
    const script = [
      'r=$LOCAL_NODE_ROOTFS',
      'echo scratch > $r/scratch/file',
      'printf "%s|%s|%s|%s|%s|%s|%s|%s|%s|%s" "$PLAIN" "$TOKEN" "$MODE" "$POD_NAME" "$POD_NAMESPACE" "$EXPANDED"'
        + ' "$(cat $r/etc/creds/api-key)" "$(cat $r/etc/settings/app.conf)" "$(cat $r/scratch/file)" "$FROM_ENVFROM_mode" > $r/dev/termination-log',
    ].join('; ');
    await ns.core.createNamespacedPod({ namespace: ns.name, body: shellPod('env-and-volumes', script, {
      volumes: [
        { name: 'creds', secret: { secretName: 'creds' } },
        { name: 'settings', configMap: { name: 'settings' } },
        { name: 'scratch', emptyDir: {} },
      ],
    }, {
      envFrom: [{ configMapRef: { name: 'settings' }, prefix: 'FROM_ENVFROM_' }],
      env: [
        { name: 'PLAIN', value: 'plain' },
        { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'creds', key: 'token' } } },
        { name: 'MODE', valueFrom: { configMapKeyRef: { name: 'settings', key: 'mode' } } },
        { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
        { name: 'EXPANDED', value: '$(PLAIN)-$(MODE)-$$(PLAIN)' },
      ],
      volumeMounts: [
        { name: 'creds', mountPath: '/etc/creds', readOnly: true },
        { name: 'settings', mountPath: '/etc/settings' },
        { name: 'scratch', mountPath: '/scratch' },
      ],
    }) });
    const pod = await ns.podWhen('env-and-volumes', 'Succeeded', (p) => p.status?.phase === 'Succeeded');
    expect(terminated(pod)?.message).toBe(
      `plain|s3cret|fast|env-and-volumes|${ns.name}|plain-fast-$(PLAIN)|key-from-file|level=debug|scratch|fast`);
  });

  test('a missing Secret holds the container in CreateContainerConfigError, naming the Secret', async () => {
    await ns.core.createNamespacedPod({ namespace: ns.name, body: shellPod('no-secret', 'true', {}, {
      env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'absent', key: 'k' } } }],
    }) });
    const pod = await ns.podWhen('no-secret', 'CreateContainerConfigError', (p) =>
      p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CreateContainerConfigError');
    expect(pod.status?.phase).toBe('Pending');
    expect(pod.status?.containerStatuses?.[0]?.state?.waiting?.message).toContain('absent');
  });

  test('a PVC keeps its data from one pod to the next; the same name made again is a new, empty volume; a missing claim holds the pod', async () => {
    const claim = (name: string) => ({ metadata: { name }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } });
    const withClaim = (name: string, script: string, claimName = 'data') => shellPod(name, script,
      { volumes: [{ name: 'data', persistentVolumeClaim: { claimName } }] },
      { volumeMounts: [{ name: 'data', mountPath: '/data' }] });
    await ns.core.createNamespacedPersistentVolumeClaim({ namespace: ns.name, body: claim('data') });
    await ns.core.createNamespacedPod({ namespace: ns.name, body: withClaim('writer', 'echo kept > $LOCAL_NODE_ROOTFS/data/file') });
    await ns.podWhen('writer', 'Succeeded', (p) => p.status?.phase === 'Succeeded');
    await ns.core.createNamespacedPod({ namespace: ns.name,
      body: withClaim('reader', 'cat $LOCAL_NODE_ROOTFS/data/file > $LOCAL_NODE_ROOTFS/dev/termination-log') });
    const reader = await ns.podWhen('reader', 'Succeeded', (p) => p.status?.phase === 'Succeeded');
    expect(terminated(reader)?.exitCode).toBe(0);
    expect(terminated(reader)?.message?.trim()).toBe('kept');

    for (const pod of ['writer', 'reader']) await ns.core.deleteNamespacedPod({ name: pod, namespace: ns.name, gracePeriodSeconds: 0 });
    await ns.core.deleteNamespacedPersistentVolumeClaim({ name: 'data', namespace: ns.name });
    await waitFor('claim data gone', async () => (await ns.core.listNamespacedPersistentVolumeClaim({ namespace: ns.name })).items
      .every((item) => item.metadata?.name !== 'data'), { timeoutMs: 30_000 });
    await ns.core.createNamespacedPersistentVolumeClaim({ namespace: ns.name, body: claim('data') });
    await ns.core.createNamespacedPod({ namespace: ns.name, body: withClaim('fresh', 'test ! -e $LOCAL_NODE_ROOTFS/data/file') });
    await ns.podWhen('fresh', 'Succeeded', (p) => p.status?.phase === 'Succeeded');

    await ns.core.createNamespacedPod({ namespace: ns.name, body: withClaim('no-claim', 'true', 'absent-claim') });
    const held = await ns.podWhen('no-claim', 'CreateContainerConfigError', (p) =>
      p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CreateContainerConfigError');
    expect(held.status?.containerStatuses?.[0]?.state?.waiting?.message).toContain('persistentvolumeclaim "absent-claim" not found');
  });

  test('an image with no local mapping is refused like an image that cannot be pulled', async () => {
    await ns.core.createNamespacedPod({ namespace: ns.name, body: shellPod('unmapped', 'true', {}, { image: 'example.com/unknown:1' }) });
    const pod = await ns.podWhen('unmapped', 'ErrImagePull', (p) => p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'ErrImagePull');
    expect(pod.status?.phase).toBe('Pending');
  });

  test('deletion sends SIGTERM, waits for the process, and then the pod is gone', async () => {
    const dir = path.join(hostDir, 'graceful');
    await fs.mkdir(dir);
    const script = 'echo $$ > /host/pid; trap "echo terminated > /host/trap; exit 0" TERM; while true; do sleep 0.1; done'
      .replaceAll('/host', '$LOCAL_NODE_ROOTFS/host');
    await ns.core.createNamespacedPod({ namespace: ns.name, body: shellPod('graceful', script,
      { volumes: [{ name: 'host', hostPath: { path: dir } }] }, { volumeMounts: [{ name: 'host', mountPath: '/host' }] }) });
    await ns.podWhen('graceful', 'Running', (p) => p.status?.phase === 'Running');
    await waitFor('pid file', async () => (await fs.readFile(path.join(dir, 'pid'), 'utf8')).trim() !== '');
    const pid = Number((await fs.readFile(path.join(dir, 'pid'), 'utf8')).trim());
    await ns.core.deleteNamespacedPod({ name: 'graceful', namespace: ns.name, gracePeriodSeconds: 10 });
    await waitFor('pod graceful gone', async () => {
      try {
        await ns.core.readNamespacedPod({ name: 'graceful', namespace: ns.name });
        return false;
      } catch (error) {
        return (error as { code?: number }).code === 404;
      }
    }, { timeoutMs: 20_000 });
    expect(await fs.readFile(path.join(dir, 'trap'), 'utf8')).toBe('terminated\n');
    expect(() => process.kill(pid, 0)).toThrow();
  });

  test('a process that ignores SIGTERM is killed when the grace period ends', async () => {
    const dir = path.join(hostDir, 'stubborn');
    await fs.mkdir(dir);
    const script = 'echo $$ > $LOCAL_NODE_ROOTFS/host/pid; trap "" TERM; while true; do sleep 0.1; done';
    await ns.core.createNamespacedPod({ namespace: ns.name, body: shellPod('stubborn', script,
      { volumes: [{ name: 'host', hostPath: { path: dir } }] }, { volumeMounts: [{ name: 'host', mountPath: '/host' }] }) });
    await ns.podWhen('stubborn', 'Running', (p) => p.status?.phase === 'Running');
    await waitFor('pid file', async () => (await fs.readFile(path.join(dir, 'pid'), 'utf8')).trim() !== '');
    const pid = Number((await fs.readFile(path.join(dir, 'pid'), 'utf8')).trim());
    const deletedAt = Date.now();
    await ns.core.deleteNamespacedPod({ name: 'stubborn', namespace: ns.name, gracePeriodSeconds: 2 });
    await waitFor('stubborn process killed', async () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    }, { timeoutMs: 15_000 });
    // It outlived SIGTERM: only the SIGKILL at the end of the grace period ended it.
    expect(Date.now() - deletedAt).toBeGreaterThanOrEqual(1_500);
  });

  test('activeDeadlineSeconds ends a running pod as Failed with reason DeadlineExceeded', async () => {
    await ns.core.createNamespacedPod({ namespace: ns.name, body: shellPod('deadline', 'sleep 60', { activeDeadlineSeconds: 2 }) });
    const pod = await ns.podWhen('deadline', 'Failed', (p) => p.status?.phase === 'Failed', 20_000);
    expect(pod.status?.reason).toBe('DeadlineExceeded');
    expect(terminated(pod)?.exitCode).toBeGreaterThan(128);
  });

  test('restartPolicy OnFailure restarts a failed container and counts the restart', async () => {
    const dir = path.join(hostDir, 'restart');
    await fs.mkdir(dir);
    const script = 'f=$LOCAL_NODE_ROOTFS/host/tries; echo x >> $f; test $(wc -l < $f) -ge 2';
    await ns.core.createNamespacedPod({ namespace: ns.name, body: shellPod('restarts', script, {
      restartPolicy: 'OnFailure', volumes: [{ name: 'host', hostPath: { path: dir } }],
    }, { volumeMounts: [{ name: 'host', mountPath: '/host' }] }) });
    const pod = await ns.podWhen('restarts', 'Succeeded', (p) => p.status?.phase === 'Succeeded', 20_000);
    expect(pod.status?.containerStatuses?.[0]?.restartCount).toBe(1);
    expect(pod.status?.containerStatuses?.[0]?.lastState?.terminated?.exitCode).toBe(1);
  });
});
