// The control plane enforces what a real cluster enforces.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { createTestNamespace, kubectl, type TestNamespace } from '../support/cluster.ts';

let restricted: TestNamespace;

beforeAll(async () => {
  restricted = await createTestNamespace('restricted', { 'pod-security.kubernetes.io/enforce': 'restricted' });
});
afterAll(async () => {
  await restricted?.delete();
});

test('a namespace labelled enforce=restricted rejects a privileged pod, saying why', async () => {
  const create = restricted.core.createNamespacedPod({ namespace: restricted.name, body: {
    metadata: { name: 'privileged' },
    spec: { containers: [{ name: 'main', image: 'busybox', command: ['true'], securityContext: { privileged: true } }] },
  } });
  const error = await create.then(() => undefined, (e: { code?: number; body?: string }) => e);
  expect(error?.code).toBe(403);
  const status = JSON.parse(error?.body ?? '{}') as { reason?: string; message?: string };
  expect(status.reason).toBe('Forbidden');
  expect(status.message).toMatch(/violates PodSecurity "restricted:latest": privileged \(container "main" must not set securityContext.privileged=true\)/);
});

test('the same pod made restricted-compliant is admitted', async () => {
  const pod = await restricted.core.createNamespacedPod({ namespace: restricted.name, body: {
    metadata: { name: 'compliant' },
    spec: {
      securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [{ name: 'main', image: 'busybox', command: ['true'], securityContext: {
        allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }],
    },
  } });
  expect(pod.metadata?.uid).toBeTruthy();
});

test('RBAC is enforced: a ServiceAccount with no bindings may not list pods', async () => {
  const result = await kubectl('auth', 'can-i', 'list', 'pods', '--as', `system:serviceaccount:${restricted.name}:default`, '-n', restricted.name);
  expect(result.stdout.trim()).toBe('no');
  const admin = await kubectl('auth', 'can-i', 'list', 'pods', '-n', restricted.name);
  expect(admin.stdout.trim()).toBe('yes');
});
