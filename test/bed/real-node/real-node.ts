// A real Kubernetes node on this machine: containerd (CRI, runc, CNI bridge), an
// OCI registry, the kubelet, kube-proxy and CoreDNS, joined to a bed control plane.
// The daemons run in mount and network namespaces of their own (nothing they mount
// reaches the machine's; their bridge, iptables chains and forwarding live and die
// with the node, which reaches the host only over a veth pair), in a cgroup of
// their own (so every process of the node, shims and containers included, can be
// found and killed), and with pdeathsig, like everything the bed starts. stop()
// and the next start after a crash undo the rest (host.ts).
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { runBuildScript } from '../binaries.ts';
import { serviceClusterIpRange } from '../control-plane.ts';
import { caKeyFileFor } from '../pki.ts';
import { startSupervised, type Supervised } from '../process.ts';
import { daemonReady } from './daemon-ready.ts';
import { startTcpProxy, type TcpProxy } from '../../support/tcp-proxy.ts';
import { clusterDns, fixedHostPaths, kubeProxyHealthzPort, nodePaths, podNetwork, registry, type NodePaths } from './config.ts';
import { corednsUser, createNodeObjects, deleteNodeObjects } from './cluster-objects.ts';
import { deleteStorageObjects, startLocalPathStorage, storageClassName } from './storage.ts';
import { namespaceScript, writeClientKubeconfig, writeNodeFiles } from './node-files.ts';
import {
  cleanUpHost, daemonsCgroup, lockHost, makeCgroupRoot, pathExists, readRecord, writeRecord, type HostRecord,
} from './host.ts';

const run = promisify(execFile);

export interface RealNodeOptions {
  /** Created; removed by stop(). */
  dir: string;
  nodeName: string;
  /** The control plane to join. */
  server: string;
  caCertFile: string;
  caKeyFile: string;
  /** Cluster-admin: makes the node's RBAC bindings and kube-dns (cluster-objects.ts), removes them and the Node at stop. */
  adminKubeconfig: string;
  /** PVCs: a default StorageClass `standard` and local-path-provisioner (storage.ts). Claims bind
   * once a scheduler has placed their pod, so this wants a control plane with kube-scheduler. */
  storage?: boolean;
}

export interface RealNode {
  nodeName: string;
  nodeIp: string;
  /** Images pods can pull from the node's registry: the busybox built here. */
  images: { busybox: string };
  /** Pushes an image built here (an OCI archive and the reference it carries) to the node's
   * registry; returns the reference pods pull it by. */
  pushImage(image: BuiltImage): Promise<string>;
  paths: NodePaths;
  /** What the node makes outside its dir, for checks that stop() undid it. */
  record: HostRecord;
  /** The default StorageClass, when started with `storage`; claims' directories are under volumesDir. */
  storage?: { storageClassName: string; volumesDir: string };
  /** ctr against the node's containerd (namespace k8s.io). */
  ctr(...args: string[]): Promise<string>;
  /** What `systemctl restart kubelet containerd` does on a node: both stop (SIGTERM) and start again
   * with the same flags; containers keep running under their shims. Resolves once the node is Ready. */
  restartRuntime(): Promise<void>;
  stop(): Promise<void>;
}

/** Joins the control plane an admin kubeconfig of the bed names (its CA key sits beside its CA). */
export function controlPlaneOf(adminKubeconfig: string): Pick<RealNodeOptions, 'server' | 'caCertFile' | 'caKeyFile' | 'adminKubeconfig'> {
  const config = new KubeConfig();
  config.loadFromFile(adminKubeconfig);
  const cluster = config.getCurrentCluster();
  if (!cluster?.caFile) throw new Error(`${adminKubeconfig} names no cluster with a CA file`);
  return { server: cluster.server, caCertFile: cluster.caFile, caKeyFile: caKeyFileFor(cluster.caFile), adminKubeconfig };
}

/** An image a build script of test/cluster made: an OCI archive and the reference it carries. */
export interface BuiltImage { archive: string; ref: string }

async function builtImage(dir: string, name: string): Promise<BuiltImage> {
  return { archive: path.join(dir, `${name}.tar`), ref: (await fs.readFile(path.join(dir, `${name}.ref`), 'utf8')).trim() };
}

async function nodeImages(): Promise<Record<'pause' | 'busybox', BuiltImage>> {
  const dir = await runBuildScript('build-node-images.sh');
  return { pause: await builtImage(dir, 'pause'), busybox: await builtImage(dir, 'busybox') };
}

/** The project's images, one per target of its Dockerfile, and the chart's evaluation
 * datastores (test/cluster/build-images.sh; minutes when an input changed, else cached). */
export type ProjectImage = 'operator' | 'api' | 'runner' | 'postgres' | 'redis';
export async function projectImages(): Promise<Record<ProjectImage, BuiltImage>> {
  const dir = await runBuildScript('build-images.sh');
  const names: ProjectImage[] = ['operator', 'api', 'runner', 'postgres', 'redis'];
  return Object.fromEntries(await Promise.all(names.map(async (name) => [name, await builtImage(dir, name)]))) as Record<ProjectImage, BuiltImage>;
}

export async function startRealNode(options: RealNodeOptions): Promise<RealNode> {
  // build-node.sh also makes sure the control plane is built, so these run one after the other.
  const binDir = await runBuildScript('build-node.sh');
  const images = await nodeImages();
  const bin = (name: string) => path.join(binDir, name);
  const paths = nodePaths(options.dir);
  await fs.mkdir(paths.logsDir, { recursive: true });
  const lock = await lockHost(path.join(paths.logsDir, 'lock.log'));
  const started: Supervised[] = [];
  let apiserverRelay: TcpProxy | undefined;
  let record: HostRecord | undefined;
  const admin = new KubeConfig();
  admin.loadFromFile(options.adminKubeconfig);

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      try {
        // Last started first: the kubelet goes before containerd, so it restarts nothing.
        for (const daemon of started.reverse()) await daemon.stop(5_000);
        await apiserverRelay?.close();
        await cleanUpHost(record);
      } finally {
        // Whatever failed above, the lock goes (the next start cleans up after this one), and
        // no child is left to keep this process alive.
        await deleteNodeObjects(admin, options.nodeName).catch(() => undefined);
        if (options.storage) await deleteStorageObjects(admin).catch(() => undefined);
        await lock.stop();
      }
    })();
    return stopping;
  };

  try {
    // A node whose starter was killed left shims, containers, cgroups, chains and its dir.
    await cleanUpHost(await readRecord());
    const missing = [];
    for (const hostPath of fixedHostPaths) if (!await pathExists(hostPath)) missing.push(hostPath);
    record = { dir: options.dir, createdHostPaths: missing };
    await writeRecord(record);
    for (const hostPath of missing) await fs.mkdir(hostPath, { recursive: true });

    await writeNodeFiles(paths, bin('runc'), options);
    await makeCgroupRoot();
    const procs = path.join(await daemonsCgroup(), 'cgroup.procs');

    const holder = startSupervised({
      name: 'real-node namespaces',
      command: 'unshare',
      args: ['--mount', '--net', '--propagation', 'private', '--', 'sh', '-c', namespaceScript(paths, procs)],
      logFile: path.join(paths.logsDir, 'namespace.log'),
    });
    started.push(holder);
    await daemonReady(holder, 'the node\'s namespaces',
      async () => (await fs.readFile(path.join(paths.logsDir, 'namespace.log'), 'utf8')).includes('ready'), 10_000);
    await makeLink(holder.pid);
    // The kubelet, kube-proxy and CoreDNS reach the apiserver (on the host's loopback) at the
    // host's end of the link, on the apiserver's own port: a control plane that advertises that
    // address (ControlPlaneOptions.advertiseAddress) is so reachable from pods too, through the
    // `kubernetes` Service.
    const apiserver = new URL(options.server);
    const apiserverPort = Number(apiserver.port);
    apiserverRelay = await startTcpProxy({ host: apiserver.hostname, port: apiserverPort }, podNetwork.hostIp, apiserverPort);
    const relayed = `https://${podNetwork.hostIp}:${apiserverRelay.port}`;
    await writeClientKubeconfig(options, relayed,
      { kubeconfig: paths.kubeletKubeconfig, user: `system:node:${options.nodeName}`, groups: ['system:nodes'] });
    // The bootstrap policy binds system:node-proxier to this user.
    await writeClientKubeconfig(options, relayed, { kubeconfig: paths.kubeProxyKubeconfig, user: 'system:kube-proxy', groups: [] });
    await writeClientKubeconfig(options, relayed, { kubeconfig: paths.corednsKubeconfig, user: corednsUser, groups: [] });

    // Each daemon joins the node's cgroup, then the namespace, then becomes itself.
    const specs = new Map<string, { command: string; args: string[]; env?: NodeJS.ProcessEnv }>();
    const inNode = (name: string, command: string, args: string[], env?: NodeJS.ProcessEnv) => {
      specs.set(name, { command, args, env });
      const daemon = startSupervised({
        name,
        command: 'sh',
        args: ['-c', 'echo $$ > "$1" && pid=$2 && shift 2 && exec nsenter --mount=/proc/$pid/ns/mnt --net=/proc/$pid/ns/net -- "$@"',
          'sh', procs, String(holder.pid), command, ...args],
        env,
        logFile: path.join(paths.logsDir, `${name}.log`),
      });
      started.push(daemon);
      return daemon;
    };

    const containerd = inNode('containerd', bin('containerd'), ['--config', paths.containerdConfig], {
      ...process.env,
      // The wrapper first: the sandbox's runc is looked up on PATH. The shim sits beside containerd.
      PATH: [paths.binDir, binDir, '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'].join(':'),
    });
    const ctr = async (...args: string[]) =>
      (await run(bin('ctr'), ['--address', paths.containerdSocket, '--namespace', 'k8s.io', ...args])).stdout;
    const containerdReady = (daemon: Supervised) => daemonReady(daemon, 'containerd', async () => { await ctr('version'); return true; });
    await containerdReady(containerd);
    // The sandbox image is containerd's own business (pinned, never pulled): imported.
    await ctr('images', 'import', images.pause.archive);

    const registryDaemon = inNode('registry', bin('registry'), ['serve', paths.registryConfig],
      { ...process.env, OTEL_TRACES_EXPORTER: 'none' });
    await daemonReady(registryDaemon, 'the registry', () => answers(`http://${registry.fromHost}/v2/`));
    // Pods pull the rest from the registry, as on a real cluster.
    const pushImage = async (image: BuiltImage) => {
      await run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci-archive:${image.archive}`,
        `docker://${registry.fromHost}/${repositoryOf(image.ref)}`], { maxBuffer: 1 << 20 });
      return `${registry.name}/${repositoryOf(image.ref)}`;
    };
    const busybox = await pushImage(images.busybox);

    await createNodeObjects(admin, options.nodeName);
    const kubelet = inNode('kubelet', bin('kubelet'), [
      `--config=${paths.kubeletConfig}`,
      `--kubeconfig=${paths.kubeletKubeconfig}`,
      `--root-dir=${paths.kubeletRoot}`,
      `--cert-dir=${paths.kubeletCerts}`,
      `--hostname-override=${options.nodeName}`,
      // The node's end of its link: the kubelet refuses loopback, and the apiserver dials InternalIP.
      `--node-ip=${podNetwork.nodeIp}`,
      '--v=1',
    ]);
    const core = admin.makeApiClient(CoreV1Api);
    const kubeletReady = (daemon: Supervised, since = 0) => daemonReady(daemon, `node ${options.nodeName} Ready`, async () => {
      const node = await core.readNode({ name: options.nodeName });
      // After a restart: Ready as posted by the new kubelet, not the old one's last heartbeat.
      return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'
        && new Date(c.lastHeartbeatTime ?? 0).getTime() >= since) ?? false;
    }, 90_000).catch((error: Error) => { throw new Error(`${error.message}\n--- containerd ---\n${containerd.logTail()}`); });
    await kubeletReady(kubelet);

    const kubeProxy = inNode('kube-proxy', bin('kube-proxy'), [`--config=${paths.kubeProxyConfig}`, '--v=1']);
    // Healthy once its first sync of Services into iptables is done.
    await daemonReady(kubeProxy, 'kube-proxy healthy', () => answers(`http://${podNetwork.nodeIp}:${kubeProxyHealthzPort}/healthz`));

    const coredns = inNode('coredns', bin('coredns'), ['-conf', paths.corefile]);
    await daemonReady(coredns, 'CoreDNS ready', () => answers(`http://${podNetwork.nodeIp}:${clusterDns.readyPort}/ready`));

    let storage: RealNode['storage'];
    if (options.storage) {
      const localPath = await startLocalPathStorage({
        dir: path.join(options.dir, 'local-path'), binary: bin('local-path-provisioner'),
        adminKubeconfigFile: options.adminKubeconfig, admin, helperImage: busybox,
        logFile: path.join(paths.logsDir, 'local-path-provisioner.log'),
      });
      started.push(localPath.provisioner);
      storage = { storageClassName, volumesDir: localPath.volumesDir };
    }

    const restartRuntime = async () => {
      const since = Date.now() - 1_000; // heartbeat times have whole seconds
      const take = async (name: string) => {
        const at = started.findIndex((daemon) => daemon.name === name);
        await started[at]!.stop(10_000);
        started.splice(at, 1);
      };
      const again = (name: string) => {
        const spec = specs.get(name)!;
        return inNode(name, spec.command, spec.args, spec.env);
      };
      // The kubelet stops first and starts last, as on a node: it would otherwise see its runtime go.
      await take('kubelet');
      await take('containerd');
      await containerdReady(again('containerd'));
      await kubeletReady(again('kubelet'), since);
    };

    return {
      nodeName: options.nodeName, nodeIp: podNetwork.nodeIp, images: { busybox }, pushImage,
      paths, record, storage, ctr, restartRuntime, stop,
    };
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
}

/** An image built here without its registry: claude-operator.test/busybox:bed -> busybox:bed. */
function repositoryOf(ref: string): string {
  return ref.slice(ref.indexOf('/') + 1);
}

/** An HTTP GET that answers 2xx within 2 s. */
async function answers(url: string): Promise<boolean> {
  return (await fetch(url, { signal: AbortSignal.timeout(2_000) })).ok;
}

/** The veth pair between the host and the node's network namespace, and the host's routes to
 * the pods and Services through it. All go when the namespace does. */
async function makeLink(holderPid: number): Promise<void> {
  const { hostInterface, hostIp, nodeIp, linkPrefixLength, cidr } = podNetwork;
  const inNode = (...args: string[]) => run('nsenter', [`--net=/proc/${holderPid}/ns/net`, '--', ...args]);
  await run('ip', ['link', 'add', 'name', hostInterface, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', String(holderPid)]);
  await run('ip', ['addr', 'add', `${hostIp}/${linkPrefixLength}`, 'dev', hostInterface]);
  await run('ip', ['link', 'set', 'dev', hostInterface, 'up']);
  for (const args of [['link', 'set', 'dev', 'lo', 'up'], ['addr', 'add', `${nodeIp}/${linkPrefixLength}`, 'dev', 'eth0'],
    ['link', 'set', 'dev', 'eth0', 'up']]) await inNode('ip', ...args);
  // The namespace's own forwarding: the host's to its pods, the pods' to the host's end.
  await inNode('sh', '-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward');
  for (const destination of [cidr, serviceClusterIpRange]) await run('ip', ['route', 'add', destination, 'via', nodeIp, 'dev', hostInterface]);
}
