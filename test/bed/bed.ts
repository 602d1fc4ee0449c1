// The whole single-machine test bed: upstream control plane, the local node,
// Postgres and Redis. Used by the jest global setup and by `up`.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from './binaries.ts';
import { apiGet, startControlPlane, type ControlPlane } from './control-plane.ts';
import { provisionPostgres } from './postgres.ts';
import { GiveUp, startSupervised, waitFor, type Supervised } from './process.ts';
import { provisionRedis } from './redis.ts';

/** What the bed hands to tests, scripts and kubectl, as environment variables. */
export interface BedSettings {
  KUBECONFIG: string;
  DATABASE_URL: string;
  REDIS_URL: string;
  /** The kubectl and helm built with the control plane. */
  KUBECTL: string;
  HELM: string;
  BED_DIR: string;
  /** The apiserver's audit log (JSON lines). */
  AUDIT_LOG: string;
  [key: string]: string;
}

export interface Bed {
  settings: BedSettings;
  controlPlane: ControlPlane;
  stop(): Promise<void>;
}

export const localNodeName = 'local-node';

export async function startBed(): Promise<Bed> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'claude-operator-bed-'));
  const logDir = path.join(dir, 'logs');
  await fs.mkdir(logDir, { recursive: true });
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const stopOne of stops.reverse()) await stopOne().catch(() => undefined);
    await fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
  };
  try {
    const [controlPlane, postgres, redis] = await Promise.all([
      startControlPlane(path.join(dir, 'control-plane')).then((cp) => { stops.push(() => cp.stop()); return cp; }),
      provisionPostgres({ logDir }).then((pg) => { stops.push(() => pg.close()); return pg; }),
      provisionRedis({ logDir }).then((r) => { stops.push(() => r.close()); return r; }),
    ]);
    const localNode = await startLocalNode(controlPlane, path.join(dir, 'pods'), path.join(logDir, 'local-node.log'));
    stops.push(() => localNode.stop(10_000));
    return {
      controlPlane,
      settings: {
        KUBECONFIG: controlPlane.adminKubeconfig,
        DATABASE_URL: postgres.url,
        REDIS_URL: redis.url,
        KUBECTL: controlPlane.kubectl,
        HELM: controlPlane.helm,
        BED_DIR: dir,
        AUDIT_LOG: controlPlane.auditLog,
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function startLocalNode(controlPlane: ControlPlane, podsDir: string, logFile: string): Promise<Supervised> {
  await fs.mkdir(podsDir, { recursive: true });
  const localNode = startSupervised({
    name: 'local-node',
    command: path.join(repoRoot, 'node_modules/.bin/node'),
    args: [path.join(repoRoot, 'test/bed/local-node/main.ts'),
      `--kubeconfig=${controlPlane.adminKubeconfig}`, `--pods-dir=${podsDir}`, `--node-name=${localNodeName}`],
    logFile,
  });
  let exited = false;
  void localNode.exited.then(() => { exited = true; });
  await waitFor(`node ${localNodeName} Ready`, async () => {
    if (exited) throw new GiveUp('the local node exited');
    const { status, body } = await apiGet(controlPlane.server, controlPlane.caCertFile, controlPlane.adminToken,
      `/api/v1/nodes/${localNodeName}`);
    if (status !== 200) return false;
    const node = JSON.parse(body) as { status?: { conditions?: Array<{ type: string; status: string }> } };
    return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  }, { timeoutMs: 30_000 }).catch(async (error: Error) => {
    await localNode.stop();
    throw new Error(`${error.message}\n--- local node log ---\n${localNode.logTail()}`);
  });
  return localNode;
}
