// The files the real node's daemons read, written under its dir: configs, the runc
// wrapper, the sysctl values the kubelet is shown, client certificates and
// kubeconfigs; and the script that sets up the node's mount namespace.
import fs from 'node:fs/promises';
import path from 'node:path';
import { writeKubeconfig } from '../kubeconfig.ts';
import { issueClientCert } from '../pki.ts';
import {
  containerdConfig, cniNetwork, corefile, fixedHostPaths, hostDirFor, kubeletConfiguration, kubeletSysctls, kubeProxyConfiguration,
  registry, registryConfig, registryHosts, runcWrapper, type NodePaths,
} from './config.ts';
import type { RealNodeOptions } from './real-node.ts';

const cniBinDir = '/usr/lib/cni'; // Debian's containernetworking-plugins

export async function writeNodeFiles(paths: NodePaths, realRunc: string, options: RealNodeOptions): Promise<void> {
  for (const dir of [paths.binDir, paths.containerdRoot, paths.containerdState, paths.runcRoot, paths.cniConfDir,
    paths.cniIpamDir, paths.kubeletRoot, paths.kubeletCerts, paths.kubeletPki, path.dirname(paths.kubeProxyConfig),
    path.dirname(paths.corefile), paths.registryStorage, path.join(paths.registryHostsDir, registry.name),
    paths.podLogs, paths.volumePluginDir,
    paths.sysctlDir, ...fixedHostPaths.map((hostPath) => hostDirFor(paths, hostPath))]) {
    await fs.mkdir(dir, { recursive: true });
  }
  await fs.writeFile(paths.runcWrapper, runcWrapper(realRunc), { mode: 0o755 });
  await fs.writeFile(paths.containerdConfig, containerdConfig(paths, cniBinDir));
  await fs.writeFile(path.join(paths.cniConfDir, '10-bed.conflist'), JSON.stringify(cniNetwork(paths), null, 2));
  await fs.writeFile(paths.kubeletConfig, JSON.stringify(kubeletConfiguration(paths, { caCertFile: options.caCertFile }), null, 2));
  await fs.writeFile(paths.kubeProxyConfig, JSON.stringify(kubeProxyConfiguration(paths, options.nodeName), null, 2));
  await fs.writeFile(paths.corefile, corefile(paths));
  await fs.writeFile(paths.registryConfig, JSON.stringify(registryConfig(paths), null, 2));
  await fs.writeFile(path.join(paths.registryHostsDir, registry.name, 'hosts.toml'), registryHosts());
  for (const [name, value] of Object.entries(kubeletSysctls)) {
    await fs.writeFile(path.join(paths.sysctlDir, name.replaceAll('/', '.')), `${value}\n`);
  }
}

export interface ClientIdentity {
  /** The kubeconfig to write; the certificate and key go beside it. */
  kubeconfig: string;
  user: string;
  groups: string[];
}

/** A kubeconfig with a client certificate the bed's CA signs, for a server reached through the
 * relay, whose address the apiserver's certificate does not name. */
export async function writeClientKubeconfig(options: RealNodeOptions, server: string, identity: ClientIdentity): Promise<void> {
  const certFile = `${identity.kubeconfig}.crt`;
  const keyFile = `${identity.kubeconfig}.key`;
  await issueClientCert({ caCert: options.caCertFile, caKey: options.caKeyFile }, {
    certFile, keyFile, commonName: identity.user, organizations: identity.groups,
  });
  await writeKubeconfig(identity.kubeconfig, {
    server, tlsServerName: 'localhost', caCertFile: options.caCertFile, user: identity.user, clientCertFile: certFile, clientKeyFile: keyFile,
  });
}

/** Run as the namespace's first process: joins the node's cgroup, mounts the node's dirs over
 * the fixed host paths and its sysctl files over the kubelet's, then holds the namespace. */
export function namespaceScript(paths: NodePaths, procs: string): string {
  const quote = (value: string) => `'${value.replaceAll("'", "'\\''")}'`;
  const binds = [
    ...fixedHostPaths.map((hostPath) => [hostDirFor(paths, hostPath), hostPath]),
    ...Object.keys(kubeletSysctls).map((name) => [path.join(paths.sysctlDir, name.replaceAll('/', '.')), `/proc/sys/${name}`]),
  ];
  return ['set -e', `echo $$ > ${quote(procs)}`,
    ...binds.map(([from = '', to = '']) => `mount --bind ${quote(from)} ${quote(to)}`),
    'echo ready', 'exec sleep infinity'].join('\n');
}
