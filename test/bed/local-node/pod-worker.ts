// One pod's life on the local node: volumes, init containers in order, then the
// containers as host processes, restarts by restartPolicy, status reports, and
// stopping with the grace period on deletion or at activeDeadlineSeconds.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { V1Container, V1Pod, V1PodStatus } from '@kubernetes/client-node';
import { ContainerConfigError, resolveContainerEnv, type EnvSources } from './env.ts';
import { containerArgv, type ImageMapping } from './images.ts';
import { buildPodStatus, podPhase, terminationOf, type ContainerRecord, type PodRecord } from './pod-status.ts';
import { materializeVolumes, mountVolumes, type VolumeSources } from './volumes.ts';

export interface PodWorkerDeps {
  podsDir: string;
  imageTable: ImageMapping[];
  envSources: EnvSources;
  volumeSources: VolumeSources;
  /** Variables every container gets first (PATH, KUBERNETES_SERVICE_*). */
  baseEnv: Record<string, string>;
  writeStatus(pod: V1Pod, status: V1PodStatus): Promise<void>;
  log(message: string, fields?: Record<string, unknown>): void;
  now?: () => Date;
}

const retryConfigMs = 2_000;

export class PodWorker {
  readonly uid: string;
  private readonly pod: V1Pod;
  private readonly deps: PodWorkerDeps;
  private readonly record: PodRecord;
  private readonly processes = new Map<string, ChildProcess>();
  private readonly podDir: string;
  private stopRequested: { reason?: string; message?: string; graceSeconds: number } | undefined;
  private readonly wakers = new Set<() => void>();
  private writing: Promise<void> = Promise.resolve();
  private deadlineTimer: NodeJS.Timeout | undefined;
  /** Resolves when every container has ended and the final status is written. */
  readonly finished: Promise<void>;

  constructor(pod: V1Pod, deps: PodWorkerDeps) {
    this.pod = pod;
    this.deps = deps;
    this.uid = pod.metadata?.uid ?? '';
    this.podDir = path.join(deps.podsDir, `${pod.metadata?.namespace}_${pod.metadata?.name}_${this.uid}`);
    const waiting = (c: V1Container): ContainerRecord =>
      ({ name: c.name, image: c.image ?? '', run: { kind: 'waiting', reason: 'PodInitializing' }, restartCount: 0 });
    this.record = {
      initContainers: (pod.spec?.initContainers ?? []).map(waiting),
      containers: (pod.spec?.containers ?? []).map((c) => ({ ...waiting(c), run: { kind: 'waiting', reason: 'ContainerCreating' } })),
    };
    this.finished = this.run().catch((error: unknown) => {
      this.deps.log('pod worker failed', { pod: this.key, error: String(error) });
    });
  }

  get key(): string {
    return `${this.pod.metadata?.namespace}/${this.pod.metadata?.name}`;
  }

  /** Stops the containers: SIGTERM, then SIGKILL after the grace period. */
  stop(graceSeconds: number, ended?: { reason: string; message: string }): Promise<void> {
    this.stopRequested ??= { graceSeconds, ...ended };
    // As the kubelet does on activeDeadlineSeconds: the pod is Failed with the reason at once, while its containers
    // stop; otherwise a container's exit reported first says Failed without one.
    if (ended && !this.record.ended) {
      this.record.ended = { ...ended };
      void this.report();
    }
    for (const wake of this.wakers) wake();
    for (const child of this.processes.values()) signalGroup(child, 'SIGTERM');
    const killTimer = setTimeout(() => {
      for (const child of this.processes.values()) signalGroup(child, 'SIGKILL');
    }, Math.max(0, graceSeconds) * 1000);
    return this.finished.finally(() => clearTimeout(killTimer));
  }

  private now(): Date {
    return this.deps.now?.() ?? new Date();
  }

  private async run(): Promise<void> {
    fs.mkdirSync(path.join(this.podDir, 'logs'), { recursive: true });
    const rootfs = path.join(this.podDir, 'rootfs');
    fs.mkdirSync(path.join(rootfs, 'root'), { recursive: true });
    fs.mkdirSync(path.join(rootfs, 'dev'), { recursive: true });
    const volumeDirs = await this.prepareVolumes();
    if (volumeDirs && !this.stopRequested) {
      this.record.startTime = this.now();
      this.armDeadline();
      await this.report();
      await this.runInitContainers(rootfs, volumeDirs);
      if (!this.stopRequested && podPhase(this.record) !== 'Failed') {
        const specs = this.pod.spec?.containers ?? [];
        await Promise.all(specs.map((spec, index) => this.runContainer(spec, this.record.containers[index]!, rootfs, volumeDirs)));
      }
    }
    clearTimeout(this.deadlineTimer);
    this.endUnfinishedContainers();
    await this.report();
  }

  private async prepareVolumes(): Promise<Map<string, string> | undefined> {
    while (!this.stopRequested) {
      try {
        return await materializeVolumes(this.pod, this.podDir, this.deps.volumeSources);
      } catch (error) {
        if (!(error instanceof ContainerConfigError)) throw error;
        for (const c of this.record.containers) c.run = { kind: 'waiting', reason: 'CreateContainerConfigError', message: error.message };
        await this.report();
        await this.sleep(retryConfigMs);
      }
    }
    return undefined;
  }

  private armDeadline(): void {
    const seconds = this.pod.spec?.activeDeadlineSeconds;
    if (seconds === undefined) return;
    this.deadlineTimer = setTimeout(() => {
      void this.stop(this.pod.spec?.terminationGracePeriodSeconds ?? 30, {
        reason: 'DeadlineExceeded',
        message: `Pod was active on the node longer than the specified deadline`,
      });
    }, seconds * 1000);
  }

  private async runInitContainers(rootfs: string, volumeDirs: Map<string, string>): Promise<void> {
    const specs = this.pod.spec?.initContainers ?? [];
    for (const [index, spec] of specs.entries()) {
      const record = this.record.initContainers[index]!;
      await this.runContainer(spec, record, rootfs, volumeDirs);
      if (record.run.kind !== 'terminated' || record.run.exitCode !== 0) return;
    }
  }

  /** Runs one container until it ends for good under the pod's restartPolicy. */
  private async runContainer(spec: V1Container, record: ContainerRecord, rootfs: string, volumeDirs: Map<string, string>) {
    const policy = this.pod.spec?.restartPolicy ?? 'Always';
    for (let attempt = 0; !this.stopRequested; attempt++) {
      const argv = containerArgv(this.deps.imageTable, spec);
      if (!argv?.length) {
        record.run = { kind: 'waiting', reason: 'ErrImagePull',
          message: `image "${spec.image}" is not mapped to a local command (test/bed/local-node/images.ts)` };
        await this.report();
        await this.sleep(60 * 60_000);
        return;
      }
      let env: Record<string, string>;
      try {
        await mountVolumes(spec, rootfs, volumeDirs);
        env = await resolveContainerEnv(this.pod, spec, this.deps.envSources,
          { ...this.deps.baseEnv, HOSTNAME: this.pod.metadata?.name ?? '', HOME: path.join(rootfs, 'root'), LOCAL_NODE_ROOTFS: rootfs });
      } catch (error) {
        if (!(error instanceof ContainerConfigError)) throw error;
        record.run = { kind: 'waiting', reason: 'CreateContainerConfigError', message: error.message };
        await this.report();
        await this.sleep(retryConfigMs);
        continue;
      }
      const exit = await this.runProcess(spec, record, argv, env, rootfs);
      const restart = !this.stopRequested && (policy === 'Always' || (policy === 'OnFailure' && exit.exitCode !== 0));
      if (!restart) return;
      record.restartCount++;
      record.lastTermination = record.run.kind === 'terminated' ? record.run : undefined;
      record.run = { kind: 'waiting', reason: 'CrashLoopBackOff', message: `back-off restarting failed container ${spec.name}` };
      await this.report();
      // The kubelet backs off from 10 s to 5 min; shorter here so tests stay quick.
      await this.sleep(Math.min(1_000 * 2 ** attempt, 30_000));
    }
  }

  private async runProcess(spec: V1Container, record: ContainerRecord, argv: string[], env: Record<string, string>, rootfs: string) {
    const workingDir = spec.workingDir ? path.join(rootfs, spec.workingDir) : rootfs;
    fs.mkdirSync(workingDir, { recursive: true });
    const logFile = fs.openSync(path.join(this.podDir, 'logs', `${spec.name}.log`), 'a');
    const child = spawn('setpriv', ['--pdeathsig', 'SIGKILL', '--', ...argv], {
      cwd: workingDir, env, stdio: ['ignore', logFile, logFile], detached: true,
    });
    fs.closeSync(logFile);
    this.processes.set(spec.name, child);
    // A stop that came while the container was being set up reaches it now.
    if (this.stopRequested) signalGroup(child, 'SIGTERM');
    const startedAt = this.now();
    record.run = { kind: 'running', startedAt };
    void this.report();
    this.deps.log('container started', { pod: this.key, container: spec.name, pid: child.pid, argv0: argv[0] });
    const { code, signal } = await new Promise<{ code: number | null; signal: string | null }>((resolve) => {
      child.on('exit', (exitCode, exitSignal) => resolve({ code: exitCode, signal: exitSignal }));
      child.on('error', () => resolve({ code: 127, signal: null }));
    });
    // Whatever the container left running in its group goes with it.
    signalGroup(child, 'SIGKILL');
    this.processes.delete(spec.name);
    const termination = terminationOf(code, signal);
    const message = terminationMessage(spec, rootfs, path.join(this.podDir, 'logs', `${spec.name}.log`), termination.exitCode);
    record.run = { kind: 'terminated', ...termination, ...(message ? { message } : {}), startedAt, finishedAt: this.now() };
    this.deps.log('container exited', { pod: this.key, container: spec.name, exitCode: termination.exitCode });
    await this.report();
    return termination;
  }

  /** After a stop, containers that never ran are reported as runtimes do. */
  private endUnfinishedContainers(): void {
    if (!this.stopRequested) return;
    if (this.stopRequested.reason) this.record.ended = { reason: this.stopRequested.reason, message: this.stopRequested.message ?? '' };
    for (const c of [...this.record.initContainers, ...this.record.containers]) {
      if (c.run.kind === 'waiting') {
        c.run = { kind: 'terminated', exitCode: 137, reason: 'ContainerStatusUnknown',
          message: 'The container could not be located when the pod was terminated', startedAt: this.now(), finishedAt: this.now() };
      }
    }
  }

  /** Writes the current status; writes are serialized so the last one wins. */
  private report(): Promise<void> {
    this.writing = this.writing.then(() =>
      this.deps.writeStatus(this.pod, buildPodStatus(this.record, this.now())).catch((error: unknown) => {
        this.deps.log('status write failed', { pod: this.key, error: String(error) });
      }));
    return this.writing;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakers.add(done);
    });
  }
}

/** What the container wrote to its terminationMessagePath (under its rootfs),
 * or with FallbackToLogsOnError the tail of its log after a failure; 4 KiB at most. */
function terminationMessage(spec: V1Container, rootfs: string, logFile: string, exitCode: number): string | undefined {
  const limit = 4096;
  const read = (file: string) => {
    try {
      return fs.readFileSync(file, 'utf8');
    } catch {
      return '';
    }
  };
  const written = read(path.join(rootfs, spec.terminationMessagePath ?? '/dev/termination-log')).slice(0, limit);
  if (written) return written;
  if (spec.terminationMessagePolicy === 'FallbackToLogsOnError' && exitCode !== 0) return read(logFile).slice(-limit) || undefined;
  return undefined;
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is gone.
  }
}
