// Where the upstream binaries are: built (or found in the cache) by
// test/cluster/build-control-plane.sh (and build-node.sh), which print the directory.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface ControlPlaneBinaries {
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kubectl: string;
  helm: string;
}

let cached: Promise<ControlPlaneBinaries> | undefined;

/** Runs one of test/cluster's build scripts (cached, idempotent) and returns the
 * directory it prints last. A cold build takes many minutes; the scripts report
 * progress on stderr. */
export async function runBuildScript(name: string): Promise<string> {
  const script = path.join(repoRoot, 'test/cluster', name);
  const { stdout } = await promisify(execFile)('bash', [script], { maxBuffer: 1 << 20, timeout: 60 * 60_000 });
  return stdout.trim().split('\n').pop() ?? '';
}

export function controlPlaneBinaries(): Promise<ControlPlaneBinaries> {
  cached ??= (async () => {
    const binDir = await runBuildScript('build-control-plane.sh');
    return {
      etcd: path.join(binDir, 'etcd'),
      kubeApiserver: path.join(binDir, 'kube-apiserver'),
      kubeControllerManager: path.join(binDir, 'kube-controller-manager'),
      kubectl: path.join(binDir, 'kubectl'),
      helm: path.join(binDir, 'helm'),
    };
  })();
  return cached;
}
