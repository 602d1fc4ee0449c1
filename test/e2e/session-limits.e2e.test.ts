// ClaudePolicy maxSessionsPerUser on the whole system: sessions made with
// `kubectl --as` are stamped with their creator by the apiserver, and each
// user may have that many running at once (a session runs while it has a pod).
// One over the limit is Queued (QuotaExceeded) with the limit and its place,
// and starts when its creator's running session is suspended. Another user's
// session runs meanwhile.
import fs from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, expect, test } from '@jest/globals';
import { CustomObjectsApi, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { claudeSessionPlural, type ClaudeSession } from '../../crds/src/claude-session.ts';
import { createdByAnnotation, group, version } from '../../crds/src/claude-task.ts';
import { bedSetting, kubeConfig, waitFor } from '../support/cluster.ts';
import { useTestPolicies } from './support/policies.ts';
import { useTaskFixture } from './support/task-fixture.ts';

const fixture = useTaskFixture('session-limits');
const policies = useTestPolicies();
const custom = () => kubeConfig().makeApiClient(CustomObjectsApi);

beforeAll(async () => {
  const { ns } = fixture();
  const rbac = kubeConfig().makeApiClient(RbacAuthorizationV1Api);
  await rbac.createNamespacedRole({ namespace: ns.name, body: { metadata: { name: 'session-user' },
    rules: [{ apiGroups: [group], resources: [claudeSessionPlural], verbs: ['create', 'get', 'list'] }] } });
  for (const user of ['alice', 'bob']) {
    await rbac.createNamespacedRoleBinding({ namespace: ns.name, body: { metadata: { name: user },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'session-user' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }] } });
  }
});

async function createAs(user: string, name: string): Promise<void> {
  const { ns } = fixture();
  const file = path.join(bedSetting('BED_DIR'), `${ns.name}-${name}.json`);
  await fs.writeFile(file, JSON.stringify({ apiVersion: `${group}/${version}`, kind: 'ClaudeSession', metadata: { name }, spec: {} }));
  const created = await ns.kubectl('create', '-f', file, `--as=${user}`);
  expect({ code: created.code, stderr: created.stderr }).toEqual({ code: 0, stderr: '' });
}

const getSession = async (name: string) => await custom().getNamespacedCustomObject({
  group, version, namespace: fixture().ns.name, plural: claudeSessionPlural, name }) as ClaudeSession;

async function sessionWhen(name: string, what: string, check: (session: ClaudeSession) => boolean): Promise<ClaudeSession> {
  let last: ClaudeSession | undefined;
  await waitFor(`session ${name}: ${what}`, async () => check(last = await getSession(name)), { timeoutMs: 180_000, intervalMs: 250 })
    .catch((error: Error) => { throw new Error(`${error.message}\nlast status: ${JSON.stringify(last?.status)}`); });
  return last!;
}

test('maxSessionsPerUser 1: alice\'s second session is Queued until her first is suspended; bob\'s runs meanwhile', async () => {
  const { ns } = fixture();
  const policy = await policies.create('session-limit', ns.name, { concurrency: { maxSessionsPerUser: 1 } });

  await createAs('alice', 'alice-1');
  const first = await sessionWhen('alice-1', 'Ready', (s) => s.status?.phase === 'Ready');
  expect(first.metadata.annotations?.[createdByAnnotation]).toBe('alice');

  await createAs('alice', 'alice-2');
  const queued = await sessionWhen('alice-2', 'Queued', (s) => s.status?.phase === 'Queued');
  expect(queued.status).toMatchObject({
    reason: 'QuotaExceeded', activations: 0,
    message: `ClaudePolicy ${policy} allows 1 running sessions per user (maxSessionsPerUser), alice has 1; place 1 in the queue of namespace ${ns.name}`,
  });
  expect(queued.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'QuotaExceeded' });
  expect((await ns.kubectl('get', 'jobs', '-o', 'name')).stdout).not.toContain('alice-2');

  // Counted per user: bob's session starts while alice's waits.
  await createAs('bob', 'bob-1');
  await sessionWhen('bob-1', 'Ready', (s) => s.status?.phase === 'Ready');
  expect((await getSession('alice-2')).status?.phase).toBe('Queued');

  // Room for alice: her first session suspended, the queued one starts.
  const patched = await ns.kubectl('patch', 'claudesession', 'alice-1', '--type=merge', '-p', '{"spec":{"suspend":true}}');
  expect(patched.code).toBe(0);
  await sessionWhen('alice-1', 'Suspended', (s) => s.status?.phase === 'Suspended');
  const started = await sessionWhen('alice-2', 'Ready', (s) => s.status?.phase === 'Ready');
  expect(started.status?.activations).toBe(1);
});
