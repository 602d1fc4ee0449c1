// Where the upstream binaries are: built (or found in the cache) by
// test/cluster/build-control-plane.sh, which prints the directory.
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

export function controlPlaneBinaries(): Promise<ControlPlaneBinaries> {
  cached ??= (async () => {
    const script = path.join(repoRoot, 'test/cluster/build-control-plane.sh');
    // A cold build takes many minutes; the build script reports progress on stderr.
    const { stdout } = await promisify(execFile)('bash', [script], { maxBuffer: 1 << 20, timeout: 60 * 60_000 });
    const binDir = stdout.trim().split('\n').pop() ?? '';
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
