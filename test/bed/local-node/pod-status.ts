// The pod status the kubelet would report, from what the local node knows of the
// pod's processes. Pure: the tests table-test it.
import type { V1ContainerState, V1ContainerStatus, V1PodCondition, V1PodStatus } from '@kubernetes/client-node';

export type ContainerRun =
  | { kind: 'waiting'; reason: string; message?: string }
  | { kind: 'running'; startedAt: Date }
  | { kind: 'terminated'; exitCode: number; signal?: string; reason: string; message?: string; startedAt: Date; finishedAt: Date };

export interface ContainerRecord {
  name: string;
  image: string;
  run: ContainerRun;
  restartCount: number;
  lastTermination?: Extract<ContainerRun, { kind: 'terminated' }>;
}

export interface PodRecord {
  startTime?: Date;
  initContainers: ContainerRecord[];
  containers: ContainerRecord[];
  /** Set when the node itself ended the pod (deadline, deletion, lost process). */
  ended?: { reason: string; message: string };
}

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed';

export function podPhase(record: PodRecord): PodPhase {
  const all = [...record.initContainers, ...record.containers];
  const succeeded = (c: ContainerRecord) => c.run.kind === 'terminated' && c.run.exitCode === 0;
  if (record.ended) return record.containers.length > 0 && record.containers.every(succeeded) ? 'Succeeded' : 'Failed';
  if (record.initContainers.some((c) => c.run.kind === 'terminated' && c.run.exitCode !== 0)) return 'Failed';
  if (!record.initContainers.every(succeeded)) return 'Pending';
  if (record.containers.every((c) => c.run.kind === 'terminated')) {
    return record.containers.every(succeeded) ? 'Succeeded' : 'Failed';
  }
  if (all.some((c) => c.run.kind === 'running' || c.run.kind === 'terminated')) return 'Running';
  return 'Pending';
}

export function buildPodStatus(record: PodRecord, now: Date): V1PodStatus {
  const phase = podPhase(record);
  const initialized = record.initContainers.every((c) => c.run.kind === 'terminated' && c.run.exitCode === 0);
  const ready = phase === 'Running' && record.containers.every((c) => c.run.kind === 'running');
  const terminal = phase === 'Succeeded' || phase === 'Failed';
  const notReadyReason = terminal ? 'PodCompleted' : 'ContainersNotReady';
  const condition = (type: string, status: boolean, reason?: string): V1PodCondition => ({
    type, status: status ? 'True' : 'False', lastTransitionTime: now, ...(status || !reason ? {} : { reason }),
  });
  return {
    phase,
    ...(record.ended ? { reason: record.ended.reason, message: record.ended.message } : {}),
    hostIP: '127.0.0.1',
    hostIPs: [{ ip: '127.0.0.1' }],
    podIP: '127.0.0.1',
    podIPs: [{ ip: '127.0.0.1' }],
    ...(record.startTime ? { startTime: record.startTime } : {}),
    conditions: [
      condition('PodReadyToStartContainers', record.startTime !== undefined),
      condition('Initialized', initialized, 'ContainersNotInitialized'),
      condition('Ready', ready, notReadyReason),
      condition('ContainersReady', ready, notReadyReason),
      condition('PodScheduled', true),
    ],
    initContainerStatuses: record.initContainers.map(containerStatus),
    containerStatuses: record.containers.map(containerStatus),
  };
}

function containerStatus(c: ContainerRecord): V1ContainerStatus {
  return {
    name: c.name,
    image: c.image,
    imageID: `local://${c.image}`,
    containerID: `local://${c.name}`,
    ready: c.run.kind === 'running',
    started: c.run.kind === 'running',
    restartCount: c.restartCount,
    state: containerState(c.run),
    ...(c.lastTermination ? { lastState: containerState(c.lastTermination) } : {}),
  };
}

function containerState(run: ContainerRun): V1ContainerState {
  switch (run.kind) {
    case 'waiting': return { waiting: { reason: run.reason, ...(run.message ? { message: run.message } : {}) } };
    case 'running': return { running: { startedAt: run.startedAt } };
    case 'terminated': return {
      terminated: {
        exitCode: run.exitCode,
        reason: run.reason,
        ...(run.signal ? { signal: signalNumber(run.signal) } : {}),
        ...(run.message ? { message: run.message } : {}),
        startedAt: run.startedAt,
        finishedAt: run.finishedAt,
      },
    };
  }
}

const signals: Record<string, number> = { SIGKILL: 9, SIGTERM: 15, SIGINT: 2 };
function signalNumber(signal: string): number {
  return signals[signal] ?? 0;
}

/** Exit code and reason of a process, as a container runtime reports them. */
export function terminationOf(code: number | null, signal: string | null): { exitCode: number; reason: string; signal?: string } {
  if (signal) return { exitCode: 128 + signalNumber(signal), reason: 'Error', signal };
  return { exitCode: code ?? 1, reason: code === 0 ? 'Completed' : 'Error' };
}
