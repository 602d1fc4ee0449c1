// What the real node leaves on the machine outside its dir, and how it is undone.
// Some names are fixed (the host's end of the node's link, the cgroup root, the
// host paths in config.ts), so one real node runs on a machine at a time: a lock
// says which, and a record of the running node lets the next start clean up after
// one whose starter was killed (pdeathsig takes the daemons, but shims and
// containers are made to outlive containerd).
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { nodeCgroupName, podNetwork } from './config.ts';
import { startSupervised, waitFor, type Supervised } from '../process.ts';

const run = promisify(execFile);

const lockFile = path.join(os.tmpdir(), 'claude-operator-real-node.lock');
const recordFile = path.join(os.tmpdir(), 'claude-operator-real-node.json');

/** What a running node has made on the host, written before it makes it. */
export interface HostRecord {
  dir: string;
  /** Fixed host paths that did not exist before the node made them. */
  createdHostPaths: string[];
}

/** Holds the machine's real-node lock until stopped (or until this process dies: the
 * lock holder gets SIGKILL with it, and the kernel drops the lock). */
export async function lockHost(logFile: string): Promise<Supervised> {
  const holder = startSupervised({
    name: 'real-node lock',
    command: 'flock',
    // --no-fork: the lock stays with the process that pdeathsig kills.
    args: ['--exclusive', '--nonblock', '--no-fork', lockFile, 'sh', '-c', 'echo locked; exec sleep infinity'],
    logFile,
  });
  let exited = false;
  void holder.exited.then(() => { exited = true; });
  await waitFor('the real-node lock', async () => {
    if (exited) throw new Error(`another real node runs on this machine (${lockFile} is locked)`);
    return (await fs.readFile(logFile, 'utf8')).includes('locked');
  }, { timeoutMs: 10_000 });
  return holder;
}

export async function readRecord(): Promise<HostRecord | undefined> {
  try {
    return JSON.parse(await fs.readFile(recordFile, 'utf8')) as HostRecord;
  } catch {
    return undefined;
  }
}

export async function writeRecord(record: HostRecord): Promise<void> {
  await fs.writeFile(recordFile, JSON.stringify(record));
}

/** Every cgroup hierarchy's mount point: v1 controllers and the cgroup2 mount. */
export async function cgroupMounts(): Promise<string[]> {
  const mountinfo = await fs.readFile('/proc/self/mountinfo', 'utf8');
  return mountinfo.split('\n').flatMap((line) => {
    const [before, after] = line.split(' - ');
    const fsType = after?.split(' ')[0];
    const mountPoint = before?.split(' ')[4];
    return (fsType === 'cgroup' || fsType === 'cgroup2') && mountPoint ? [mountPoint] : [];
  });
}

/** The hierarchy whose cgroup.procs tell which processes are the node's: pids (v1) or cgroup2. */
export async function trackingHierarchy(): Promise<string> {
  const mounts = await cgroupMounts();
  const found = mounts.find((m) => path.basename(m) === 'pids') ?? mounts.find((m) => m.endsWith('/unified')) ??
    mounts.find((m) => m === '/sys/fs/cgroup');
  if (!found) throw new Error('no pids or cgroup2 hierarchy is mounted');
  return found;
}

/** The cgroup the node's own daemons run in; their shims inherit it. */
export async function daemonsCgroup(): Promise<string> {
  return path.join(await trackingHierarchy(), nodeCgroupName, 'daemons');
}

/** The cgroup root in each hierarchy, so the kubelet finds its cgroupRoot everywhere. */
export async function makeCgroupRoot(): Promise<void> {
  for (const mount of await cgroupMounts()) {
    const dir = path.join(mount, nodeCgroupName);
    await fs.mkdir(dir, { recursive: true });
    if (path.basename(mount) === 'cpuset') {
      // A v1 cpuset cgroup takes no process until its cpus and mems are set.
      for (const file of ['cpuset.cpus', 'cpuset.mems']) {
        await fs.writeFile(path.join(dir, file), await fs.readFile(path.join(mount, file), 'utf8'));
      }
    }
  }
  await fs.mkdir(await daemonsCgroup(), { recursive: true });
}

async function cgroupDirs(root: string): Promise<string[]> {
  const entries = await fs.readdir(root, { withFileTypes: true }).catch(() => []);
  const below = await Promise.all(entries.filter((e) => e.isDirectory()).map((e) => cgroupDirs(path.join(root, e.name))));
  return [...below.flat(), root]; // deepest first
}

/** Processes in the node's cgroups: daemons, shims, sandboxes and containers. */
export async function nodeProcesses(): Promise<number[]> {
  const pids: number[] = [];
  for (const mount of await cgroupMounts()) {
    for (const dir of await cgroupDirs(path.join(mount, nodeCgroupName))) {
      const procs = await fs.readFile(path.join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
      pids.push(...procs.split('\n').filter(Boolean).map(Number));
    }
  }
  return [...new Set(pids)];
}

async function killNodeProcesses(): Promise<void> {
  await waitFor('the node\'s processes to die', async () => {
    const pids = await nodeProcesses();
    for (const pid of pids) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
    return pids.length === 0;
  }, { timeoutMs: 30_000, intervalMs: 100 });
}

async function removeCgroups(): Promise<void> {
  for (const mount of await cgroupMounts()) {
    for (const dir of await cgroupDirs(path.join(mount, nodeCgroupName))) {
      // A cgroup whose last process just died can be busy for a moment.
      await waitFor(`rmdir ${dir}`, async () => {
        await fs.rmdir(dir).catch((error: NodeJS.ErrnoException) => { if (error.code !== 'ENOENT') throw error; });
        return true;
      }, { timeoutMs: 10_000, intervalMs: 100 });
    }
  }
}

/** Chains the kubelet or CNI would make (KUBE-FIREWALL, KUBE-KUBELET-CANARY, CNI-HOSTPORT-...)
 * in this (the host's) network namespace, which should never see them: the node has its own. */
async function hostIptablesChains(): Promise<string[]> {
  const found: string[] = [];
  for (const command of ['iptables', 'ip6tables']) {
    for (const table of ['filter', 'nat', 'mangle']) {
      const rules = await run(command, ['-w', '-t', table, '-S']).then((r) => r.stdout.split('\n'), () => []);
      found.push(...rules.filter((line) => /^-N (KUBE-|CNI-)/.test(line)).map((line) => `${command} -t ${table} ${line}`));
    }
  }
  return found;
}

/** Mounts in this (the host's) mount namespace at or under dir. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const mountinfo = await fs.readFile('/proc/self/mountinfo', 'utf8');
  return mountinfo.split('\n').map((line) => line.split(' ')[4] ?? '')
    .filter((mountPoint) => mountPoint === dir || mountPoint.startsWith(`${dir}/`));
}

export async function linkExists(name: string): Promise<boolean> {
  return run('ip', ['link', 'show', 'dev', name]).then(() => true, () => false);
}

/** Undoes all a node made on the host. Idempotent; safe with no record (fixed names only).
 * The node's network namespace (bridge, veths, iptables chains, routes) goes with its last
 * process, and the host's end of its link with it. */
export async function cleanUpHost(record: HostRecord | undefined): Promise<void> {
  await killNodeProcesses();
  await removeCgroups();
  // Normally gone with the namespace already, or going: the kernel tears it down on its own time.
  await run('ip', ['link', 'delete', 'dev', podNetwork.hostInterface]).catch(async (error: Error) => {
    if (await linkExists(podNetwork.hostInterface)) throw error;
  });
  if (record) {
    // The node's mounts were made in its own namespace, gone with its last process;
    // one that reached the host anyway is unmounted before the dir is removed.
    for (const mountPoint of (await mountsUnder(record.dir)).reverse()) await run('umount', ['-l', mountPoint]);
    await fs.rm(record.dir, { recursive: true, force: true });
    for (const hostPath of record.createdHostPaths) await fs.rmdir(hostPath).catch(() => undefined);
  }
  await fs.rm(recordFile, { force: true });
}

const nodeBinaries = new Set(['kubelet', 'kube-proxy', 'containerd', 'containerd-shim-runc-v2', 'runc', 'ctr']);

/** Living processes of the node's binaries from the build cache, wherever they run. */
async function nodeBinaryProcesses(): Promise<string[]> {
  const found: string[] = [];
  for (const pid of (await fs.readdir('/proc')).filter((name) => /^\d+$/.test(name))) {
    const exe = await fs.readlink(`/proc/${pid}/exe`).catch(() => '');
    if (!exe.includes('/claude-operator/') || !nodeBinaries.has(path.basename(exe))) continue;
    const status = await fs.readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    if (/^State:\s+Z/m.test(status)) continue;
    found.push(`${pid} ${exe}`);
  }
  return found;
}

/** What a node left on the host, each as a line saying what it is; none after a clean stop. */
export async function leftovers(record: HostRecord): Promise<string[]> {
  const found: string[] = [];
  found.push(...(await nodeProcesses()).map((pid) => `process ${pid} in the node's cgroup`));
  found.push(...(await nodeBinaryProcesses()).map((p) => `process ${p}`));
  for (const mount of await cgroupMounts()) {
    if (await pathExists(path.join(mount, nodeCgroupName))) found.push(`cgroup ${path.join(mount, nodeCgroupName)}`);
  }
  for (const link of [podNetwork.hostInterface, podNetwork.bridge]) {
    if (await linkExists(link)) found.push(`network interface ${link}`);
  }
  const routes = await run('ip', ['route', 'show', 'to', 'match', podNetwork.gateway]).then((r) => r.stdout, () => '');
  if (routes.includes(podNetwork.hostInterface)) found.push(`route ${routes.trim()}`);
  found.push(...await hostIptablesChains());
  found.push(...(await mountsUnder(record.dir)).map((m) => `mount ${m}`));
  if (await pathExists(record.dir)) found.push(`dir ${record.dir}`);
  for (const hostPath of record.createdHostPaths) if (await pathExists(hostPath)) found.push(`dir ${hostPath}`);
  return found;
}

export async function pathExists(file: string): Promise<boolean> {
  return fs.stat(file).then(() => true, () => false);
}
