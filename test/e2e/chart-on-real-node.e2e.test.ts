// The chart installs the system on a real node, as a user installs it on a cluster:
// `helm install --wait` of charts/claude-operator with the images built from the
// project's Dockerfile (and the evaluation Postgres and Redis), pulled from the node's
// registry; then `kubectl apply -f examples/task.yaml` runs to Succeeded in a runner pod.
// A control plane of its own: it advertises the host's end of the node's link (pods
// reach the apiserver through the `kubernetes` Service) and runs kube-scheduler (the
// Deployments' pods have no node of their own). The model is the scripted Messages
// API, on the host's end of the link, where pods reach it.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
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

describe('the chart on a real node', () => {
  let dir: string;
  let controlPlane: ControlPlane;
  let node: RealNode;
  let api: ScriptedApi;
  const images: Record<string, string> = {};

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

  test('helm install --wait brings up the operator (2 replicas, both Ready), Postgres and Redis as pods of the images built here', async () => {
    const [repository, tag] = images.project!.split(/:(?=[^:]+$)/);
    const install = await helm('install', release, chart, '--namespace', systemNamespace, '--create-namespace', '--wait', '--timeout', '6m',
      '--set', `image.repository=${repository}`, '--set', `image.tag=${tag}`, '--set', `runner.image=${images.project}`,
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
      operator: [{ node: 'chart-node', image: images.project }, { node: 'chart-node', image: images.project }],
      api: [{ node: 'chart-node', image: images.project }, { node: 'chart-node', image: images.project }],
      postgres: [{ node: 'chart-node', image: images.postgres }],
      redis: [{ node: 'chart-node', image: images.redis }],
    });
    const logs = await kubectl('logs', '--namespace', systemNamespace, `deployment/${release}`);
    expect(logs.stdout).toMatch(/"msg"/);
  }, 10 * 60_000);

  test('kubectl apply -f examples/task.yaml runs to Succeeded in a runner pod of the project\'s image', async () => {
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
      .toEqual([{ node: 'chart-node', image: images.project }]);
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
    const submitted = await fetch(base, { method: 'POST', headers,
      body: JSON.stringify({ name: 'via-rest', spec: { prompt: 'hello through the Service [[scenario:answer {"text":"served"}]]' } }) });
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
});
