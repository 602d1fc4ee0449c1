// ClaudeTaskTemplates on the bed: a task made from one runs the resolved prompt
// (the scripted API sees its exact text), records what it resolved, and keeps
// it when the template changes; a missing parameter is refused by name, by the
// REST API before the task exists and by the operator for a task kubectl made.
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, test, beforeAll, afterAll } from '@jest/globals';
import type { ClaudeTask } from '../../crds/src/claude-task.ts';
import { startTestApi, token } from '../../api/src/test-support.ts';
import type { ApiServer } from '../../api/src/server.ts';
import { bedSetting, waitFor, type TestNamespace } from '../support/cluster.ts';
import type { MessagesRequest } from '../scripted-api/messages-api.ts';
import { useTaskFixture } from './support/task-fixture.ts';
import { operatorRequests, templatePermissions } from './support/rbac-audit.ts';
import { kubectlGet } from './support/tasks.ts';

const reviewPrompt = 'Review the {{subject}} change for team {{team}}; answer in one line.';

async function applyTemplate(ns: TestNamespace, name: string, prompt: string): Promise<void> {
  const file = path.join(bedSetting('BED_DIR'), `${ns.name}-template-${name}-${Date.now()}.json`);
  await fs.writeFile(file, JSON.stringify({
    apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudeTaskTemplate', metadata: { name },
    spec: {
      description: 'Review a change', prompt, maxTurns: 3,
      parameters: [
        { name: 'subject', description: 'What to review', required: true, pattern: '[a-z][-a-z0-9]*' },
        { name: 'team', default: 'platform' },
      ],
    },
  }));
  const applied = await ns.kubectl('apply', '-f', file);
  expect({ code: applied.code, stderr: applied.stderr }).toEqual({ code: 0, stderr: '' });
}

/** The prompt texts of every first turn the scripted API was sent. */
function promptsSeen(requests: Array<{ body: unknown }>): string[] {
  return requests.flatMap((request) => {
    const first = (request.body as MessagesRequest | undefined)?.messages?.[0];
    if (!first || first.role !== 'user') return [];
    return typeof first.content === 'string' ? [first.content] : first.content.flatMap((block) => (block.type === 'text' ? [(block as { text: string }).text] : []));
  });
}

describe('templates', () => {
  const fixture = useTaskFixture('templates');
  let api: ApiServer;
  let bearer: string;

  beforeAll(async () => {
    ({ api } = await startTestApi());
    bearer = await token({ tenant: 'team-a', namespaces: [fixture().ns.name], role: 'submitter' });
  });
  afterAll(async () => {
    await api?.close();
  });

  const rest = async (method: string, url: string, body?: unknown) => {
    const response = await fetch(`${api.url}/api/v1/namespaces/${fixture().ns.name}${url}`, {
      method, headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: response.status, json: await response.json() as Record<string, unknown> };
  };

  test('a task made from a template runs the resolved prompt; editing the template afterwards changes nothing the task recorded', async () => {
    const { ns, tasks, api: scripted, db } = fixture();
    await applyTemplate(ns, 'review', reviewPrompt);
    const listed = await rest('GET', '/templates');
    expect(listed.status).toBe(200);
    expect(listed.json.items).toEqual([expect.objectContaining({ metadata: expect.objectContaining({ name: 'review' }), spec: expect.objectContaining({ prompt: reviewPrompt }) })]);

    const created = await rest('POST', '/templates/review/tasks', { name: 'reviewed', variables: { subject: 'login-page' } });
    expect(created.status).toBe(202);
    expect(created.json.spec).toEqual({ templateRef: { name: 'review' }, variables: { subject: 'login-page' } });
    const done = await tasks.taskWhen('reviewed', 'Succeeded', (task) => task.status?.phase === 'Succeeded');

    expect(promptsSeen(scripted.requests)).toContain('Review the login-page change for team platform; answer in one line.');
    expect(done.status?.template).toEqual({ name: 'review', resourceVersion: expect.any(String) });
    expect(done.status?.resolvedSpec).toEqual({ prompt: reviewPrompt, maxTurns: 3, variables: { subject: 'login-page', team: 'platform' } });
    await waitFor('the final record in Postgres', async () =>
      (await db.query('SELECT finalized_at FROM claude_tasks WHERE uid = $1', [done.metadata.uid])).rows[0]?.finalized_at != null);
    const recordedSpec = async () => (await db.query('SELECT spec FROM claude_tasks WHERE uid = $1', [done.metadata.uid])).rows[0]?.spec as unknown;
    expect(await recordedSpec()).toMatchObject({ prompt: reviewPrompt, maxTurns: 3, variables: { subject: 'login-page', team: 'platform' } });
    const before = { status: done.status, record: await recordedSpec() };

    await applyTemplate(ns, 'review', 'Something else entirely about {{subject}}.');
    const edited = await kubectlGet<{ metadata: { resourceVersion: string } }>(ns, 'claudetasktemplate', 'review');
    expect(edited.metadata.resourceVersion).not.toBe(done.status?.template?.resourceVersion);
    // A pass of the operator over the finished task (a label change wakes it) must not resolve it again.
    expect((await ns.kubectl('label', 'ctask/reviewed', 'touched=yes')).code).toBe(0);
    await tasks.taskWhen('reviewed', 'seen after the label', (task) => task.metadata.labels?.touched === 'yes');
    const after = await tasks.getTask('reviewed');
    expect({ status: { template: after.status?.template, resolvedSpec: after.status?.resolvedSpec }, record: await recordedSpec() })
      .toEqual({ status: { template: before.status?.template, resolvedSpec: before.status?.resolvedSpec }, record: before.record });
  });

  test('a missing required parameter is refused with its name: a 400 from REST, a Failed task from kubectl', async () => {
    const { ns, tasks } = fixture();
    await applyTemplate(ns, 'review-strict', reviewPrompt);
    const refused = await rest('POST', '/templates/review-strict/tasks', { name: 'not-made', variables: { team: 'web' } });
    expect(refused.status).toBe(400);
    expect(refused.json.detail).toBe('template review-strict requires parameter "subject": set it in spec.variables');
    expect((await ns.kubectl('get', 'ctask', 'not-made')).code).not.toBe(0);
    const badPattern = await rest('POST', '/templates/review-strict/tasks', { variables: { subject: 'Not Valid' } });
    expect(badPattern).toMatchObject({ status: 400, json: { detail: 'template review-strict: subject must match [a-z][-a-z0-9]*' } });
    expect((await rest('POST', '/templates/no-such/tasks', { variables: {} })).status).toBe(404);

    await tasks.applyTask('kubectl-missing', { templateRef: { name: 'review-strict' }, variables: { team: 'web' } });
    const failed = await tasks.taskWhen('kubectl-missing', 'Failed', (task) => task.status?.phase === 'Failed');
    expect(failed.status).toMatchObject({ reason: 'TemplateParameterMissing', message: 'template review-strict requires parameter "subject": set it in spec.variables' });
    await tasks.applyTask('kubectl-no-template', { templateRef: { name: 'no-such' } });
    const missing = await tasks.taskWhen('kubectl-no-template', 'Failed', (task) => task.status?.phase === 'Failed');
    expect(missing.status).toMatchObject({ reason: 'TemplateNotFound', message: expect.stringContaining('no-such') });
    // Neither prompt nor templateRef: the apiserver refuses it at apply time.
    const file = path.join(bedSetting('BED_DIR'), `${ns.name}-nothing.json`);
    await fs.writeFile(file, JSON.stringify({ apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudeTask', metadata: { name: 'nothing' }, spec: { maxTurns: 1 } }));
    const applied = await ns.kubectl('apply', '-f', file);
    expect(applied.stderr).toContain('spec.prompt is required unless spec.templateRef names a template');
    expect(((await kubectlGet<{ items: ClaudeTask[] }>(ns, 'ctask')).items).map((task) => task.metadata.name)).not.toContain('nothing');
  });

  test('the template permission the chart grants is used, and none is refused', async () => {
    const { used, refused } = await operatorRequests(fixture().operator);
    expect(refused).toEqual([]);
    expect(templatePermissions.filter((p) => !used.has(p))).toEqual([]);
  });
});
