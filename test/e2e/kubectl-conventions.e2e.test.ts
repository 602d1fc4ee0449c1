// What a kubectl user meets, on the test bed with the bed's own kubectl:
// `kubectl wait` on the task's conditions, field selectors, the wide printer
// columns, `kubectl explain` on every field, and the operator's default model.
import { spawn } from 'node:child_process';
import { beforeAll, describe, expect, test } from '@jest/globals';
import { terminalPhases, type ClaudeTask } from '../../crds/src/claude-task.ts';
import type { ScriptedApi } from '../scripted-api/server.ts';
import { bedSetting, type TestNamespace } from '../support/cluster.ts';
import { useTaskFixture } from './support/task-fixture.ts';
import { conditionOf as condition, kubectlGet, kubectlWaitTimeout as waitTimeout, type TaskTools } from './support/tasks.ts';

/** Not a model any of the CLI's defaults would pick, so seeing it proves the operator's default was used. */
const defaultModel = 'claude-haiku-4-5';
const requestedModel = 'claude-sonnet-4-5';

const fixture = useTaskFixture('kubectl', { operatorEnv: { DEFAULT_MODEL: defaultModel } });
let ns: TestNamespace;
let api: ScriptedApi;
let tasks: TaskTools;
beforeAll(() => {
  ({ ns, api, tasks } = fixture());
});

const getJson = <T>(...args: string[]) => kubectlGet<T>(ns, ...args);

/** A `kubectl get` table as rows of cells, cut at the header's column starts (cells may be empty). */
function parseTable(stdout: string): Array<Record<string, string>> {
  const [header = '', ...lines] = stdout.split('\n').filter((line) => line.trim() !== '');
  const starts = [...header.matchAll(/\S+/g)].map((m) => ({ name: m[0], start: m.index }));
  return lines.map((line) => Object.fromEntries(starts.map(({ name, start }, i) =>
    [name, line.slice(start, starts[i + 1]?.start ?? line.length).trim()])));
}

/** `kubectl get ctask --watch -o json`, as a user follows a task (by field selector, so it may start before the task
 * exists): every version it prints, until stopped. */
function watchTask(name: string): { seen(): ClaudeTask[]; stop(): Promise<ClaudeTask[]> } {
  const child = spawn(bedSetting('KUBECTL'), ['--kubeconfig', bedSetting('KUBECONFIG'), '--namespace', ns.name,
    'get', 'ctask', '--field-selector', `metadata.name=${name}`, '--watch', '-o', 'json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Pretty-printed objects one after another: each ends with a `}` alone on a line.
  const seen = () => stdout.split(/^\}$/m).filter((part) => part.trim() !== '')
    .map((part) => JSON.parse(`${part}}`) as ClaudeTask | { kind: 'List'; items: ClaudeTask[] })
    .flatMap((printed) => (printed.kind === 'List' ? printed.items : [printed]));
  return {
    seen,
    async stop() {
      child.kill('SIGTERM');
      await exited;
      return seen();
    },
  };
}

describe('kubectl wait on the conditions', () => {
  beforeAll(async () => {
    await tasks.applyTask('ends-ok', { prompt: 'ends-ok [[scenario:answer {"text":"all done"}]]', model: requestedModel });
    await tasks.applyTask('ends-failed', {
      prompt: 'ends-failed [[scenario:server-error]]', model: requestedModel, retries: 0,
      env: [{ name: 'CLAUDE_CODE_MAX_RETRIES', value: '0' }],
    });
  });

  test('--for=condition=Succeeded returns for a task that succeeds, --for=condition=Succeeded=False for one that fails, Finished for both', async () => {
    const succeeded = await ns.kubectl('wait', '--for=condition=Succeeded', 'ctask/ends-ok', waitTimeout);
    expect(succeeded).toMatchObject({ code: 0, stdout: expect.stringContaining('claudetask.claude-operator.io/ends-ok condition met') });
    const failed = await ns.kubectl('wait', '--for=condition=Succeeded=False', 'ctask/ends-failed', waitTimeout);
    expect(failed).toMatchObject({ code: 0, stdout: expect.stringContaining('claudetask.claude-operator.io/ends-failed condition met') });
    const finished = await ns.kubectl('wait', '--for=condition=Finished', 'ctask/ends-ok', 'ctask/ends-failed', waitTimeout);
    expect(finished.code).toBe(0);
    expect(finished.stdout.trim().split('\n')).toHaveLength(2);

    const ok = await getJson<ClaudeTask>('ctask', 'ends-ok');
    expect(ok.status?.phase).toBe('Succeeded');
    expect(condition(ok, 'Accepted')).toMatchObject({ status: 'True', reason: 'JobCreated' });
    const bad = await getJson<ClaudeTask>('ctask', 'ends-failed');
    expect(bad.status?.phase).toBe('Failed');
    // False with the reason and message of the failure, as on the task itself.
    expect(condition(bad, 'Succeeded')).toMatchObject({ status: 'False', reason: bad.status?.reason, message: bad.status?.message });
    expect(bad.status?.message).toMatch(/500|api_error|API Error/i);
  });

  test('a kubectl watcher sees Succeeded Unknown while the task is Pending or Running, and Accepted True only once it has a Job', async () => {
    const watch = watchTask('watched');
    try {
      await tasks.applyTask('watched', { prompt: 'watched [[scenario:slow {"tokens":40,"delayMs":100}]]' });
      const done = await ns.kubectl('wait', '--for=condition=Finished', 'ctask/watched', waitTimeout);
      expect(done.code).toBe(0);
      await tasks.taskWhen('watched', 'the watcher printed the final version', () =>
        watch.seen().some((task) => task.status?.phase === 'Succeeded'));
    } finally {
      const versions = await watch.stop();
      const withStatus = versions.filter((task) => task.status?.phase !== undefined);
      expect(withStatus.some((task) => task.status?.phase === 'Running')).toBe(true);
      for (const task of withStatus) {
        const phase = task.status?.phase ?? '';
        const what = { phase, jobName: task.status?.jobName, conditions: task.status?.conditions };
        expect({ ...what, succeeded: condition(task, 'Succeeded')?.status })
          .toEqual({ ...what, succeeded: phase === 'Succeeded' ? 'True' : terminalPhases.has(phase) ? 'False' : 'Unknown' });
        expect({ ...what, accepted: condition(task, 'Accepted')?.status })
          .toEqual({ ...what, accepted: task.status?.jobName ? 'True' : 'False' });
        expect({ ...what, running: condition(task, 'Running')?.status })
          .toEqual({ ...what, running: phase === 'Running' ? 'True' : 'False' });
      }
    }
  });

  test('a task cancelled before it had a Job: Accepted stays False, and kubectl wait --for=condition=Succeeded=False returns', async () => {
    await tasks.applyTask('cancelled-early', { prompt: 'never runs', cancel: true });
    const waited = await ns.kubectl('wait', '--for=condition=Succeeded=False', 'ctask/cancelled-early', waitTimeout);
    expect(waited.code).toBe(0);
    const task = await getJson<ClaudeTask>('ctask', 'cancelled-early');
    expect(task.status).toMatchObject({ phase: 'Cancelled', reason: 'Cancelled' });
    expect(task.status?.jobName).toBeUndefined();
    expect(condition(task, 'Accepted')).toMatchObject({ status: 'False', reason: 'Cancelled' });
    expect(condition(task, 'Finished')).toMatchObject({ status: 'True', reason: 'Cancelled' });
  });

  test('--field-selector status.phase=… lists only the tasks in that phase; -o wide shows Pod, Attempts and Reason', async () => {
    for (const name of ['ends-ok', 'ends-failed']) {
      expect((await ns.kubectl('wait', '--for=condition=Finished', `ctask/${name}`, waitTimeout)).code).toBe(0);
    }
    const all = (await getJson<{ items: ClaudeTask[] }>('ctask')).items;
    const named = (phase: string) => all.filter((task) => task.status?.phase === phase).map((task) => task.metadata.name).sort();
    for (const phase of ['Succeeded', 'Failed']) {
      const selected = await ns.kubectl('get', 'ctask', '--field-selector', `status.phase=${phase}`, '-o', 'jsonpath={.items[*].metadata.name}');
      expect(selected.stderr).toBe('');
      expect({ phase, names: selected.stdout.split(' ').filter(Boolean).sort() }).toEqual({ phase, names: named(phase) });
    }
    expect(named('Succeeded')).toContain('ends-ok');
    expect(named('Failed')).toContain('ends-failed');
    expect(named('Failed')).not.toContain('ends-ok');
    const notSucceeded = await ns.kubectl('get', 'ctask', '--field-selector', 'status.phase!=Succeeded', '-o', 'name');
    expect(notSucceeded.stdout).toContain('claudetask.claude-operator.io/ends-failed');
    expect(notSucceeded.stdout).not.toContain('claudetask.claude-operator.io/ends-ok');

    const wide = await ns.kubectl('get', 'ctask', 'ends-ok', 'ends-failed', '-o', 'wide');
    expect(wide.stdout).toMatch(/^NAME\s+PHASE\s+MODEL\s+TURNS\s+COST\s+AGE\s+DURATION\s+POD\s+ATTEMPTS\s+REASON\s*$/m);
    const rows = parseTable(wide.stdout);
    for (const task of all.filter((t) => ['ends-ok', 'ends-failed'].includes(t.metadata.name ?? ''))) {
      const row = rows.find((r) => r.NAME === task.metadata.name);
      const { podName, attempts, reason, model, phase } = task.status ?? {};
      expect(row).toMatchObject({ PHASE: phase, MODEL: model, POD: podName, ATTEMPTS: String(attempts), REASON: reason });
      expect([podName, reason, model].every((value) => typeof value === 'string' && value !== '')).toBe(true);
      expect(model).toBe(requestedModel);
    }
  });
});

describe("the operator's default model", () => {
  test('a task without spec.model runs with DEFAULT_MODEL: status.model and the MODEL column show it, and every model call used it', async () => {
    await tasks.applyTask('default-model', { prompt: 'default-model-probe [[scenario:answer]]' });
    expect((await ns.kubectl('wait', '--for=condition=Succeeded', 'ctask/default-model', waitTimeout)).code).toBe(0);
    const task = await getJson<ClaudeTask>('ctask', 'default-model');
    expect(task.spec.model).toBeUndefined();
    expect(task.status?.model).toBe(defaultModel);
    const [row] = parseTable((await ns.kubectl('get', 'ctask', 'default-model')).stdout);
    expect(row?.MODEL).toBe(defaultModel);

    const calls = api.requests.filter((r) => r.path.startsWith('/v1/messages') && JSON.stringify(r.body).includes('default-model-probe'));
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.map((r) => (r.body as { model?: string }).model)).toEqual(calls.map(() => defaultModel));
  });
});

describe('kubectl explain', () => {
  /** Field paths below `ctask` from `kubectl explain --recursive`. */
  async function recursiveFields(): Promise<Array<{ path: string }>> {
    const explained = await ns.kubectl('explain', 'ctask', '--recursive');
    expect(explained.code).toBe(0);
    const [, fields = ''] = explained.stdout.split(/^FIELDS:$/m);
    const stack: string[] = [];
    return fields.split('\n').flatMap((line) => {
      const match = /^( +)(\S+)\t</.exec(line);
      if (!match) return [];
      const depth = (match[1]!.length - 2) / 2;
      stack.length = depth;
      stack.push(match[2]!);
      return [{ path: stack.join('.') }];
    });
  }

  /** One `kubectl explain` page: its own description and, per field it lists, the text under it.
   * kubectl prints `<empty>` and `<no description>` where the schema has none: those count as none. */
  function parseExplain(stdout: string): { description: string; fields: Record<string, string> } {
    const [head = '', fieldsPart = ''] = stdout.split(/^FIELDS:$/m);
    const text = (lines: string) => lines.trim().replace(/^<(empty|no description)>$/, '');
    const description = text(head.split(/^DESCRIPTION:$/m)[1] ?? '');
    const fields: Record<string, string> = {};
    let current: string | undefined;
    for (const line of fieldsPart.split('\n')) {
      const header = /^ {2}(\S+)\t</.exec(line);
      if (header) fields[current = header[1]!] = '';
      else if (current !== undefined && /^ {4}\S/.test(line)) fields[current] += `${line.trim()}\n`;
    }
    return { description, fields: Object.fromEntries(Object.entries(fields).map(([name, lines]) => [name, text(lines)])) };
  }

  test('every field of the resource, spec and status at every depth, has a description', async () => {
    const all = (await recursiveFields()).map((f) => f.path);
    // The walk found the fields at depth (a parser that found nothing would find nothing undocumented).
    expect(all).toEqual(expect.arrayContaining([
      'spec.prompt', 'spec.workspace.git.url', 'spec.workspace.git.credentialsSecretRef.name', 'spec.env.valueFrom.secretKeyRef.key',
      'status.conditions.type', 'status.usage.costUSD', 'status.model', 'status.reason',
    ]));
    // The resource itself, and every node of spec and status with fields below it (metadata is ObjectMeta, not ours).
    const objects = ['', ...all.filter((path) => /^(spec|status)\b/.test(path) && all.some((child) => child.startsWith(`${path}.`)))];
    expect(objects).toEqual(expect.arrayContaining(['spec', 'status', 'spec.workspace', 'spec.workspace.git', 'status.conditions', 'status.usage']));

    const undocumented: string[] = [];
    for (const object of objects) {
      const explained = await ns.kubectl('explain', object ? `ctask.${object}` : 'ctask');
      expect({ object, code: explained.code, stderr: explained.stderr }).toEqual({ object, code: 0, stderr: '' });
      const page = parseExplain(explained.stdout);
      if (page.description === '') undocumented.push(object || '(ClaudeTask)');
      const prefix = object ? `${object}.` : '';
      const children = all.filter((path) => path.startsWith(prefix) && !path.slice(prefix.length).includes('.')).map((path) => path.slice(prefix.length));
      expect({ object, listed: Object.keys(page.fields).sort() }).toEqual({ object, listed: children.sort() });
      undocumented.push(...Object.entries(page.fields).filter(([, text]) => text === '').map(([field]) => `${prefix}${field}`));
    }
    expect([...new Set(undocumented)]).toEqual([]);
  });

  test('kubectl explain ctask.spec.workspace.git tells a user what to put there', async () => {
    const explained = await ns.kubectl('explain', 'ctask.spec.workspace.git');
    const page = parseExplain(explained.stdout);
    expect(page.description).toMatch(/clone/i);
    expect(Object.keys(page.fields).sort()).toEqual(['credentialsSecretRef', 'ref', 'url']);
    expect(page.fields.url).toMatch(/https/);
    expect(page.fields.credentialsSecretRef).toMatch(/username.*password|ssh-privatekey/);
  });
});
