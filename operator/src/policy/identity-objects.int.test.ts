// The creator stamp on the bed's real apiserver: the identity objects applied
// (by the admin, as the operator applies them), then tasks and sessions created
// by alice through impersonation carry alice, whatever they asked for, and
// nobody can change it afterwards.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { AdmissionregistrationV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { installCrds } from '../../../crds/src/install.ts';
import { createTestNamespace, kubeConfig, waitFor, type TestNamespace } from '../../../test/support/cluster.ts';
import { createdByAnnotation } from './identity-objects.ts';
import { applyIdentityObjects } from './policy-controller.ts';

let ns: TestNamespace;
let manifests: string;

beforeAll(async () => {
  manifests = mkdtempSync(path.join(os.tmpdir(), 'identity-'));
  await installCrds(kubeConfig());
  // Applied as the operator applies them (server-side apply): an operator of another test on this bed may have applied them already.
  await applyIdentityObjects({ admission: kubeConfig().makeApiClient(AdmissionregistrationV1Api) });
  ns = await createTestNamespace('identity');
  const rbac = kubeConfig().makeApiClient(RbacAuthorizationV1Api);
  await rbac.createNamespacedRole({ namespace: ns.name, body: { metadata: { name: 'tasks' },
    rules: [{ apiGroups: ['claude-operator.io'], resources: ['claudetasks', 'claudesessions'], verbs: ['create', 'get', 'patch', 'update'] }] } });
  await rbac.createNamespacedRoleBinding({ namespace: ns.name, body: { metadata: { name: 'alice' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'tasks' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'alice' }] } });
  // The apiserver's admission sees policies through a watch: wait until a create is stamped.
  await waitFor('the stamp in force on both kinds', async () => {
    for (const kind of kinds) {
      const created = await create(kind, `probe-${Date.now()}`, {}, '--dry-run=server', '-o', 'json');
      if (created.code !== 0 || JSON.parse(created.stdout).metadata.annotations?.[createdByAnnotation] !== 'alice') return false;
    }
    return true;
  }, { timeoutMs: 30_000 });
});
// The identity objects stay: they are cluster-wide, and the operators of tests
// running beside this one on the bed apply and count on the same ones.
afterAll(async () => {
  await ns?.delete();
  rmSync(manifests, { recursive: true, force: true });
});

const kinds = ['ClaudeTask', 'ClaudeSession'] as const;
type Kind = (typeof kinds)[number];
const specOf: Record<Kind, object> = { ClaudeTask: { prompt: 'p' }, ClaudeSession: {} };
const resourceOf: Record<Kind, string> = { ClaudeTask: 'claudetasks.claude-operator.io', ClaudeSession: 'claudesessions.claude-operator.io' };
const changeOf: Record<Kind, object> = { ClaudeTask: { spec: { cancel: true } }, ClaudeSession: { spec: { suspend: true } } };

/** `kubectl create --as alice` of a task or a session. */
function create(kind: Kind, name: string, annotations: Record<string, string>, ...more: string[]) {
  const file = path.join(manifests, `${kind}-${name}.json`);
  writeFileSync(file, JSON.stringify({ apiVersion: 'claude-operator.io/v1alpha1', kind, metadata: { name, annotations }, spec: specOf[kind] }));
  return ns.kubectl('create', '-f', file, '--as=alice', ...more);
}

test.each(kinds)('kubectl --as alice: the %s is stamped alice, even when the request named someone else', async (kind) => {
  for (const [name, annotations] of [['plain', {}], ['claims-mallory', { [createdByAnnotation]: 'mallory' }]] as const) {
    const created = await create(kind, name, annotations, '-o', 'json');
    expect(created.stderr).toBe('');
    expect(JSON.parse(created.stdout).metadata.annotations).toMatchObject({ [createdByAnnotation]: 'alice' });
  }
});

test.each(kinds)('nobody can change or remove the %s\'s stamp afterwards, not alice, not the admin', async (kind) => {
  await create(kind, 'fixed', {});
  const change = (as: string[], patch: unknown) => ns.kubectl('patch', resourceOf[kind], 'fixed', '--type', 'merge', '-p', JSON.stringify(patch), ...as);
  for (const as of [['--as=alice'], []]) {
    const changed = await change(as, { metadata: { annotations: { [createdByAnnotation]: 'bob' } } });
    expect(changed.stderr).toContain(`${createdByAnnotation} names who created the object; it cannot be changed or removed`);
    const removed = await change(as, { metadata: { annotations: { [createdByAnnotation]: null } } });
    expect(removed.code).not.toBe(0);
  }
  // Other changes stay allowed.
  expect((await change(['--as=alice'], changeOf[kind])).code).toBe(0);
});
