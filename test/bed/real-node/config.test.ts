import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import {
  clusterDns, cniNetwork, containerdConfig, corefile, fixedHostPaths, hostDirFor, kubeletConfiguration, kubeProxyConfiguration, nodePaths,
  podNetwork, registry, registryConfig, registryHosts, runcWrapper,
} from './config.ts';

const paths = nodePaths('/tmp/bed-x/node');

describe('the runc wrapper', () => {
  let dir: string;
  let wrapper: string;
  const ownScore = async () => (await fs.readFile('/proc/self/oom_score_adj', 'utf8')).trim();

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'runc-wrapper-'));
    // Stands in for runc: prints the arguments it got.
    const realRunc = path.join(dir, 'real-runc');
    await fs.writeFile(realRunc, '#!/bin/sh\nprintf "%s\\n" "$@"\n', { mode: 0o755 });
    wrapper = path.join(dir, 'runc');
    await fs.writeFile(wrapper, runcWrapper(realRunc), { mode: 0o755 });
  });
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  async function bundleWith(score: number): Promise<string> {
    const bundle = await fs.mkdtemp(path.join(dir, 'bundle-'));
    await fs.writeFile(path.join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.2.0', process: { oomScoreAdj: score, args: ['sh'] } }));
    return bundle;
  }
  const scoreIn = async (file: string) => (JSON.parse(await fs.readFile(file, 'utf8')) as { process?: { oomScoreAdj: number }; oomScoreAdj?: number });

  test('a negative oomScoreAdj in the bundle becomes its own score, and runc gets the same arguments', async () => {
    const bundle = await bundleWith(-998);
    const args = ['--root', '/run/x', 'create', '--bundle', bundle, '--pid-file', '/tmp/p', 'sandbox-id'];
    const { stdout } = await promisify(execFile)(wrapper, args);
    expect(stdout).toBe(`${args.join('\n')}\n`);
    expect((await scoreIn(path.join(bundle, 'config.json'))).process?.oomScoreAdj).toBe(Number(await ownScore()));
  });

  test('--bundle=DIR and an exec --process file are clamped too; a score above its own is left alone', async () => {
    const bundle = await bundleWith(-997);
    await promisify(execFile)(wrapper, ['create', `--bundle=${bundle}`, 'id']);
    expect((await scoreIn(path.join(bundle, 'config.json'))).process?.oomScoreAdj).toBe(Number(await ownScore()));

    const processFile = path.join(dir, 'process.json');
    await fs.writeFile(processFile, JSON.stringify({ args: ['id'], oomScoreAdj: -997 }));
    await promisify(execFile)(wrapper, ['exec', '--process', processFile, 'id']);
    expect((await scoreIn(processFile)).oomScoreAdj).toBe(Number(await ownScore()));

    const burstable = await bundleWith(937);
    await promisify(execFile)(wrapper, ['create', '--bundle', burstable, 'id']);
    expect((await scoreIn(path.join(burstable, 'config.json'))).process?.oomScoreAdj).toBe(937);
  });
});

describe('the node\'s configuration', () => {
  test('containerd keeps its root, state, sockets, runc state and CNI config under the node\'s dir', () => {
    const config = containerdConfig(paths, '/usr/lib/cni');
    const quotedPaths = [...config.matchAll(/"(\/[^"]*)"/g)].map((m) => m[1]);
    expect(quotedPaths.length).toBeGreaterThan(5);
    expect(quotedPaths.filter((p) => !p?.startsWith(`${paths.dir}/`))).toEqual(['/usr/lib/cni']);
    expect(config).toMatch(/^ *netns_mounts_under_state_dir = true$/m);
    expect(config).toMatch(/^ *BinaryName = "\/tmp\/bed-x\/node\/bin\/runc"$/m);
  });

  test('the pod network masquerades nothing and routes only the bed\'s own addresses and Services: no default route', () => {
    const bridge = (cniNetwork(paths) as { plugins: Array<Record<string, unknown>> }).plugins[0]!;
    expect(bridge).toMatchObject({ type: 'bridge', bridge: podNetwork.bridge, ipMasq: false });
    expect(bridge).not.toHaveProperty('isDefaultGateway');
    expect(bridge.ipam).toMatchObject({ dataDir: paths.cniIpamDir, routes: [
      { dst: '10.244.0.0/16', gw: podNetwork.gateway }, { dst: '10.0.0.0/24', gw: podNetwork.gateway }] });
    // The routed range holds the pods, the node and the host's end of its link.
    for (const address of [podNetwork.gateway, podNetwork.nodeIp, podNetwork.hostIp]) expect(address).toMatch(/^10\.244\./);
  });

  test('the kubelet serves on the node IP only, with authentication, on cgroup v1 with cgroupfs', () => {
    expect(kubeletConfiguration(paths, { caCertFile: '/ca.crt' })).toMatchObject({
      address: podNetwork.nodeIp, readOnlyPort: 0, healthzBindAddress: '127.0.0.1',
      authentication: { anonymous: { enabled: false }, x509: { clientCAFile: '/ca.crt' } }, authorization: { mode: 'Webhook' },
      cgroupDriver: 'cgroupfs', failCgroupV1: false, failSwapOn: false, enforceNodeAllocatable: [],
      podLogsDir: paths.podLogs, containerRuntimeEndpoint: `unix://${paths.containerdSocket}`,
    });
  });

  test('CoreDNS serves the cluster domain on the node\'s address and forwards nothing; the kubelet points pods at it', () => {
    const config = corefile(paths);
    expect(config).toMatch(new RegExp(`^ *bind ${podNetwork.nodeIp.replaceAll('.', '\\.')}$`, 'm'));
    expect(config).toMatch(/^ *kubernetes cluster\.local /m);
    expect(config).not.toMatch(/forward|proxy/);
    expect(kubeletConfiguration(paths, { caCertFile: '/ca.crt' })).toMatchObject({ clusterDNS: [clusterDns.serviceIp], clusterDomain: 'cluster.local' });
  });

  test('kube-proxy leaves the machine\'s conntrack settings and route_localnet alone', () => {
    expect(kubeProxyConfiguration(paths, 'n')).toMatchObject({
      mode: 'iptables', hostnameOverride: 'n', clusterCIDR: podNetwork.cidr, oomScoreAdj: 0,
      iptables: { localhostNodePorts: false }, conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
    });
  });

  test('containerd pulls localhost:5000 over plain HTTP from the registry, which keeps its blobs under the node\'s dir', () => {
    expect(registryHosts()).toBe('server = "http://localhost:5000"\n\n[host."http://localhost:5000"]\n  capabilities = ["pull", "resolve"]\n');
    expect(containerdConfig(paths, '/usr/lib/cni')).toContain(`config_path = "${paths.registryHostsDir}"`);
    const config = registryConfig(paths) as { storage: { filesystem: { rootdirectory: string } }; http: { addr: string } };
    expect(config.storage.filesystem.rootdirectory.startsWith(`${paths.dir}/`)).toBe(true);
    expect(config.http.addr).toBe(`:${registry.port}`);
    expect(Object.keys(config).sort()).toEqual(['http', 'log', 'storage', 'version']);
  });

  test('each fixed host path has a dir of its own under the node\'s dir', () => {
    const dirs = fixedHostPaths.map((hostPath) => hostDirFor(paths, hostPath));
    expect(new Set(dirs).size).toBe(fixedHostPaths.length);
    for (const dir of dirs) expect(path.dirname(dir)).toBe(paths.hostDirs);
  });
});
