// The chart installs the system on a real node, as a user installs it on a cluster:
// `helm install --wait` of charts/claude-operator with the images built from the
// project's Dockerfile, one per target (operator, api, runner), and the evaluation
// Postgres and Redis, pulled from the node's registry; then `kubectl apply -f
// examples/task.yaml` runs to Succeeded in a runner pod, and a task submitted through
// the API's Service has its report printed as a PDF by the api image's Chromium.
// A control plane of its own: it advertises the host's end of the node's link (pods
// reach the apiserver through the `kubernetes` Service) and runs kube-scheduler (the
// Deployments' pods have no node of their own). The model is the scripted Messages
// API, on the host's end of the link, where pods reach it.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { SignJWT } from 'jose';
import { repoRoot } from '../bed/binaries.ts';
import { startControlPlane, type ControlPlane } from '../bed/control-plane.ts';
import { podNetwork } from '../bed/real-node/config.ts';
import { controlPlaneOf, projectImages, startRealNode, type RealNode } from '../bed/real-node/real-node.ts';
import { runTool, waitFor } from '../support/cluster.ts';
import { startScriptedApi, type ScriptedApi } from '../scripted-api/server.ts';

const chart = path.join(repoRoot, 'charts/claude-operator');
const release = 'claude';
const systemNamespace = 'claude-system';
const tasksNamespace = 'tasks';
const restAnswer = 'Served through the Service, printed by Chromium.';
const run = promisify(execFile);

/** --set flags for one of the chart's image values (repository and tag) from a reference. */
function imageValues(value: string, ref: string): string[] {
  const [repository, tag] = ref.split(/:(?=[^:/]+$)/);
  // --set-string: a tag of digits alone would be a number, which the values' schema refuses.
  return ['--set', `${value}.repository=${repository}`, '--set-string', `${value}.tag=${tag}`];
}

describe('the chart on a real node', () => {
  let dir: string;
  let controlPlane: ControlPlane;
  let node: RealNode;
  let api: ScriptedApi;
  const images: Record<string, string> = {};
  let restBase = '';
  let restHeaders: Record<string, string> = {};

  const kubectl = (...args: string[]) => runTool(controlPlane.kubectl, ['--kubeconfig', controlPlane.adminKubeconfig, ...args]);
  const helm = (...args: string[]) => runTool(controlPlane.helm, ['--kubeconfig', controlPlane.adminKubeconfig, ...args]);
  const jsonOf = async <T>(...args: string[]): Promise<T> => {
    const result = await kubectl(...args, '-o', 'json');
    if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${result.stderr}`);
    return JSON.parse(result.stdout) as T;
  };

  beforeAll(async () => {
    const built = await projectImages();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'claude-operator-chart-'));
    controlPlane = await startControlPlane(path.join(dir, 'control-plane'), { advertiseAddress: podNetwork.hostIp, scheduler: true });
    node = await startRealNode({ dir: path.join(dir, 'node'), nodeName: 'chart-node', ...controlPlaneOf(controlPlane.adminKubeconfig) });
    for (const [name, image] of Object.entries(built)) images[name] = await node.pushImage(image);
    api = await startScriptedApi({ host: podNetwork.hostIp });
  }, 30 * 60_000);
  afterAll(async () => {
    await api?.close();
    await node?.stop();
    await controlPlane?.stop();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  test('helm install --wait brings up the operator (2 replicas, both Ready), the API, Postgres and Redis as pods of the images built here, each its own', async () => {
    const install = await helm('install', release, chart, '--namespace', systemNamespace, '--create-namespace', '--wait', '--timeout', '6m',
      ...imageValues('operator.image', images.operator!), ...imageValues('api.image', images.api!), ...imageValues('runner.image', images.runner!),
      '--set', 'postgres.enabled=true', '--set', `postgres.image=${images.postgres}`,
      '--set', 'redis.enabled=true', '--set', `redis.image=${images.redis}`,
      '--set', `operator.anthropicBaseUrl=${api.url}`);
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
      operator: [{ node: 'chart-node', image: images.operator }, { node: 'chart-node', image: images.operator }],
      api: [{ node: 'chart-node', image: images.api }, { node: 'chart-node', image: images.api }],
      postgres: [{ node: 'chart-node', image: images.postgres }],
      redis: [{ node: 'chart-node', image: images.redis }],
    });
    const logs = await kubectl('logs', '--namespace', systemNamespace, `deployment/${release}`);
    expect(logs.stdout).toMatch(/"msg"/);
  }, 10 * 60_000);

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
      .toEqual([{ node: 'chart-node', image: images.runner }]);
    expect(api.requests.some((request) => request.scenario === 'write-file')).toBe(true);
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
});
