// The chaos suite's view of the system `up` installs on the real node (the chart in
// claude-system, every part a pod): which pods a component runs, how to SIGKILL a
// container as the OOM killer or a crash would (through containerd, so kubelet sees
// an exit and restarts it by the pod's restartPolicy), and a pod's network namespace,
// where a fault can cut a path with an iptables rule that goes with the pod.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { chartNamespace, chartRelease, type ChartStack } from '../bed/chart-stack.ts';
import { waitFor } from '../bed/process.ts';
import type { ClientSettings } from './fault.ts';

const run = promisify(execFile);

export type Component = 'operator' | 'api' | 'redis' | 'postgres';

export interface PodView {
  metadata: { name: string; namespace: string; uid: string };
  status?: {
    phase?: string;
    podIP?: string;
    conditions?: Array<{ type: string; status: string }>;
    containerStatuses?: Array<{ name: string; containerID?: string; restartCount: number; ready: boolean; state?: { running?: unknown } }>;
  };
}

interface LeaseView { spec?: { holderIdentity?: string; renewTime?: string } }

const componentSelector = (component: Component) => `app.kubernetes.io/instance=${chartRelease},app.kubernetes.io/component=${component}`;

export const isReady = (pod: PodView) => pod.status?.conditions?.some((condition) => condition.type === 'Ready' && condition.status === 'True') === true;
const restartsOf = (pod: PodView) => (pod.status?.containerStatuses ?? []).reduce((sum, container) => sum + container.restartCount, 0);

export class RealNodeSystem {
  readonly stack: ChartStack;
  readonly settings: ClientSettings;

  constructor(stack: ChartStack) {
    this.stack = stack;
    const keys = ['KUBECONFIG', 'DATABASE_URL', 'REDIS_URL', 'API_URL', 'API_TOKEN', 'API_JWT_SECRET', 'API_JWT_ISSUER', 'API_JWT_AUDIENCE'] as const;
    const missing = keys.filter((key) => !stack.settings[key]);
    if (missing.length) throw new Error(`the real-node system's settings lack ${missing.join(', ')}`);
    this.settings = Object.fromEntries(keys.map((key) => [key, stack.settings[key]!])) as ClientSettings;
  }

  async podsIn(namespace: string, selector?: string): Promise<PodView[]> {
    const args = ['get', 'pods', '--namespace', namespace, ...(selector ? ['--selector', selector] : [])];
    return (await this.stack.bed.json<{ items: PodView[] }>(...args)).items;
  }

  /** The chart's pods of one component, by name. */
  async pods(component: Component): Promise<PodView[]> {
    return (await this.podsIn(chartNamespace, componentSelector(component))).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  }

  /** Each pod of the components with its uid and restarts: it changes when a container of theirs
   * dies (a restart) or a pod is replaced, and not otherwise. */
  async crashSignature(...components: Component[]): Promise<string> {
    const pods = (await Promise.all(components.map((component) => this.pods(component)))).flat();
    return pods.map((pod) => `${pod.metadata.name}/${pod.metadata.uid}:${restartsOf(pod)}`).join(' ');
  }

  /** The operator replica holding the leader Lease, and when it last renewed it. */
  async leader(): Promise<{ holder: string; renewedAt: number } | undefined> {
    const lease = await this.stack.bed.json<LeaseView>('get', 'lease', 'claude-operator-leader', '--namespace', chartNamespace).catch(() => undefined);
    const holder = lease?.spec?.holderIdentity;
    const renewTime = lease?.spec?.renewTime;
    return holder && renewTime ? { holder, renewedAt: Date.parse(renewTime) } : undefined;
  }

  /** Whether a replica renewed the Lease after `sinceMs` (Date.now() time): someone leads again. */
  async leaseRenewedSince(sinceMs: number): Promise<boolean> {
    const leader = await this.leader();
    return leader !== undefined && leader.renewedAt > sinceMs;
  }

  /** The container id containerd knows a pod's container by (its first, or the one named). */
  containerId(pod: PodView, container?: string): string {
    const status = (pod.status?.containerStatuses ?? []).find((candidate) => !container || candidate.name === container);
    const id = status?.containerID?.replace(/^containerd:\/\//, '');
    if (!id) throw new Error(`pod ${pod.metadata.namespace}/${pod.metadata.name} has no running container${container ? ` ${container}` : ''}`);
    return id;
  }

  /** SIGKILL to a pod's container through containerd: kubelet sees it exit and restarts it. */
  async kill(pod: PodView, container?: string): Promise<void> {
    await this.stack.bed.node.ctr('task', 'kill', '--signal', 'SIGKILL', this.containerId(pod, container));
  }

  /** Until the pod has restarted a container since `before` (its view then) and is Ready again. */
  async waitRestarted(component: Component, before: PodView, timeoutMs = 180_000): Promise<void> {
    await waitFor(`${before.metadata.name} restarted and Ready`, async () => {
      const now = (await this.pods(component)).find((pod) => pod.metadata.uid === before.metadata.uid);
      return now !== undefined && restartsOf(now) > restartsOf(before) && isReady(now);
    }, { timeoutMs, intervalMs: 250 });
  }

  /** The last lines each pod of a component logged (its previous container's too, after a restart). */
  async logs(component: Component, lines = 40): Promise<string> {
    const result = await this.stack.bed.kubectl('logs', '--namespace', chartNamespace, '--selector', componentSelector(component),
      '--tail', String(lines), '--prefix', '--all-containers');
    return result.stdout || result.stderr;
  }

  /** The host pid of a pod's container's first process (containerd's `task ls`). */
  async containerPid(pod: PodView, container?: string): Promise<number> {
    const id = this.containerId(pod, container);
    const line = (await this.stack.bed.node.ctr('task', 'ls')).split('\n').find((row) => row.split(/\s+/)[0] === id);
    const pid = Number(line?.split(/\s+/)[1]);
    if (!pid) throw new Error(`containerd has no running task for ${pod.metadata.name} (${id})`);
    return pid;
  }

  /** iptables in a pod's network namespace: a rule there touches that pod alone and goes with it. */
  async iptablesInPod(pod: PodView, ...args: string[]): Promise<void> {
    const pid = await this.containerPid(pod);
    await run('nsenter', ['--target', String(pid), '--net', 'iptables', '-w', ...args]);
  }
}
