// What the real node's daemons are given: containerd's config, the kubelet's
// KubeletConfiguration, the CNI network and the runc wrapper, and the node's
// addresses. Pure: every path comes from NodePaths, so all the node writes stays
// under its own dir, except the few fixed host paths its mount namespace covers.
import path from 'node:path';
import { serviceClusterIpRange } from '../control-plane.ts';

/** The node's network, all in the node's own network namespace but for the host end of its
 * link: pods on a bridge, and a veth pair to the host. The namespace has no other route, and
 * the host does not forward (its ip_forward is left alone), so nothing reaches past the machine. */
export const podNetwork = {
  /** In the node's namespace: the pods' bridge, whose address is their gateway. */
  bridge: 'cobed0',
  cidr: '10.244.0.0/24',
  gateway: '10.244.0.1',
  /** The link: the host's end (in the host's namespace) and the node's end (its eth0). */
  hostInterface: 'cobed-host',
  hostIp: '10.244.255.1',
  /** The node's InternalIP: where the apiserver reaches the kubelet. */
  nodeIp: '10.244.255.2',
  linkPrefixLength: 30,
  /** What pods route through the gateway: the node's link (and the host's end), and Services. */
  routed: ['10.244.0.0/16', serviceClusterIpRange],
} as const;

export const kubeProxyHealthzPort = 10256;

/** The cluster DNS: CoreDNS in the node's network namespace on the node's address, behind the
 * kube-dns Service at a cluster IP from the range's static band (never handed out at random). */
export const clusterDns = {
  serviceIp: '10.0.0.10',
  domain: 'cluster.local',
  /** CoreDNS's ready plugin, checked from the host. */
  readyPort: 8181,
} as const;

/** The OCI registry, in the node's network namespace on every address there: containerd pulls
 * from it as localhost:5000 (plain HTTP, as for any local registry), the host pushes to the
 * node's address. Pods name images localhost:5000/NAME:TAG. */
export const registry = {
  port: 5000,
  /** How pods and containerd name it. */
  name: 'localhost:5000',
  /** How the host reaches it. */
  fromHost: '10.244.255.2:5000',
} as const;

/** The kubelet's HTTPS port on the node IP; the node's namespace is its own, so the usual one is free. */
export const kubeletPort = 10250;

/** The sandbox image containerd is pinned to (built by test/cluster/build-node-images.sh). */
export const sandboxImage = 'registry.k8s.io/pause:3.10';

/** The kubelet's cgroupRoot: the node's pods live under /<this>/kubepods in every hierarchy. */
export const nodeCgroupName = 'claude-operator-node';

/** Sysctls the kubelet sets to these values unless it finds them so (protectKernelDefaults only
 * turns that into a refusal to start). The node's mount namespace shows it files holding these
 * values, so the machine's own settings are never changed. */
export const kubeletSysctls: Record<string, string> = {
  'vm/overcommit_memory': '1',
  'vm/panic_on_oom': '0',
  'kernel/panic': '10',
  'kernel/panic_on_oops': '1',
  'kernel/keys/root_maxkeys': '1000000',
  'kernel/keys/root_maxbytes': '25000000',
};

export interface NodePaths {
  dir: string;
  binDir: string;
  logsDir: string;
  containerdConfig: string;
  containerdRoot: string;
  containerdState: string;
  containerdSocket: string;
  runcRoot: string;
  runcWrapper: string;
  cniConfDir: string;
  cniIpamDir: string;
  kubeletConfig: string;
  kubeletKubeconfig: string;
  kubeProxyConfig: string;
  kubeProxyKubeconfig: string;
  corefile: string;
  corednsKubeconfig: string;
  /** containerd's registry hosts (certs.d layout). */
  registryHostsDir: string;
  registryConfig: string;
  registryStorage: string;
  kubeletRoot: string;
  kubeletCerts: string;
  kubeletPki: string;
  podLogs: string;
  volumePluginDir: string;
  /** Files bind-mounted over /proc/sys/<name> in the node's mount namespace. */
  sysctlDir: string;
  /** Dirs bind-mounted over the fixed host paths in the node's mount namespace. */
  hostDirs: string;
}

export function nodePaths(dir: string): NodePaths {
  const at = (...parts: string[]) => path.join(dir, ...parts);
  return {
    dir,
    binDir: at('bin'),
    logsDir: at('logs'),
    containerdConfig: at('containerd', 'config.toml'),
    containerdRoot: at('containerd', 'root'),
    containerdState: at('containerd', 'state'),
    containerdSocket: at('containerd', 'containerd.sock'),
    runcRoot: at('runc'),
    runcWrapper: at('bin', 'runc'),
    cniConfDir: at('cni', 'net.d'),
    cniIpamDir: at('cni', 'ipam'),
    kubeletConfig: at('kubelet', 'config.json'),
    kubeletKubeconfig: at('kubelet', 'kubeconfig'),
    kubeProxyConfig: at('kube-proxy', 'config.json'),
    kubeProxyKubeconfig: at('kube-proxy', 'kubeconfig'),
    corefile: at('coredns', 'Corefile'),
    corednsKubeconfig: at('coredns', 'kubeconfig'),
    registryHostsDir: at('containerd', 'certs.d'),
    registryConfig: at('registry', 'config.json'),
    registryStorage: at('registry', 'storage'),
    kubeletRoot: at('kubelet', 'root'),
    kubeletCerts: at('kubelet', 'certs'),
    kubeletPki: at('kubelet', 'pki'),
    podLogs: at('pod-logs'),
    volumePluginDir: at('kubelet', 'volume-plugins'),
    sysctlDir: at('sysctl'),
    hostDirs: at('host'),
  };
}

/** Host paths that containerd, its shims and the kubelet use whatever they are told. In the
 * node's mount namespace each is a bind mount of a dir under hostDirs, so nothing lands in the
 * machine's own /run or /var; on the host each stays an empty mount point, removed at cleanup
 * when the node made it. */
export const fixedHostPaths = [
  '/run/containerd', // shim sockets (/run/containerd/s), ctr's fifos
  '/var/lib/kubelet', // device-plugins
  '/var/log/containers', // the kubelet's legacy log symlinks
  '/var/lib/cni', // libcni's result cache
] as const;

export function hostDirFor(paths: NodePaths, hostPath: string): string {
  return path.join(paths.hostDirs, hostPath.replace(/^\//, '').replaceAll('/', '-'));
}

const toml = (value: string) => JSON.stringify(value);

export function containerdConfig(paths: NodePaths, cniBinDir: string): string {
  return `# Written by test/bed/real-node: every path under the node's dir.
version = 3
root = ${toml(paths.containerdRoot)}
state = ${toml(paths.containerdState)}
# NRI would listen on /var/run/nri, opt would fill /opt/containerd; neither is used.
disabled_plugins = ["io.containerd.nri.v1.nri", "io.containerd.internal.v1.opt"]

[grpc]
  address = ${toml(paths.containerdSocket)}

[ttrpc]
  address = ${toml(`${paths.containerdSocket}.ttrpc`)}

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = ${toml(paths.registryHostsDir)}
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = ${toml(sandboxImage)}

[plugins.'io.containerd.cri.v1.runtime']
  # Network namespaces under the state dir, not /var/run/netns.
  netns_mounts_under_state_dir = true
  cdi_spec_dirs = []
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = ${toml(paths.runcWrapper)}
        Root = ${toml(paths.runcRoot)}
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = [${toml(cniBinDir)}]
    conf_dir = ${toml(paths.cniConfDir)}

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
`;
}

/** The pod network for containerd's CRI plugin. No masquerade and no default route: pods reach
 * the pod network, the node and the host's end of its link, nothing else. The bridge is the
 * gateway (so the plugin turns on ip_forward: the node's namespace's own). */
export function cniNetwork(paths: NodePaths): object {
  return {
    cniVersion: '1.0.0',
    name: 'claude-operator-bed',
    plugins: [
      {
        type: 'bridge',
        bridge: podNetwork.bridge,
        isGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          dataDir: paths.cniIpamDir,
          ranges: [[{ subnet: podNetwork.cidr, gateway: podNetwork.gateway }]],
          routes: podNetwork.routed.map((dst) => ({ dst, gw: podNetwork.gateway })),
        },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  };
}

export interface KubeletOptions {
  caCertFile: string;
}

export function kubeletConfiguration(paths: NodePaths, options: KubeletOptions): object {
  return {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: podNetwork.nodeIp,
    port: kubeletPort,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    // The apiserver authenticates with its kubelet client certificate; bearer tokens are
    // checked with TokenReview, and every request is authorized with SubjectAccessReview.
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: true },
      x509: { clientCAFile: options.caCertFile },
    },
    authorization: { mode: 'Webhook' },
    containerRuntimeEndpoint: `unix://${paths.containerdSocket}`,
    // The machine mounts cgroup v1 (hybrid); kubelet >= 1.35 refuses it unless told.
    cgroupDriver: 'cgroupfs',
    failCgroupV1: false,
    cgroupRoot: `/${nodeCgroupName}`,
    failSwapOn: false,
    // Limits are enforced per pod and container; no node-level allocatable cgroup.
    enforceNodeAllocatable: [],
    podLogsDir: paths.podLogs,
    volumePluginDir: paths.volumePluginDir,
    // Other developers' work shares the disk: evict only when it is really full.
    evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '2%', 'imagefs.available': '2%' },
    imageGCHighThresholdPercent: 99,
    imageGCLowThresholdPercent: 98,
    clusterDNS: [clusterDns.serviceIp],
    clusterDomain: clusterDns.domain,
    registerNode: true,
  };
}

/** kube-proxy in iptables mode (Debian has no `nft` for its nftables mode), in the node's
 * network namespace. It sets no sysctl of its own: no conntrack sizes or timeouts (those are
 * the machine's), no route_localnet (no NodePorts on localhost), no oom_score_adj (it may not). */
export function kubeProxyConfiguration(paths: NodePaths, nodeName: string): object {
  return {
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    clientConnection: { kubeconfig: paths.kubeProxyKubeconfig },
    hostnameOverride: nodeName,
    mode: 'iptables',
    clusterCIDR: podNetwork.cidr,
    // On the node's address, where the launcher checks it from the host.
    healthzBindAddress: `${podNetwork.nodeIp}:${kubeProxyHealthzPort}`,
    metricsBindAddress: '127.0.0.1:10249',
    iptables: { localhostNodePorts: false },
    conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
    oomScoreAdj: 0,
  };
}

/** containerd's hosts.toml for the bed's registry: plain HTTP, pull and resolve. */
export function registryHosts(): string {
  const url = `http://${registry.name}`;
  return `server = ${toml(url)}\n\n[host.${toml(url)}]\n  capabilities = ["pull", "resolve"]\n`;
}

/** distribution's registry, storing under the node's dir (JSON is YAML). No debug server, no
 * storage health check, no notifications or pull-through proxy: nothing it would reach out to. */
export function registryConfig(paths: NodePaths): object {
  return {
    version: '0.1',
    log: { level: 'info' },
    storage: { filesystem: { rootdirectory: paths.registryStorage }, delete: { enabled: true } },
    http: { addr: `:${registry.port}` },
  };
}

/** CoreDNS answers for the cluster's names only: with no forward plugin, no query leaves the
 * node (other names get REFUSED or SERVFAIL). */
export function corefile(paths: NodePaths): string {
  return `.:53 {
    bind ${podNetwork.nodeIp}
    errors
    ready ${podNetwork.nodeIp}:${clusterDns.readyPort}
    kubernetes ${clusterDns.domain} in-addr.arpa ip6.arpa {
        kubeconfig ${paths.corednsKubeconfig} system:coredns
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 5
}
`;
}

/** runc as containerd's shims call it. The kubelet asks for oom_score_adj -998 (sandboxes) and
 * -997 (Guaranteed containers); without CAP_SYS_RESOURCE, which this machine withholds, runc
 * fails ("nsexec: failed to update /proc/self/oom_score_adj: Permission denied"), and
 * containerd's restrict_oom_score_adj did not clamp it. So a negative oomScoreAdj in the bundle
 * (create) or process file (exec) becomes this process's own, then the real runc runs. */
export function runcWrapper(realRunc: string): string {
  return `#!/bin/sh
# Written by test/bed/real-node: clamps a negative oomScoreAdj, then runs the real runc.
own=$(cat /proc/self/oom_score_adj)
clamp() { [ -f "$1" ] && sed -i -E "s/\\"oomScoreAdj\\":-[0-9]+/\\"oomScoreAdj\\":$own/" "$1"; }
previous=
for arg in "$@"; do
  case "$previous" in
    --bundle|-b) clamp "$arg/config.json" ;;
    --process|-p) clamp "$arg" ;;
  esac
  case "$arg" in
    --bundle=*) clamp "\${arg#*=}/config.json" ;;
    --process=*) clamp "\${arg#*=}" ;;
  esac
  previous=$arg
done
exec ${JSON.stringify(realRunc)} "$@"
`;
}
