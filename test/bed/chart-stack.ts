// The whole system as a user installs it: a control plane and a real node (with PVCs),
// the project's images in the node's registry, and the chart installed with
// `helm install --wait`. Used by `up --real-node` and by the chart-on-real-node e2e.
// The control plane is one of its own: it advertises the host's end of the node's link
// (pods reach the apiserver through the `kubernetes` Service) and runs kube-scheduler
// (the Deployments' pods have no node of their own). The model is the scripted Messages
// API, on the host's end of the link, where pods reach it; nothing a pod sends can
// leave the machine, so there is no other model to point it at.
import fs from 'node:fs/promises';
import path from 'node:path';
import { SignJWT } from 'jose';
import { repoRoot } from './binaries.ts';
import { startControlPlane, type ControlPlane } from './control-plane.ts';
import { podNetwork } from './real-node/config.ts';
import { controlPlaneOf, projectImages, startRealNode, type ProjectImage, type RealNode } from './real-node/real-node.ts';
import { runTool } from '../support/cluster.ts';
import { startScriptedApi, type ScriptedApi } from '../scripted-api/server.ts';

export const chart = path.join(repoRoot, 'charts/claude-operator');
export const chartRelease = 'claude';
export const chartNamespace = 'claude-system';

type ToolResult = Awaited<ReturnType<typeof runTool>>;

export interface ChartBed {
  dir: string;
  controlPlane: ControlPlane;
  node: RealNode;
  scriptedApi: ScriptedApi;
  /** Each image as pods pull it from the node's registry. */
  images: Record<ProjectImage, string>;
  kubectl(...args: string[]): Promise<ToolResult>;
  helm(...args: string[]): Promise<ToolResult>;
  /** kubectl ... -o json, parsed; throws with kubectl's stderr. */
  json<T>(...args: string[]): Promise<T>;
  /** Idempotent. */
  stop(): Promise<void>;
}

/** The cluster and the images, before the chart: minutes when an image's inputs changed, else seconds. */
export async function startChartBed(dir: string): Promise<ChartBed> {
  const built = await projectImages();
  await fs.mkdir(dir, { recursive: true });
  let controlPlane: ControlPlane | undefined;
  let node: RealNode | undefined;
  let scriptedApi: ScriptedApi | undefined;
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      await scriptedApi?.close();
      await node?.stop();
      await controlPlane?.stop();
    })();
    return stopping;
  };
  try {
    controlPlane = await startControlPlane(path.join(dir, 'control-plane'), { advertiseAddress: podNetwork.hostIp, scheduler: true });
    node = await startRealNode({ dir: path.join(dir, 'node'), nodeName: 'chart-node', storage: true, ...controlPlaneOf(controlPlane.adminKubeconfig) });
    const images = {} as Record<ProjectImage, string>;
    for (const [name, image] of Object.entries(built) as Array<[ProjectImage, typeof built[ProjectImage]]>) images[name] = await node.pushImage(image);
    scriptedApi = await startScriptedApi({ host: podNetwork.hostIp });
    const cp = controlPlane;
    const kubectl = (...args: string[]) => runTool(cp.kubectl, ['--kubeconfig', cp.adminKubeconfig, ...args]);
    return {
      dir, controlPlane, node, scriptedApi, images, kubectl, stop,
      helm: (...args) => runTool(cp.helm, ['--kubeconfig', cp.adminKubeconfig, ...args]),
      async json<T>(...args: string[]) {
        const result = await kubectl(...args, '-o', 'json');
        if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${result.stderr}`);
        return JSON.parse(result.stdout) as T;
      },
    };
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
}

/** --set flags for one of the chart's image values (repository and tag) from a reference. */
function imageValues(value: string, ref: string): string[] {
  const [repository, tag] = ref.split(/:(?=[^:/]+$)/);
  // --set-string: a tag of digits alone would be a number, which the values' schema refuses.
  return ['--set', `${value}.repository=${repository}`, '--set-string', `${value}.tag=${tag}`];
}

/** `helm install --wait` of the chart with the images built here, the evaluation Postgres (on a PVC of the
 * node's default StorageClass) and Redis, and the scripted Messages API as the model. */
export async function installChart(bed: ChartBed, ...extra: string[]): Promise<ToolResult> {
  const { images } = bed;
  return bed.helm('install', chartRelease, chart, '--namespace', chartNamespace, '--create-namespace', '--wait', '--timeout', '6m',
    ...imageValues('operator.image', images.operator), ...imageValues('api.image', images.api), ...imageValues('runner.image', images.runner),
    '--set', 'postgres.enabled=true', '--set', `postgres.image=${images.postgres}`, '--set', 'postgres.storage=1Gi',
    '--set', 'redis.enabled=true', '--set', `redis.image=${images.redis}`,
    '--set', `operator.anthropicBaseUrl=${bed.scriptedApi.url}`, ...extra);
}

/** What a user of the installed system needs, from the host: the API by its Service's ClusterIP, a token
 * signed with the chart's key (every namespace, role admin), and the datastores by theirs. */
export async function chartSettings(bed: ChartBed): Promise<Record<string, string>> {
  const clusterIp = async (service: string) =>
    (await bed.json<{ spec: { clusterIP: string } }>('get', 'service', service, '--namespace', chartNamespace)).spec.clusterIP;
  const secret = async (name: string, key: string) =>
    Buffer.from((await bed.json<{ data: Record<string, string> }>('get', 'secret', name, '--namespace', chartNamespace)).data[key]!, 'base64');
  const jwtSecret = await secret(`${chartRelease}-api-jwt`, 'hs256-secret');
  const issuer = 'claude-operator';
  const audience = 'claude-operator-api';
  const token = await new SignJWT({ tenant: 'admin', namespaces: ['*'], role: 'admin' })
    .setProtectedHeader({ alg: 'HS256' }).setIssuer(issuer).setAudience(audience).setSubject('up-admin')
    .setIssuedAt().setExpirationTime('30d').sign(jwtSecret);
  // The chart's URL names the Service by its DNS name, which the host cannot resolve: the same URL at the ClusterIP.
  const databaseUrl = new URL((await secret(`${chartRelease}-postgres`, 'url')).toString());
  databaseUrl.hostname = await clusterIp(`${chartRelease}-postgres`);
  return {
    KUBECONFIG: bed.controlPlane.adminKubeconfig,
    KUBECTL: bed.controlPlane.kubectl,
    HELM: bed.controlPlane.helm,
    API_URL: `http://${await clusterIp(`${chartRelease}-api`)}`,
    API_TOKEN: token,
    API_JWT_SECRET: jwtSecret.toString(),
    API_JWT_ISSUER: issuer,
    API_JWT_AUDIENCE: audience,
    DATABASE_URL: databaseUrl.toString(),
    REDIS_URL: `redis://${await clusterIp(`${chartRelease}-redis`)}:6379`,
    ANTHROPIC_BASE_URL: bed.scriptedApi.url,
    REGISTRY: bed.node.images.busybox.split('/')[0]!,
    RELEASE: chartRelease,
    RELEASE_NAMESPACE: chartNamespace,
    BED_DIR: bed.dir,
  };
}

/** What `up` runs: the settings a user needs, and the node's own faults for the chaos suite. */
export interface ChartStack {
  settings: Record<string, string>;
  /** The cluster under the chart: its control plane (fault 5 restarts the apiserver) and node. */
  bed: ChartBed;
  /** kubelet and containerd restarted, as `systemctl restart` would (RealNode.restartRuntime). */
  restartRuntime(): Promise<void>;
  stop(): Promise<void>;
}

/** `up`: the bed, the chart installed, the key tasks in `default` use, and the settings. */
export async function startChartStack(dir: string): Promise<ChartStack> {
  const bed = await startChartBed(dir);
  try {
    const install = await installChart(bed);
    if (install.code !== 0) {
      const pods = await bed.kubectl('get', 'pods', '--all-namespaces', '-o', 'wide');
      throw new Error(`helm install failed: ${install.stderr}\n${pods.stdout}`);
    }
    const secret = await bed.kubectl('create', 'secret', 'generic', 'anthropic-api-key', '--namespace', 'default', '--from-literal=api-key=scripted-api-key');
    if (secret.code !== 0) throw new Error(`creating the API key Secret: ${secret.stderr}`);
    return { settings: await chartSettings(bed), bed, restartRuntime: () => bed.node.restartRuntime(), stop: () => bed.stop() };
  } catch (error) {
    await bed.stop().catch(() => undefined);
    throw error;
  }
}
