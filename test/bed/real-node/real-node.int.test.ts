// The real node: kubelet, containerd and runc joined to the bed's control plane,
// next to the local node the other tests use. Its pods name it in spec.nodeName,
// so the local node (which binds only pods without a node) leaves them alone.
// One file, because one real node runs on a machine at a time.
import { spawn } from 'node:child_process';
import http from 'node:http';
import os from 'node:os';
import type { AddressInfo } from 'node:net';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { bedSetting, createTestNamespace, kubeConfig, waitFor, type TestNamespace } from '../../support/cluster.ts';
import { repoRoot } from '../binaries.ts';
import { startControlPlane, type ControlPlane } from '../control-plane.ts';
import { GiveUp } from '../process.ts';
import { cgroupMounts, leftovers, mountsUnder, nodeProcesses, readRecord, type HostRecord } from './host.ts';
import { deleteNodeObjects } from './cluster-objects.ts';
import { controlPlaneOf, projectImages, startRealNode, type RealNode } from './real-node.ts';
import { fixedHostPaths, kubeletSysctls, nodeCgroupName, podNetwork } from './config.ts';

const nonRoot = { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } };
const startTimeoutMs = 240_000;
const pinnedClaudeCli = (JSON.parse(await fs.readFile(path.join(repoRoot, 'package.json'), 'utf8')) as
  { dependencies: Record<string, string> }).dependencies['@anthropic-ai/claude-code']!;

let ns: TestNamespace;

beforeAll(async () => {
  ns = await createTestNamespace('real-node');
});
afterAll(async () => {
  await ns?.delete();
});

function startNode(nodeName: string): Promise<RealNode> {
  return startRealNode({ dir: path.join(bedSetting('BED_DIR'), nodeName), nodeName, ...controlPlaneOf(bedSetting('KUBECONFIG')) });
}

function podOn(node: RealNode, name: string, command: string[], extra: Partial<V1Pod['spec']> = {}): V1Pod {
  return {
    metadata: { name },
    spec: {
      nodeName: node.nodeName,
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 1,
      securityContext: nonRoot,
      containers: [{
        name: 'main', image: node.images.busybox, command,
        securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
      }],
      ...extra,
    },
  };
}

/** The machine's settings the kubelet or the CNI bridge would change if they could. */
async function machineSysctls(): Promise<Record<string, string>> {
  const names = [...Object.keys(kubeletSysctls), 'net/ipv4/ip_forward'];
  return Object.fromEntries(await Promise.all(names.map(async (name) => [name, (await fs.readFile(`/proc/sys/${name}`, 'utf8')).trim()])));
}

/** Host mounts where the node's daemons mount things (in their own namespace). */
async function hostMountsOfTheNode(dir: string): Promise<string[]> {
  const at = await Promise.all([dir, ...fixedHostPaths, '/proc/sys', '/run/netns'].map((d) => mountsUnder(d)));
  return at.flat();
}

const terminated = (pod: V1Pod) => pod.status?.containerStatuses?.[0]?.state?.terminated;
const running = (pod: V1Pod) => pod.status?.containerStatuses?.[0]?.state?.running !== undefined;

describe('a real node', () => {
  let node: RealNode;
  let record: HostRecord;
  let sysctlsBefore: Record<string, string>;

  beforeAll(async () => {
    sysctlsBefore = await machineSysctls();
    node = await startNode('real-node');
    record = node.record;
  }, startTimeoutMs);
  afterAll(async () => {
    await node?.stop();
  });

  test('registers Ready, with its end of the link to the host as InternalIP and containerd as runtime', async () => {
    const result = await ns.kubectl('get', 'node', node.nodeName, '-o', 'json');
    expect(result.stderr).toBe('');
    const status = (JSON.parse(result.stdout) as { status: {
      conditions: Array<{ type: string; status: string }>; addresses: Array<{ type: string; address: string }>;
      nodeInfo: { containerRuntimeVersion: string; kubeletVersion: string };
    } }).status;
    expect(status.conditions.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(status.addresses).toContainEqual({ type: 'InternalIP', address: podNetwork.nodeIp });
    expect(status.nodeInfo.containerRuntimeVersion).toMatch(/^containerd:\/\/2\./);
    expect(status.nodeInfo.kubeletVersion).toMatch(/^v1\.\d+\.\d+$/);
  });

  test('kubectl run of the busybox built here (from the registry) runs as a non-root user and completes; kubectl logs shows its output', async () => {
    const overrides = { spec: { nodeName: node.nodeName, securityContext: nonRoot } };
    const run = await ns.kubectl('run', 'hello', `--image=${node.images.busybox}`, '--restart=Never',
      `--overrides=${JSON.stringify(overrides)}`, '--', 'sh', '-c', 'echo "hello from $(hostname) as uid $(id -u)"');
    expect(run.stderr).toBe('');
    const pod = await ns.podWhen('hello', 'Succeeded', (p) => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed');
    expect(pod.status?.phase).toBe('Succeeded');
    expect(pod.status?.podIP).toMatch(/^10\.244\.0\.\d+$/);
    const logs = await ns.kubectl('logs', 'hello');
    expect(logs.stdout).toBe('hello from hello as uid 1000\n');
  });

  test('pods pull the images built here from the node\'s registry, by a localhost:5000 reference', async () => {
    expect(node.images.busybox).toBe('localhost:5000/busybox:bed');
    const pod = podOn(node, 'pulled', ['echo', 'pulled and ran']);
    pod.spec!.containers[0]!.imagePullPolicy = 'Always';
    await ns.core.createNamespacedPod({ namespace: ns.name, body: pod });
    const ended = await ns.podWhen('pulled', 'ended', (p) => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed');
    expect(ended.status?.phase).toBe('Succeeded');
    expect(ended.status?.containerStatuses?.[0]?.imageID).toMatch(/^localhost:5000\/busybox@sha256:[0-9a-f]{64}$/);
    expect((await ns.kubectl('logs', 'pulled')).stdout).toBe('pulled and ran\n');
    const events = await ns.kubectl('get', 'events', '--field-selector', 'involvedObject.name=pulled', '-o', 'jsonpath={.items[*].reason}');
    expect(events.stdout.split(' ')).toContain('Pulled');
  });

  test('a pod of the runner image built from the project\'s Dockerfile runs as the image\'s own non-root user, under tini, with the pinned claude CLI', async () => {
    const image = await node.pushImage((await projectImages()).runner);
    expect(image).toMatch(/^localhost:5000\/runner:[0-9a-f]{16}$/);
    // No runAsUser: the kubelet must find the image's user non-root itself.
    const pod = podOn(node, 'project-image', [], { securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } } });
    const container = pod.spec!.containers[0]!;
    container.image = image;
    delete container.command; // the image's entry point (tini -- node) with these arguments
    container.args = ['-e', [
      'const { execFileSync } = require("node:child_process");',
      'console.log(JSON.stringify({ uid: process.getuid(), pid1: require("node:fs").readFileSync("/proc/1/comm", "utf8").trim(),',
      '  claude: execFileSync("claude", ["--version"], { encoding: "utf8" }).trim(), app: require("/app/package.json").name }));',
    ].join('\n')];
    container.env = [{ name: 'HOME', value: '/tmp' }];
    await ns.core.createNamespacedPod({ namespace: ns.name, body: pod });
    const ended = await ns.podWhen('project-image', 'ended', (p) => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed' ||
      (p.status?.containerStatuses?.[0]?.state?.waiting?.reason ?? '').endsWith('Error'), 300_000);
    const logs = (await ns.kubectl('logs', 'project-image')).stdout;
    expect({ phase: ended.status?.phase, logs }).toEqual({ phase: 'Succeeded', logs: expect.stringMatching(/^\{.*\}\n$/) });
    expect(JSON.parse(logs)).toEqual({
      uid: 65532, pid1: 'tini', claude: expect.stringContaining(pinnedClaudeCli), app: 'claude-operator',
    });
  }, 30 * 60_000);

  test('the kubelet refuses to start an image that runs as root in a pod that requires a non-root user', async () => {
    // The busybox built here has no USER: it runs as root.
    const pod = podOn(node, 'as-root', ['id', '-u'], { securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } } });
    await ns.core.createNamespacedPod({ namespace: ns.name, body: pod });
    const refused = await ns.podWhen('as-root', 'refused', (p) => p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CreateContainerConfigError');
    expect(refused.status?.containerStatuses?.[0]?.state?.waiting?.message).toMatch(/runAsNonRoot and image will run as root/);
    expect(refused.status?.phase).toBe('Pending');
  });

  test('kubectl exec runs a command in a running pod', async () => {
    await ns.core.createNamespacedPod({ namespace: ns.name, body: podOn(node, 'sleeper', ['sleep', '600']) });
    await ns.podWhen('sleeper', 'running', running);
    const exec = await ns.kubectl('exec', 'sleeper', '--', 'sh', '-c', 'echo "$((6 * 7)) from pid $$ as $(id -u)"');
    expect(exec.stderr).toBe('');
    expect(exec.stdout).toMatch(/^42 from pid \d+ as 1000\n$/);
    const failing = await ns.kubectl('exec', 'sleeper', '--', 'sh', '-c', 'exit 3');
    expect(failing.code).toBe(3);
  });

  test('a pod routes only the bed\'s own addresses and Services: no default route, so nothing leaves the machine', async () => {
    await ns.core.createNamespacedPod({ namespace: ns.name, body: podOn(node, 'routes', ['ip', 'route']) });
    await ns.podWhen('routes', 'ended', (p) => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed');
    const routes = (await ns.kubectl('logs', 'routes')).stdout.trim().split('\n').map((line) => line.split(' ').slice(0, 3).join(' '));
    expect(routes.sort()).toEqual([...podNetwork.routed.map((dst) => `${dst} via ${podNetwork.gateway}`), `${podNetwork.cidr} dev eth0`].sort());
  });

  test('the host reaches a pod, and a pod reaches a server on the host\'s end of the node\'s link', async () => {
    const host = http.createServer((_request, response) => response.end('hello from the host\n'));
    await new Promise<void>((resolve) => host.listen(0, podNetwork.hostIp, resolve));
    try {
      const { port } = host.address() as AddressInfo;
      await ns.core.createNamespacedPod({ namespace: ns.name, body: podOn(node, 'web', ['sh', '-c',
        `mkdir -p /tmp/www && wget -qO /tmp/www/index.html http://${podNetwork.hostIp}:${port}/ && exec httpd -f -p 8080 -h /tmp/www`]) });
      const pod = await ns.podWhen('web', 'running', running);
      let body = '';
      await waitFor('the pod\'s web server', async () => {
        body = await (await fetch(`http://${pod.status?.podIP}:8080/`, { signal: AbortSignal.timeout(3_000) })).text();
        return true;
      }, { timeoutMs: 15_000 });
      expect(body).toBe('hello from the host\n');
    } finally {
      host.close();
    }
  });

  test('a ClusterIP Service reaches its pod through kube-proxy, from another pod and from the host', async () => {
    const server = podOn(node, 'greeter', ['sh', '-c',
      'mkdir -p /tmp/www && echo "hello from $(hostname)" > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www']);
    server.metadata!.labels = { app: 'greeter' };
    await ns.core.createNamespacedPod({ namespace: ns.name, body: server });
    const service = await ns.core.createNamespacedService({ namespace: ns.name, body: {
      metadata: { name: 'greeter' },
      spec: { selector: { app: 'greeter' }, ports: [{ port: 80, targetPort: 8080 }] },
    } });
    const clusterIp = service.spec?.clusterIP ?? '';
    expect(clusterIp).toMatch(/^10\.0\.0\.\d+$/);
    await ns.podWhen('greeter', 'running', running);
    let fromHost = '';
    await waitFor('the Service from the host', async () => {
      fromHost = await (await fetch(`http://${clusterIp}/`, { signal: AbortSignal.timeout(3_000) })).text();
      return true;
    }, { timeoutMs: 30_000 });
    expect(fromHost).toBe('hello from greeter\n');
    await ns.core.createNamespacedPod({ namespace: ns.name, body: podOn(node, 'client', ['wget', '-qO-', `http://${clusterIp}/`]) });
    const client = await ns.podWhen('client', 'ended', (p) => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed');
    expect(client.status?.phase).toBe('Succeeded');
    expect((await ns.kubectl('logs', 'client')).stdout).toBe('hello from greeter\n');
  });

  test('CoreDNS resolves Services by name, short and full; names outside the cluster do not resolve', async () => {
    const script = [
      `wget -qO- http://greeter/`,
      `wget -qO- http://greeter.${ns.name}.svc.cluster.local/`,
      'nslookup kubernetes.default.svc.cluster.local >/dev/null && echo "kubernetes found"',
      'nslookup example.com >/dev/null 2>&1 || echo "example.com not found"',
    ].join('; ');
    await ns.core.createNamespacedPod({ namespace: ns.name, body: podOn(node, 'resolver', ['sh', '-c', script]) });
    await ns.podWhen('resolver', 'ended', (p) => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed');
    expect((await ns.kubectl('logs', 'resolver')).stdout)
      .toBe('hello from greeter\nhello from greeter\nkubernetes found\nexample.com not found\n');
  });

  test('while pods run, the machine\'s sysctls and mount table are as they were', async () => {
    await ns.podWhen('sleeper', 'running', running);
    expect(await machineSysctls()).toEqual(sysctlsBefore);
    expect(await hostMountsOfTheNode(node.paths.dir)).toEqual([]);
  });

  test('a memory limit is the container\'s cgroup limit, and allocating past it gets the container OOMKilled', async () => {
    const limited = (name: string, command: string[]) => {
      const pod = podOn(node, name, command);
      pod.spec!.containers[0]!.resources = { limits: { memory: '32Mi', cpu: '200m' } };
      return pod;
    };
    const created = await ns.core.createNamespacedPod({ namespace: ns.name, body: limited('limited', ['sleep', '600']) });
    await ns.podWhen('limited', 'running', running);
    const memory = (await cgroupMounts()).find((m) => path.basename(m) === 'memory');
    if (memory) { // cgroup v1, as on this machine's kind; v2 is checked by the OOM kill alone
      const podDir = path.join(memory, nodeCgroupName, 'kubepods', `pod${created.metadata?.uid}`);
      expect(await fs.readFile(path.join(podDir, 'memory.limit_in_bytes'), 'utf8')).toBe(`${32 * 1024 * 1024}\n`);
    }
    // dd fills a 64 MiB buffer: twice the limit.
    await ns.core.createNamespacedPod({ namespace: ns.name,
      body: limited('hog', ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=64M', 'count=1']) });
    const hog = await ns.podWhen('hog', 'ended', (p) => p.status?.phase === 'Failed' || p.status?.phase === 'Succeeded');
    expect(hog.status?.phase).toBe('Failed');
    expect(terminated(hog)?.reason).toBe('OOMKilled');
  });

  test('stop leaves nothing: no process, cgroup, network interface, route, iptables chain, mount or dir', async () => {
    await node.stop();
    expect(await leftovers(record)).toEqual([]);
    expect(await readRecord()).toBeUndefined();
    const nodes = await ns.kubectl('get', 'node', node.nodeName);
    expect(nodes.stderr).toMatch(/NotFound/);
  });
});

describe('with a control plane that advertises the host\'s end of the node\'s link and runs kube-scheduler, and storage', () => {
  let dir: string;
  let controlPlane: ControlPlane;
  let node: RealNode;
  let core: CoreV1Api;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'claude-operator-in-cluster-'));
    controlPlane = await startControlPlane(path.join(dir, 'control-plane'), { advertiseAddress: podNetwork.hostIp, scheduler: true });
    node = await startRealNode({ dir: path.join(dir, 'node'), nodeName: 'in-cluster-node', storage: true, ...controlPlaneOf(controlPlane.adminKubeconfig) });
    const config = new KubeConfig();
    config.loadFromFile(controlPlane.adminKubeconfig);
    core = config.makeApiClient(CoreV1Api);
  }, startTimeoutMs);
  afterAll(async () => {
    await node?.stop();
    await controlPlane?.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  test('a pod reaches the apiserver through the kubernetes Service with its in-cluster config', async () => {
    // The bed's kubectl (static) as the in-cluster client: it verifies the apiserver against the
    // service account's CA and authenticates with its token, as any controller in a pod does.
    const pod = podOn(node, 'in-cluster', ['/kubectl', 'get', '--raw', '/api']);
    pod.spec!.containers[0]!.volumeMounts = [{ name: 'kubectl', mountPath: '/kubectl', readOnly: true }];
    pod.spec!.volumes = [{ name: 'kubectl', hostPath: { path: controlPlane.kubectl, type: 'File' } }];
    await core.createNamespacedPod({ namespace: 'default', body: pod });
    let ended: V1Pod | undefined;
    await waitFor('pod in-cluster to end', async () => {
      ended = await core.readNamespacedPod({ name: 'in-cluster', namespace: 'default' });
      return ended.status?.phase === 'Succeeded' || ended.status?.phase === 'Failed';
    }, { timeoutMs: 60_000 });
    const logs = await core.readNamespacedPodLog({ name: 'in-cluster', namespace: 'default' });
    expect({ phase: ended?.status?.phase, logs }).toEqual({ phase: 'Succeeded', logs: expect.stringContaining('"kind":"APIVersions"') });
  });

  test('a PVC of the default StorageClass is provisioned once its pod is scheduled, keeps a file for the next pod, and goes with its claim', async () => {
    const namespace = 'default';
    await core.createNamespacedPersistentVolumeClaim({ namespace, body: {
      metadata: { name: 'notes' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } } });
    // No nodeName: the scheduler places the pod, which is what lets a WaitForFirstConsumer claim bind.
    const onClaim = (name: string, script: string): V1Pod => {
      const pod = podOn(node, name, ['sh', '-c', script]);
      delete pod.spec!.nodeName;
      pod.spec!.containers[0]!.volumeMounts = [{ name: 'notes', mountPath: '/data' }];
      pod.spec!.volumes = [{ name: 'notes', persistentVolumeClaim: { claimName: 'notes' } }];
      return pod;
    };
    const runToEnd = async (pod: V1Pod) => {
      const name = pod.metadata!.name!;
      await core.createNamespacedPod({ namespace, body: pod });
      let ended: V1Pod | undefined;
      await waitFor(`pod ${name} to end`, async () => {
        ended = await core.readNamespacedPod({ name, namespace });
        return ended.status?.phase === 'Succeeded' || ended.status?.phase === 'Failed';
      }, { timeoutMs: 120_000 }).catch((error: Error) => { throw new Error(`${error.message}: ${JSON.stringify(ended?.status)}`); });
      return { phase: ended?.status?.phase, node: ended?.spec?.nodeName, logs: await core.readNamespacedPodLog({ name, namespace }) };
    };
    expect(await runToEnd(onClaim('writer', 'echo kept on the volume > /data/note && id -u'))).toEqual({ phase: 'Succeeded', node: node.nodeName, logs: '1000\n' });
    const claim = await core.readNamespacedPersistentVolumeClaim({ name: 'notes', namespace });
    expect([claim.status?.phase, claim.spec?.storageClassName]).toEqual(['Bound', node.storage!.storageClassName]);
    const volume = await core.readPersistentVolume({ name: claim.spec!.volumeName! });
    const volumeDir = volume.spec!.hostPath!.path;
    expect(path.dirname(volumeDir)).toBe(node.storage!.volumesDir);
    expect(volume.spec?.nodeAffinity?.required?.nodeSelectorTerms?.[0]?.matchExpressions?.[0]?.values).toEqual([node.nodeName]);
    expect(await runToEnd(onClaim('reader', 'cat /data/note'))).toEqual({ phase: 'Succeeded', node: node.nodeName, logs: 'kept on the volume\n' });

    // Reclaim policy Delete: the claim gone (and no pod naming it), the volume and its directory go.
    for (const name of ['writer', 'reader']) await core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 });
    await core.deleteNamespacedPersistentVolumeClaim({ name: 'notes', namespace });
    await waitFor('the volume and its directory to go', async () => {
      const left = await core.readPersistentVolume({ name: volume.metadata!.name! }).then(() => true, () => false);
      return !left && !(await fs.stat(volumeDir).then(() => true, () => false));
    }, { timeoutMs: 120_000 });
  });
});

describe('after SIGKILL of the process that started a real node', () => {
  test('its daemons die with it, and the next start cleans up the shims, containers and the rest they left', async () => {
    const holder = spawn(path.join(repoRoot, 'node_modules/.bin/node'), [path.join(repoRoot, 'test/bed/fixtures/hold-real-node.ts')],
      { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NODE_NAME: 'killed-node' } });
    let output = '';
    holder.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    let exited = false;
    holder.on('exit', () => { exited = true; });
    let next: RealNode | undefined;
    try {
      await waitFor('the held node', async () => {
        if (exited) throw new GiveUp('hold-real-node.ts exited (its error is above)');
        return output.includes('ready');
      }, { timeoutMs: startTimeoutMs });
      const killedRecord = await readRecord();
      expect(killedRecord?.dir).toBe(/ready (\S+)/.exec(output)?.[1]);
      // The held node's registry serves the same busybox under the same name.
      const heldNode = { nodeName: 'killed-node', images: { busybox: 'localhost:5000/busybox:bed' } } as RealNode;
      const sleeper = podOn(heldNode, 'survivor', ['sleep', '600']);
      await ns.core.createNamespacedPod({ namespace: ns.name, body: sleeper });
      await ns.podWhen('survivor', 'running', running);

      holder.kill('SIGKILL');
      // pdeathsig takes containerd and the kubelet; the shim and the container outlive them, as designed.
      await waitFor('containerd and the kubelet to die', async () => {
        const left = await leftovers(killedRecord!);
        return !left.some((line) => /bin\/(containerd|kubelet)$/.test(line));
      }, { timeoutMs: 30_000 });
      const survivors = await nodeProcesses();
      expect(survivors.length).toBeGreaterThan(0);

      next = await startNode('real-node-after-kill');
      for (const pid of survivors) expect(await fs.stat(`/proc/${pid}`).then(() => 'alive', () => 'gone')).toBe('gone');
      expect(await leftovers(killedRecord!).then((left) => left.filter((line) => line.includes(killedRecord!.dir)))).toEqual([]);
      const nextRecord = next.record;
      await next.stop();
      next = undefined;
      expect(await leftovers(nextRecord)).toEqual([]);
    } finally {
      holder.kill('SIGKILL');
      await next?.stop();
      const heldDir = /ready (\S+)/.exec(output)?.[1];
      if (heldDir) await fs.rm(path.dirname(heldDir), { recursive: true, force: true });
      // The killed node could not remove its Node and RBAC binding.
      await deleteNodeObjects(kubeConfig(), 'killed-node');
    }
  }, 2 * startTimeoutMs);
});
