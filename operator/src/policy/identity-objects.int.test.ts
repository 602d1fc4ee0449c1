// The creator stamp on the bed's real apiserver: the identity objects applied
// (by the admin, as the operator applies them), then tasks created by alice
// through impersonation carry alice, whatever they asked for, and nobody can
// change it afterwards.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { AdmissionregistrationV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { installCrds } from '../../../crds/src/install.ts';
import { createTestNamespace, kubeConfig, waitFor, type TestNamespace } from '../../../test/support/cluster.ts';
import { createdByAnnotation, identityObjects } from './identity-objects.ts';

let ns: TestNamespace;
let manifests: string;

beforeAll(async () => {
  manifests = mkdtempSync(path.join(os.tmpdir(), 'identity-'));
  await installCrds(kubeConfig());
  const admission = kubeConfig().makeApiClient(AdmissionregistrationV1Api);
  const { stamp, stampBinding, guard, guardBinding } = identityObjects();
  // An operator of another test on this bed may have applied them already (the same objects): that is fine.
  await alreadyThere(admission.createMutatingAdmissionPolicy({ body: stamp }));
  await alreadyThere(admission.createMutatingAdmissionPolicyBinding({ body: stampBinding }));
  await alreadyThere(admission.createValidatingAdmissionPolicy({ body: guard }));
  await alreadyThere(admission.createValidatingAdmissionPolicyBinding({ body: guardBinding }));
  ns = await createTestNamespace('identity');
  const rbac = kubeConfig().makeApiClient(RbacAuthorizationV1Api);
  await rbac.createNamespacedRole({ namespace: ns.name, body: { metadata: { name: 'tasks' },
    rules: [{ apiGroups: ['claude-operator.io'], resources: ['claudetasks'], verbs: ['create', 'get', 'patch', 'update'] }] } });
  await rbac.createNamespacedRoleBinding({ namespace: ns.name, body: { metadata: { name: 'alice' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'tasks' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'alice' }] } });
  // The apiserver's admission sees policies through a watch: wait until a create is stamped.
  await waitFor('the stamp in force', async () => {
    const created = await create(`probe-${Date.now()}`, {}, '--dry-run=server', '-o', 'json');
    return created.code === 0 && JSON.parse(created.stdout).metadata.annotations?.[createdByAnnotation] === 'alice';
  }, { timeoutMs: 30_000 });
});
// The identity objects stay: they are cluster-wide, and the operators of tests
// running beside this one on the bed apply and count on the same ones.
afterAll(async () => {
  await ns?.delete();
  rmSync(manifests, { recursive: true, force: true });
});

async function alreadyThere(creating: Promise<unknown>): Promise<void> {
  await creating.catch((error: unknown) => {
    if ((error as { code?: number }).code !== 409) throw error;
  });
}

/** `kubectl create --as alice` of a task. */
function create(name: string, annotations: Record<string, string>, ...more: string[]) {
  const file = path.join(manifests, `${name}.json`);
  writeFileSync(file, JSON.stringify({ apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudeTask', metadata: { name, annotations }, spec: { prompt: 'p' } }));
  return ns.kubectl('create', '-f', file, '--as=alice', ...more);
}

test('kubectl --as alice: the task is stamped alice, even when the request named someone else', async () => {
  for (const [name, annotations] of [['plain', {}], ['claims-mallory', { [createdByAnnotation]: 'mallory' }]] as const) {
    const created = await create(name, annotations, '-o', 'json');
    expect(created.stderr).toBe('');
    expect(JSON.parse(created.stdout).metadata.annotations).toMatchObject({ [createdByAnnotation]: 'alice' });
  }
});

test('nobody can change or remove it afterwards, not alice, not the admin', async () => {
  await create('fixed', {});
  const change = (as: string[], patch: unknown) => ns.kubectl('patch', 'ctask', 'fixed', '--type', 'merge', '-p', JSON.stringify(patch), ...as);
  for (const as of [['--as=alice'], []]) {
    const changed = await change(as, { metadata: { annotations: { [createdByAnnotation]: 'bob' } } });
    expect(changed.stderr).toContain(`${createdByAnnotation} names who created the task; it cannot be changed or removed`);
    const removed = await change(as, { metadata: { annotations: { [createdByAnnotation]: null } } });
    expect(removed.code).not.toBe(0);
  }
  // Other changes stay allowed.
  expect((await change(['--as=alice'], { spec: { cancel: true } })).code).toBe(0);
});
