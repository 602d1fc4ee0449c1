// The operator process (main.ts) with the chart's RBAC runs ClaudeSessions: a
// session applied with kubectl gets its PVC and Job, `kubectl wait` sees it
// Suspended after spec.suspend, and deleting it removes its PVC and the session.
// (Conversations, and the permissions only sessions use: sessions.e2e.test.ts.)
import fs from 'node:fs/promises';
import path from 'node:path';
import { expect, test } from '@jest/globals';
import { bedSetting, waitFor } from '../support/cluster.ts';
import { useTaskFixture } from './support/task-fixture.ts';
import { kubectlGet, kubectlWaitTimeout } from './support/tasks.ts';

const fixture = useTaskFixture('session-op');

test('a session gets its PVC and Job, suspends, and is deleted with its PVC', async () => {
  const { ns, operator } = fixture();
  const file = path.join(bedSetting('BED_DIR'), `${ns.name}-session.yaml`);
  await fs.writeFile(file, JSON.stringify({
    apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudeSession', metadata: { name: 'chat', namespace: ns.name }, spec: { idleTimeoutSeconds: 60 },
  }));
  expect((await ns.kubectl('apply', '-f', file)).code).toBe(0);
  await waitFor('Job chat-1', async () => (await ns.kubectl('get', 'job', 'chat-1')).code === 0, { timeoutMs: 60_000 })
    .catch(async (error: Error) => { throw new Error(`${error.message}\n${(await fs.readFile(operator.logFile, 'utf8')).split('\n').slice(-30).join('\n')}`); });
  const pvc = await kubectlGet<{ spec: { resources: { requests: { storage: string } } } }>(ns, 'pvc', 'chat-session');
  expect(pvc.spec.resources.requests.storage).toBe('1Gi');

  expect((await ns.kubectl('patch', 'claudesession/chat', '--type=merge', '-p', '{"spec":{"suspend":true}}')).code).toBe(0);
  const waited = await ns.kubectl('wait', 'claudesession/chat', '--for=condition=Suspended', kubectlWaitTimeout);
  expect(waited.stderr).toBe('');

  expect((await ns.kubectl('delete', 'claudesession/chat', '--wait=true', '--timeout=120s')).code).toBe(0);
  await waitFor('the PVC gone', async () => (await ns.kubectl('get', 'pvc', 'chat-session')).stderr.includes('NotFound'), { timeoutMs: 60_000 });
});
