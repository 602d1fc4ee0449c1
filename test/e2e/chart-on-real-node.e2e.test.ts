// The chart installs the system on a real node, as a user installs it on a cluster:
// `helm install --wait` of charts/claude-operator with the images built from the
// project's Dockerfile, one per target (operator, api, runner), and the evaluation
// Postgres and Redis, pulled from the node's registry; then `kubectl apply -f
// examples/task.yaml` runs to Succeeded in a runner pod, and a task submitted through
// the API's Service has its report printed as a PDF by the api image's Chromium.
// `helm test` passes, `helm upgrade --wait` rolls out a changed value, and then a
// PVC-backed workspace (the node's default StorageClass) keeps a file across two tasks,
// and a ClaudeSession resumes on a new pod with its files and its whole context, also
// after losing its pod mid-turn or its volume while Suspended. A task past its memory
// limit ends OOMKilled, and tasks outlive a restart of kubelet and containerd.
// The cluster, the images and the install are test/bed/chart-stack.ts's, as `up
// --real-node` makes them (the evaluation Postgres on a PVC too).
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { SignJWT } from 'jose';
import { repoRoot } from '../bed/binaries.ts';
import { chart, chartNamespace as systemNamespace, chartRelease as release, installChart, startChartBed, type ChartBed } from '../bed/chart-stack.ts';
import { waitFor } from '../support/cluster.ts';
import type { ClaudeSession } from '../../crds/src/claude-session.ts';
import { sessionRunnerPid } from './support/runner-process.ts';
import { carries, turnRequest } from './support/session-requests.ts';

const tasksNamespace = 'tasks';
const restAnswer = 'Served through the Service, printed by Chromium.';
const run = promisify(execFile);

describe('the chart on a real node', () => {
  let dir: string;
  let bed: ChartBed;
  let restBase = '';
  let restHeaders: Record<string, string> = {};

  const kubectl = (...args: string[]) => bed.kubectl(...args);
  const helm = (...args: string[]) => bed.helm(...args);
  const jsonOf = <T>(...args: string[]): Promise<T> => bed.json<T>(...args);
  type TaskStatus = { phase?: string; reason?: string; message?: string; result?: string; attempts?: number };
  /** Writes the task's manifest and `kubectl apply`s it, as a user would. */
  const applyTask = async (name: string, spec: object) => {
    const manifest = path.join(dir, `${name}.json`);
    await fs.writeFile(manifest, JSON.stringify({ apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudeTask', metadata: { name }, spec }));
    expect((await kubectl('apply', '--namespace', tasksNamespace, '-f', manifest)).stderr).toBe('');
  };
  const taskStatus = async (name: string) => (await jsonOf<{ status?: TaskStatus }>('get', 'claudetask', name, '--namespace', tasksNamespace)).status ?? {};
  /** The task's status once it is Succeeded or Failed; `explain` adds to the error when it never is. */
  const waitForTask = async (name: string, explain: () => Promise<string> = async () => '') => {
    let status: TaskStatus = {};
    await waitFor(`task ${name} to finish`, async () => {
      status = await taskStatus(name);
      return status.phase === 'Succeeded' || status.phase === 'Failed';
    }, { timeoutMs: 300_000 }).catch(async (error: Error) => { throw new Error(`${error.message}: ${JSON.stringify(status)}\n${await explain()}`); });
    return status;
  };

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'claude-operator-chart-'));
    bed = await startChartBed(dir);
  }, 30 * 60_000);
  afterAll(async () => {
    await bed?.stop();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  test('helm install --wait brings up the operator (2 replicas, both Ready), the API, Postgres and Redis as pods of the images built here, each its own', async () => {
    const install = await installChart(bed);
    const pods = await kubectl('get', 'pods', '--namespace', systemNamespace, '-o', 'wide');
    const events = install.code === 0 ? undefined : (await kubectl('get', 'events', '--namespace', systemNamespace)).stdout;
    expect({ code: install.code, stderr: install.stderr, pods: pods.stdout, events }).toMatchObject({ code: 0, stderr: '' });

    const deployment = await jsonOf<{ status: { readyReplicas?: number } }>('get', 'deployment', release, '--namespace', systemNamespace);
    expect(deployment.status.readyReplicas).toBe(2);
    const list = await jsonOf<{ items: Array<{ metadata: { labels: Record<string, string> }; spec: { nodeName: string; containers: Array<{ image: string }> } }> }>(
      'get', 'pods', '--namespace', systemNamespace);
    const byComponent = Object.fromEntries(['operator', 'api', 'postgres', 'redis'].map((component) =>
      [component, list.items.filter((pod) => pod.metadata.labels['app.kubernetes.io/component'] === component)
        .map((pod) => ({ node: pod.spec.nodeName, image: pod.spec.containers[0]!.image }))]));
    expect(byComponent).toEqual({
      operator: [{ node: 'chart-node', image: bed.images.operator }, { node: 'chart-node', image: bed.images.operator }],
      api: [{ node: 'chart-node', image: bed.images.api }, { node: 'chart-node', image: bed.images.api }],
      postgres: [{ node: 'chart-node', image: bed.images.postgres }],
      redis: [{ node: 'chart-node', image: bed.images.redis }],
    });
    const logs = await kubectl('logs', '--namespace', systemNamespace, `deployment/${release}`);
    expect(logs.stdout).toMatch(/"msg"/);
  }, 10 * 60_000);

  test('helm test passes: the API answers by its Service\'s DNS name (/readyz 200, a 401 problem document without a token)', async () => {
    const tested = await helm('test', release, '--namespace', systemNamespace, '--logs', '--timeout', '3m');
    expect({ code: tested.code, stderr: tested.stderr }).toEqual({ code: 0, stderr: '' });
    expect(tested.stdout).toMatch(/TEST SUITE:\s+claude-test-api-answers[\s\S]*Phase:\s+Succeeded/);
    expect(tested.stdout).toContain('GET /readyz: 200');
    expect(tested.stdout).toContain('without a token: 401');
  }, 5 * 60_000);

  test('kubectl apply -f examples/task.yaml runs to Succeeded in a pod of the runner image', async () => {
    await kubectl('create', 'namespace', tasksNamespace);
    const secret = await kubectl('create', 'secret', 'generic', 'anthropic-api-key', '--namespace', tasksNamespace, '--from-literal=api-key=sk-ant-test');
    expect(secret.stderr).toBe('');
    const applied = await kubectl('apply', '--namespace', tasksNamespace, '-f', path.join(repoRoot, 'examples/task.yaml'));
    expect(applied.stderr).toBe('');
    let phase: string | undefined;
    await waitFor('the task to finish', async () => {
      phase = (await jsonOf<{ status?: { phase?: string } }>('get', 'claudetask', 'hello-file', '--namespace', tasksNamespace)).status?.phase;
      return phase === 'Succeeded' || phase === 'Failed';
    }, { timeoutMs: 300_000 }).catch(async (error: Error) => {
      const pods = await kubectl('get', 'pods', '-A', '-o', 'wide');
      const operatorLogs = await kubectl('logs', '--namespace', systemNamespace, `deployment/${release}`, '--tail=40');
      throw new Error(`${error.message} (phase ${phase})\n${pods.stdout}\n${operatorLogs.stdout}`);
    });
    const pods = await jsonOf<{ items: Array<{ spec: { nodeName: string; containers: Array<{ image: string }> } }> }>(
      'get', 'pods', '--namespace', tasksNamespace);
    const runnerLogs = await kubectl('logs', '--namespace', tasksNamespace, '-l', 'claude-operator.io/task=hello-file', '--tail=20');
    expect({ phase, runnerLogs: phase === 'Succeeded' ? '' : runnerLogs.stdout }).toEqual({ phase: 'Succeeded', runnerLogs: '' });
    expect(pods.items.map((pod) => ({ node: pod.spec.nodeName, image: pod.spec.containers[0]!.image })))
      .toEqual([{ node: 'chart-node', image: bed.images.runner }]);
    expect(bed.scriptedApi.requests.some((request) => request.scenario === 'write-file')).toBe(true);
  }, 10 * 60_000);

  test('a REST client reaches the API through its Service with a token signed by the chart\'s key; the task it submits runs to Succeeded', async () => {
    const service = await jsonOf<{ spec: { clusterIP: string } }>('get', 'service', `${release}-api`, '--namespace', systemNamespace);
    const secret = await jsonOf<{ data: Record<string, string> }>('get', 'secret', `${release}-api-jwt`, '--namespace', systemNamespace);
    const key = Buffer.from(secret.data['hs256-secret']!, 'base64');
    const bearer = await new SignJWT({ tenant: 'platform', namespaces: [tasksNamespace], role: 'submitter' })
      .setProtectedHeader({ alg: 'HS256' }).setIssuer('claude-operator').setAudience('claude-operator-api').setSubject('rest-client')
      .setIssuedAt().setExpirationTime('10m').sign(key);
    // The ClusterIP, from the host: kube-proxy's rules take it to one of the API's pods.
    const base = `http://${service.spec.clusterIP}/api/v1/namespaces/${tasksNamespace}/tasks`;
    const headers = { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' };
    [restBase, restHeaders] = [base, headers];
    const submitted = await fetch(base, { method: 'POST', headers,
      body: JSON.stringify({ name: 'via-rest', spec: { prompt: `hello through the Service [[scenario:answer {"text":"${restAnswer}"}]]` } }) });
    expect({ status: submitted.status, body: submitted.status === 202 ? '' : await submitted.text() }).toEqual({ status: 202, body: '' });
    let task: { status?: { phase?: string; result?: string } } = {};
    await waitFor('the REST task to finish', async () => {
      task = await (await fetch(`${base}/via-rest`, { headers })).json() as typeof task;
      return task.status?.phase === 'Succeeded' || task.status?.phase === 'Failed';
    }, { timeoutMs: 300_000 });
    expect(task.status).toMatchObject({ phase: 'Succeeded' });
    const unauthenticated = await fetch(base, { method: 'GET' });
    expect(unauthenticated.status).toBe(401);
  }, 10 * 60_000);

  test('the API\'s pods print that task\'s report as a PDF (the api image\'s Chromium, as uid 65532 on a read-only root) that holds the prompt and the answer', async () => {
    expect(restBase).not.toBe('');
    const deployment = await jsonOf<{ spec: { template: { spec: {
      securityContext: { runAsUser?: number }; containers: Array<{ securityContext?: { readOnlyRootFilesystem?: boolean } }> } } } }>(
      'get', 'deployment', `${release}-api`, '--namespace', systemNamespace);
    expect([deployment.spec.template.spec.securityContext.runAsUser, deployment.spec.template.spec.containers[0]!.securityContext?.readOnlyRootFilesystem])
      .toEqual([65532, true]);
    // The report is read from Postgres, where the operator finalizes the run just after its phase.
    let json: { report?: { phase?: string }; answer?: string } = {};
    await waitFor('the REST task\'s report', async () => {
      const response = await fetch(`${restBase}/via-rest/report?format=json`, { headers: restHeaders });
      json = response.status === 200 ? await response.json() as typeof json : {};
      return json.report?.phase === 'Succeeded' && (json.answer ?? '').includes(restAnswer);
    }, { timeoutMs: 120_000 }).catch((error: Error) => { throw new Error(`${error.message}: ${JSON.stringify(json).slice(0, 2000)}`); });

    const response = await fetch(`${restBase}/via-rest/report?format=pdf`, { headers: restHeaders });
    const body = Buffer.from(await response.arrayBuffer());
    const apiLogs = response.status === 200 ? '' : (await kubectl('logs', '--namespace', systemNamespace, `deployment/${release}-api`, '--tail=20')).stdout;
    expect({ status: response.status, type: response.headers.get('content-type'), body: response.status === 200 ? '' : body.toString(), apiLogs })
      .toEqual({ status: 200, type: 'application/pdf', body: '', apiLogs: '' });
    expect(body.subarray(0, 5).toString('latin1')).toBe('%PDF-');
    const pdf = path.join(dir, 'via-rest.pdf');
    await fs.writeFile(pdf, body);
    const { stdout: text } = await run('pdftotext', ['-layout', pdf, '-']);
    for (const shown of [restAnswer, 'hello through the Service']) expect(text.replace(/\s+/g, ' ')).toContain(shown);
  }, 5 * 60_000);

  test('helm upgrade --wait with a changed value rolls the operator out: both new replicas Ready, with the new value', async () => {
    const before = await jsonOf<{ metadata: { generation: number } }>('get', 'deployment', release, '--namespace', systemNamespace);
    const upgraded = await helm('upgrade', release, chart, '--namespace', systemNamespace, '--reuse-values', '--wait', '--timeout', '6m',
      '--set', 'operator.logLevel=debug');
    expect({ code: upgraded.code, stderr: upgraded.stderr }).toEqual({ code: 0, stderr: '' });
    const after = await jsonOf<{ metadata: { generation: number }; status: { readyReplicas?: number; updatedReplicas?: number; observedGeneration?: number } }>(
      'get', 'deployment', release, '--namespace', systemNamespace);
    expect(after.metadata.generation).toBeGreaterThan(before.metadata.generation);
    expect(after.status).toMatchObject({ readyReplicas: 2, updatedReplicas: 2, observedGeneration: after.metadata.generation });
    const pods = await jsonOf<{ items: Array<{ metadata: { deletionTimestamp?: string }; status: { phase: string }; spec: { containers: Array<{ env?: Array<{ name: string; value?: string }> }> } }> }>(
      'get', 'pods', '--namespace', systemNamespace, '-l', 'app.kubernetes.io/component=operator');
    const running = pods.items.filter((pod) => !pod.metadata.deletionTimestamp);
    expect(running.map((pod) => pod.spec.containers[0]!.env?.find((e) => e.name === 'LOG_LEVEL')?.value)).toEqual(['debug', 'debug']);
  }, 10 * 60_000);

  test('a PVC-backed workspace keeps a file across two tasks: the claim is provisioned by the node\'s default StorageClass', async () => {
    const describeClaim = async () => (await kubectl('describe', 'pvc', 'agent-workspace', '--namespace', tasksNamespace)).stdout;
    const applied = await kubectl('apply', '--namespace', tasksNamespace, '-f', path.join(repoRoot, 'examples/pvc-workspace.yaml'));
    expect(applied.stderr).toBe('');
    expect(await waitForTask('notes-on-a-volume', describeClaim)).toMatchObject({ phase: 'Succeeded' });

    const claim = await jsonOf<{ spec: { storageClassName?: string; volumeName?: string }; status: { phase: string } }>(
      'get', 'pvc', 'agent-workspace', '--namespace', tasksNamespace);
    expect({ phase: claim.status.phase, storageClassName: claim.spec.storageClassName }).toEqual({ phase: 'Bound', storageClassName: bed.node.storage!.storageClassName });
    const volume = await jsonOf<{ spec: { hostPath?: { path: string } } }>('get', 'pv', claim.spec.volumeName!);
    // The claim is a directory under the node's dir, where the first task's runner wrote.
    expect(path.dirname(volume.spec.hostPath!.path)).toBe(bed.node.storage!.volumesDir);
    const written = await fs.readFile(path.join(volume.spec.hostPath!.path, 'notes.md'), 'utf8');
    expect(written).toBe('A note written by a ClaudeTask.\n');

    await applyTask('reads-the-volume', {
      prompt: 'Print notes.md. [[scenario:bash {"command":"cat notes.md"}]]', allowedTools: ['Bash'], maxTurns: 5,
      workspace: { persistentVolumeClaim: { claimName: 'agent-workspace' } },
    });
    const status = await waitForTask('reads-the-volume', describeClaim);
    expect(status).toMatchObject({ phase: 'Succeeded' });
    expect(status.result).toContain('A note written by a ClaudeTask.');
  }, 12 * 60_000);

  test('a ClaudeSession through the API\'s Service: its PVC (the default StorageClass) keeps the workspace across pods; the message on the next pod has the whole context', async () => {
    expect(restBase).not.toBe('');
    const sessions = restBase.replace(/\/tasks$/, '/sessions');
    const post = async (path: string, body: object) => {
      const response = await fetch(`${sessions}${path}`, { method: 'POST', headers: restHeaders, body: JSON.stringify(body) });
      return { status: response.status, json: await response.json() as Record<string, unknown> };
    };
    const created = await post('', { name: 'on-volume', spec: { idleTimeoutSeconds: 10, permissionMode: 'acceptEdits', allowedTools: ['Write', 'Bash'] } });
    expect(created.status).toBe(202);
    const first = await post('/on-volume/messages',
      { text: 'first, alpha: keep a note [[scenario:write-file {"path":"session-note.md","content":"kept by the session\\n"}]]' });
    // As uid 65532, on a volume it has never seen: the runner makes the workspace, and the CLI writes in it.
    expect(first).toMatchObject({ status: 200, json: { state: 'answered', result: 'Wrote session-note.md.' } });

    let session: ClaudeSession | undefined;
    await waitFor('the session to idle out (Suspended)', async () => {
      session = await jsonOf<ClaudeSession>('get', 'claudesession', 'on-volume', '--namespace', tasksNamespace);
      return session.status?.phase === 'Suspended';
    }, { timeoutMs: 180_000 }).catch((error: Error) => { throw new Error(`${error.message}: ${JSON.stringify(session?.status)}`); });

    const second = await post('/on-volume/messages', { text: 'second, bravo: print the note [[scenario:bash {"command":"cat session-note.md"}]]' });
    expect(second).toMatchObject({ status: 200, json: { state: 'answered', result: expect.stringContaining('kept by the session') } });
    session = await jsonOf<ClaudeSession>('get', 'claudesession', 'on-volume', '--namespace', tasksNamespace);
    expect(session.status?.activations).toBe(2);
    const claim = await jsonOf<{ spec: { storageClassName?: string }; status: { phase: string } }>(
      'get', 'pvc', session.status!.workspacePVC!, '--namespace', tasksNamespace);
    expect([claim.status.phase, claim.spec.storageClassName]).toEqual(['Bound', bed.node.storage!.storageClassName]);
    carries(turnRequest(bed.scriptedApi.requests, session, 'second, bravo'), 'first, alpha', first.json.result as string);
  }, 10 * 60_000);

  describe('a session that loses its pod mid-turn, or its volume while Suspended, on the real node', () => {
    const sessionsBase = () => restBase.replace(/\/tasks$/, '/sessions');
    const call = async (method: string, path: string, body?: object, headers: Record<string, string> = {}) => {
      const response = await fetch(`${sessionsBase()}${path}`, { method, headers: { ...restHeaders, ...headers }, body: body && JSON.stringify(body) });
      return { status: response.status, json: await response.json() as Record<string, unknown> };
    };
    const slowTurn = (text: string) => `${text} [[scenario:slow {"tokens":60,"delayMs":200}]]`;
    const sessionOf = (name: string) => jsonOf<ClaudeSession>('get', 'claudesession', name, '--namespace', tasksNamespace);
    const busyWith = async (name: string, messageId: string) => {
      let session: ClaudeSession | undefined;
      await waitFor(`session ${name} Busy with ${messageId} on a running pod`, async () => {
        session = await sessionOf(name);
        if (session.status?.phase !== 'Busy' || session.status.activeTurn !== messageId || !session.status.podName) return false;
        const pod = await jsonOf<{ status: { phase: string } }>('get', 'pod', session.status.podName, '--namespace', tasksNamespace);
        return pod.status.phase === 'Running';
      }, { timeoutMs: 180_000, intervalMs: 250 }).catch((error: Error) => { throw new Error(`${error.message}: ${JSON.stringify(session?.status)}`); });
      return session!;
    };
    /** The conversation as the API returns it from Postgres: the answers to one message. */
    const answersTo = async (name: string, messageId: string) => {
      const listed = await call('GET', `/${name}/messages?limit=100`);
      return (listed.json.items as Array<{ messageId: string; state: string }>).filter((m) => m.messageId === messageId);
    };
    const started = async (name: string, fact: string, idleTimeoutSeconds = 120) => {
      expect((await call('POST', '', { name, spec: { idleTimeoutSeconds } })).status).toBe(202);
      expect(await call('POST', `/${name}/messages`, { text: fact })).toMatchObject({ status: 200, json: { state: 'answered' } });
      return sessionOf(name);
    };

    test('kubectl delete pod --grace-period=0 --force: the message is answered exactly once, its Idempotency-Key retry gets that answer, and the context holds', async () => {
      expect(restBase).not.toBe('');
      const session = await started('lost-pod', 'the harbour is Valletta');
      const key = { 'idempotency-key': 'lost-pod-slow-1' };
      const accepted = await call('POST', '/lost-pod/messages?async=true', { text: slowTurn('describe the harbour at length') }, key);
      expect(accepted.status).toBe(202);
      const slow = accepted.json.messageId as string;
      const busy = await busyWith('lost-pod', slow);
      const deleted = await kubectl('delete', 'pod', busy.status!.podName!, '--namespace', tasksNamespace, '--grace-period=0', '--force');
      expect(deleted.code).toBe(0);
      // The caller's retry (its first POST may have been cut off with the pod): the same id, and it waits for the answer.
      const retried = await call('POST', '/lost-pod/messages', { text: slowTurn('describe the harbour at length') }, key);
      expect(retried).toMatchObject({ status: 200, json: { messageId: slow, state: 'answered', result: expect.any(String) } });
      expect(await answersTo('lost-pod', slow)).toHaveLength(1);
      const after = await sessionOf('lost-pod');
      expect(after.status?.podName).not.toBe(busy.status!.podName);
      const next = await call('POST', '/lost-pod/messages', { text: 'which harbour did I name' });
      expect(next).toMatchObject({ status: 200, json: { state: 'answered' } });
      carries(turnRequest(bed.scriptedApi.requests, session, 'which harbour did I name'), 'the harbour is Valletta');
    }, 10 * 60_000);

    test('the runner process SIGKILLed in its container: the Job\'s next pod answers the message exactly once, with the context', async () => {
      expect(restBase).not.toBe('');
      const session = await started('killed-runner', 'the mountain is Etna');
      const accepted = await call('POST', '/killed-runner/messages?async=true', { text: slowTurn('tell me about the mountain') });
      const slow = accepted.json.messageId as string;
      const busy = await busyWith('killed-runner', slow);
      // From the node, as its admin would: the runner is PID 2 in the container, under tini, which then exits with it.
      process.kill(await sessionRunnerPid(tasksNamespace, 'killed-runner'), 'SIGKILL');
      let message: Record<string, unknown> = {};
      await waitFor(`message ${slow} to end`, async () => {
        message = (await call('GET', `/killed-runner/messages/${slow}`)).json;
        return message.state !== 'accepted';
      }, { timeoutMs: 240_000, intervalMs: 500 });
      expect(message).toMatchObject({ state: 'answered', result: expect.any(String) });
      expect(await answersTo('killed-runner', slow)).toHaveLength(1);
      const pods = await jsonOf<{ items: Array<{ metadata: { name: string } }> }>('get', 'pods', '--namespace', tasksNamespace,
        '-l', `job-name=${busy.status!.podName!.replace(/-[a-z0-9]{5}$/, '')}`);
      expect(pods.items.length).toBeGreaterThanOrEqual(2); // the killed pod and the Job's next one
      const next = await call('POST', '/killed-runner/messages', { text: 'which mountain did I name' });
      expect(next).toMatchObject({ status: 200, json: { state: 'answered' } });
      carries(turnRequest(bed.scriptedApi.requests, session, 'which mountain did I name'), 'the mountain is Etna');
    }, 10 * 60_000);
    test('its PVC deleted while Suspended (the provisioner removes the directory): the next message has the whole context, from the transcript in Postgres', async () => {
      expect(restBase).not.toBe('');
      const session = await started('lost-volume', 'the river is the Danube', 10);
      let suspended: ClaudeSession | undefined;
      await waitFor('the session to idle out (Suspended)', async () => (suspended = await sessionOf('lost-volume')).status?.phase === 'Suspended',
        { timeoutMs: 180_000 }).catch((error: Error) => { throw new Error(`${error.message}: ${JSON.stringify(suspended?.status)}`); });
      const claimName = suspended!.status!.workspacePVC!;
      type Claim = { metadata: { uid: string }; spec: { volumeName: string } };
      const lost = await jsonOf<Claim>('get', 'pvc', claimName, '--namespace', tasksNamespace);
      const volume = await jsonOf<{ spec: { hostPath?: { path: string } } }>('get', 'pv', lost.spec.volumeName);
      const directory = volume.spec.hostPath!.path;
      await fs.access(directory);
      expect((await kubectl('delete', 'pvc', claimName, '--namespace', tasksNamespace, '--wait=true')).code).toBe(0);
      // The reclaim policy is Delete: the provisioner's helper pod removes the directory with the CLI's ~/.claude in it.
      await waitFor(`${directory} removed`, async () => fs.access(directory).then(() => false, () => true), { timeoutMs: 180_000 });

      const next = await call('POST', '/lost-volume/messages', { text: 'which river did I name' });
      expect(next).toMatchObject({ status: 200, json: { state: 'answered' } });
      carries(turnRequest(bed.scriptedApi.requests, session, 'which river did I name'), 'the river is the Danube');
      // On a claim of the operator's making again, not the one that went.
      const resumed = await sessionOf('lost-volume');
      const claim = await jsonOf<Claim>('get', 'pvc', resumed.status!.workspacePVC!, '--namespace', tasksNamespace);
      expect(claim.metadata.uid).not.toBe(lost.metadata.uid);
    }, 10 * 60_000);
  });

  test('a Bash tool that allocates past the memory limit gets the container OOMKilled, and the task ends Failed with reason OOMKilled', async () => {
    // dd fills a 2 GiB buffer in a container limited to 1 GiB: the OOM killer takes dd, the biggest process there.
    await applyTask('memory-hog', {
      prompt: 'Fill the memory. [[scenario:bash {"command":"dd if=/dev/zero of=/dev/null bs=2G count=1"}]]', allowedTools: ['Bash'], maxTurns: 5,
      resources: { limits: { memory: '1Gi' } },
    });
    const status = await waitForTask('memory-hog');
    expect(status).toMatchObject({ phase: 'Failed', reason: 'OOMKilled', attempts: 1 });
    expect(status.message).toMatch(/^The container went past its memory limit \(1Gi\): the kernel's OOM killer took a process in it/);
    // What the kubelet saw: the runtime's OOM event for the container's cgroup, and the runner's exit code for it.
    const pods = await jsonOf<{ items: Array<{ status: { containerStatuses?: Array<{ state: { terminated?: { reason?: string; exitCode?: number } } }> } }> }>(
      'get', 'pods', '--namespace', tasksNamespace, '-l', 'claude-operator.io/task=memory-hog');
    expect(pods.items.map((pod) => pod.status.containerStatuses?.[0]?.state.terminated)).toEqual([expect.objectContaining({ reason: 'OOMKilled', exitCode: 6 })]);
  }, 10 * 60_000);

  test('kubelet and containerd restart while tasks run: each task still ends by the Job\'s rules, none stays Running', async () => {
    const names = ['through-restart-1', 'through-restart-2'];
    // About 60 s of streaming each: the restart falls in the middle of it.
    for (const name of names) await applyTask(name, { prompt: 'Take your time. [[scenario:slow {"tokens":300,"delayMs":200}]]' });
    const phases = () => Promise.all(names.map(taskStatus));
    await waitFor('both tasks Running', async () => (await phases()).every((status) => status.phase === 'Running'), { timeoutMs: 180_000 });

    await bed.node.restartRuntime();
    const nodes = await kubectl('get', 'nodes', bed.node.nodeName, '--no-headers');
    expect(nodes.stdout).toMatch(/\sReady\s/);
    // The restart came while they ran: they have not ended yet.
    expect((await phases()).map((status) => status.phase)).toEqual(['Running', 'Running']);

    let statuses: TaskStatus[] = [];
    await waitFor('both tasks to end', async () => {
      statuses = await phases();
      return statuses.every((status) => status.phase === 'Succeeded' || status.phase === 'Failed');
    }, { timeoutMs: 300_000 }).catch((error: Error) => { throw new Error(`${error.message}: ${JSON.stringify(statuses)}`); });
    // Succeeded (the containers outlived the restart), or Failed with the reason the Job's rules gave.
    for (const status of statuses) expect(status.phase === 'Succeeded' || (status.reason ?? '') !== '').toBe(true);
    const logs = await kubectl('logs', '--namespace', tasksNamespace, '-l', `claude-operator.io/task=${names[0]}`, '--tail=5');
    expect(logs.stdout).toMatch(/"msg"/);
  }, 10 * 60_000);
});
