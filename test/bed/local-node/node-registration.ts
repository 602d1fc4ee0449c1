// The Node object and its heartbeats: a Lease renewed every 10 s and a Ready
// condition refreshed every 30 s, as a kubelet does, so the real node-lifecycle
// controller keeps the node Ready.
import os from 'node:os';
import { microTime } from '../../../operator/src/kube/micro-time.ts';
import { CoordinationV1Api, CoreV1Api, PatchStrategy, setHeaderOptions, type V1LeaseSpec, type V1Node, type V1NodeStatus } from '@kubernetes/client-node';

export const kubeletVersion = 'v1.36.3';

export function nodeStatus(now: Date): V1NodeStatus {
  const capacity = { cpu: String(os.cpus().length), memory: `${Math.floor(os.totalmem() / 1024)}Ki`, pods: '110', 'ephemeral-storage': '100Gi' };
  const condition = (type: string, status: string, reason: string, message: string) =>
    ({ type, status, reason, message, lastHeartbeatTime: now, lastTransitionTime: now });
  return {
    capacity,
    allocatable: capacity,
    conditions: [
      condition('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'local node has sufficient memory'),
      condition('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'local node has no disk pressure'),
      condition('PIDPressure', 'False', 'KubeletHasSufficientPID', 'local node has sufficient PID available'),
      condition('Ready', 'True', 'KubeletReady', 'local node is posting ready status'),
    ],
    addresses: [{ type: 'InternalIP', address: '127.0.0.1' }, { type: 'Hostname', address: os.hostname() }],
    daemonEndpoints: { kubeletEndpoint: { Port: 0 } },
    nodeInfo: {
      architecture: 'amd64',
      operatingSystem: 'linux',
      osImage: 'claude-operator test bed',
      kernelVersion: os.release(),
      kubeletVersion,
      kubeProxyVersion: '',
      containerRuntimeVersion: 'local-process://1.0',
      machineID: 'local', systemUUID: 'local', bootID: 'local',
    },
  };
}

export class NodeRegistration {
  private readonly core: CoreV1Api;
  private readonly coordination: CoordinationV1Api;
  private readonly nodeName: string;
  private timers: NodeJS.Timeout[] = [];

  constructor(core: CoreV1Api, coordination: CoordinationV1Api, nodeName: string) {
    this.core = core;
    this.coordination = coordination;
    this.nodeName = nodeName;
  }

  async register(): Promise<void> {
    const node: V1Node = {
      metadata: {
        name: this.nodeName,
        labels: { 'kubernetes.io/hostname': this.nodeName, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64' },
      },
    };
    await this.core.createNode({ body: node }).catch((error: { code?: number }) => {
      if (error.code !== 409) throw error;
    });
    await this.postStatus();
    await this.renewLease();
    this.timers = [
      setInterval(() => void this.renewLease().catch(() => undefined), 10_000),
      setInterval(() => void this.postStatus().catch(() => undefined), 30_000),
    ];
  }

  stop(): void {
    for (const timer of this.timers) clearInterval(timer);
  }

  private async postStatus(): Promise<void> {
    await this.core.patchNodeStatus({ name: this.nodeName, body: { status: nodeStatus(new Date()) } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
  }

  private async renewLease(): Promise<void> {
    const namespace = 'kube-node-lease';
    const spec = { holderIdentity: this.nodeName, leaseDurationSeconds: 40, renewTime: microTime(new Date()) };
    try {
      await this.coordination.patchNamespacedLease({ name: this.nodeName, namespace, body: { spec } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    } catch (error) {
      if ((error as { code?: number }).code !== 404) throw error;
      // The typed body would serialize renewTime with milliseconds, which a
      // MicroTime field refuses; a string in the body goes through as written.
      await this.coordination.createNamespacedLease({ namespace,
        body: { metadata: { name: this.nodeName }, spec: spec as unknown as V1LeaseSpec } });
    }
  }
}
