// The local node: a process standing in for a kubelet (and for the scheduler,
// for pods that have none). It binds pending pods to itself and runs their
// containers as host processes through PodWorker. Level-triggered: a watch makes
// it react at once, and a relist every few seconds repairs anything a watch missed.
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  CoordinationV1Api, CoreV1Api, KubeConfig, PatchStrategy, Watch, setHeaderOptions, type V1Pod,
} from '@kubernetes/client-node';
import { defaultImageTable, type ImageMapping } from './images.ts';
import { NodeRegistration } from './node-registration.ts';
import { PodWorker } from './pod-worker.ts';
import type { EnvSources } from './env.ts';
import type { VolumeSources } from './volumes.ts';

export interface LocalNodeOptions {
  kubeConfig: KubeConfig;
  nodeName: string;
  podsDir: string;
  imageTable?: ImageMapping[];
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

const relistMs = 3_000;

export class LocalNode {
  private readonly core: CoreV1Api;
  private readonly options: LocalNodeOptions;
  private readonly registration: NodeRegistration;
  private readonly workers = new Map<string, PodWorker>();
  private readonly deleting = new Set<string>();
  private watchAbort: AbortController | undefined;
  private relistTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(options: LocalNodeOptions) {
    this.options = options;
    this.core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.registration = new NodeRegistration(this.core, options.kubeConfig.makeApiClient(CoordinationV1Api), options.nodeName);
  }

  async start(): Promise<void> {
    await this.registration.register();
    await this.relist();
    this.relistTimer = setInterval(() => void this.relist().catch((error: unknown) => this.log('relist failed', { error: String(error) })), relistMs);
    void this.watch();
  }

  /** Stops every pod's processes (no grace) and the heartbeats. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.relistTimer);
    this.watchAbort?.abort();
    this.registration.stop();
    await Promise.all([...this.workers.values()].map((worker) => worker.stop(0)));
  }

  private log(message: string, fields?: Record<string, unknown>): void {
    this.options.log?.(message, fields);
  }

  private async relist(): Promise<void> {
    // Only workers that existed before the list can be missing from it: one the
    // watch started meanwhile is for a pod newer than the list.
    const before = new Set(this.workers.keys());
    const pods = await this.core.listPodForAllNamespaces({});
    const seen = new Set<string>();
    for (const pod of pods.items) {
      seen.add(pod.metadata?.uid ?? '');
      await this.handle(pod);
    }
    for (const [uid, worker] of this.workers) {
      if (before.has(uid) && !seen.has(uid)) {
        // Gone from the API without passing through us (force delete): stop it.
        void worker.stop(0);
        this.workers.delete(uid);
      }
    }
  }

  private async watch(): Promise<void> {
    while (!this.stopped) {
      await new Promise<void>((resolve) => {
        new Watch(this.options.kubeConfig)
          .watch('/api/v1/pods', { allowWatchBookmarks: false }, (type, pod: V1Pod) => {
            if (type === 'DELETED') this.forget(pod);
            else void this.handle(pod).catch((error: unknown) => this.log('handle failed', { error: String(error) }));
          }, () => resolve())
          .then((abort) => { this.watchAbort = abort; })
          .catch(() => resolve());
      });
      if (!this.stopped) await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  private forget(pod: V1Pod): void {
    const uid = pod.metadata?.uid ?? '';
    const worker = this.workers.get(uid);
    if (worker) void worker.stop(0);
    this.workers.delete(uid);
    this.deleting.delete(uid);
  }

  private async handle(pod: V1Pod): Promise<void> {
    if (this.stopped) return;
    const uid = pod.metadata?.uid ?? '';
    const name = pod.metadata?.name ?? '';
    const namespace = pod.metadata?.namespace ?? '';
    if (!pod.spec?.nodeName) {
      if (pod.metadata?.deletionTimestamp) return;
      await this.core.createNamespacedPodBinding({
        name, namespace,
        body: { metadata: { name, namespace }, target: { apiVersion: 'v1', kind: 'Node', name: this.options.nodeName } },
      }).catch((error: { code?: number }) => {
        if (error.code !== 409 && error.code !== 404) throw error; // 409: bound already
      });
      return;
    }
    if (pod.spec.nodeName !== this.options.nodeName) return;
    const worker = this.workers.get(uid);
    const terminal = pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
    if (pod.metadata?.deletionTimestamp) {
      if (this.deleting.has(uid)) return;
      this.deleting.add(uid);
      const grace = pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30;
      this.log('stopping pod', { pod: `${namespace}/${name}`, grace, running: worker !== undefined });
      if (worker) {
        await worker.stop(grace);
      } else if (!terminal) {
        await this.writeStatus(pod, { phase: 'Failed', reason: 'Terminated', message: 'deleted before it ran on the local node' });
      }
      // Like the kubelet: once the containers are gone, finish the deletion. (With
      // a body the apiserver reads DeleteOptions from it and ignores the query.)
      await this.core.deleteNamespacedPod({ name, namespace, body: { gracePeriodSeconds: 0, preconditions: { uid } } })
        .catch((error: { code?: number }) => {
          // A failure is retried by the next relist; 404 means it is gone already.
          this.deleting.delete(uid);
          if (error.code !== 404) this.log('delete failed', { pod: `${namespace}/${name}`, error: String(error) });
        });
      return;
    }
    if (worker || terminal) return;
    if (pod.status?.startTime) {
      // Started by an earlier local-node process whose children died with it.
      await this.writeStatus(pod, { phase: 'Failed', reason: 'NodeRestarted', message: 'the local node restarted and its processes are gone' });
      return;
    }
    this.workers.set(uid, new PodWorker(pod, {
      podsDir: this.options.podsDir,
      imageTable: this.options.imageTable ?? defaultImageTable,
      envSources: this.envSources(),
      volumeSources: this.volumeSources(),
      baseEnv: this.baseEnv(),
      writeStatus: (p, status) => this.writeStatus(p, status),
      log: (message, fields) => this.log(message, fields),
    }));
  }

  private async writeStatus(pod: V1Pod, status: object): Promise<void> {
    await this.core.patchNamespacedPodStatus(
      { name: pod.metadata?.name ?? '', namespace: pod.metadata?.namespace ?? '', body: { status } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  }

  private baseEnv(): Record<string, string> {
    const server = new URL(this.options.kubeConfig.getCurrentCluster()?.server ?? 'https://127.0.0.1:443');
    return {
      PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      KUBERNETES_SERVICE_HOST: server.hostname,
      KUBERNETES_SERVICE_PORT: server.port || '443',
      KUBERNETES_SERVICE_PORT_HTTPS: server.port || '443',
    };
  }

  private async readData(kind: 'secret' | 'configmap', namespace: string, name: string): Promise<Record<string, Buffer> | undefined> {
    try {
      if (kind === 'secret') {
        const secret = await this.core.readNamespacedSecret({ name, namespace });
        return Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
      }
      const configMap = await this.core.readNamespacedConfigMap({ name, namespace });
      return {
        ...Object.fromEntries(Object.entries(configMap.data ?? {}).map(([k, v]) => [k, Buffer.from(v)])),
        ...Object.fromEntries(Object.entries(configMap.binaryData ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
      };
    } catch (error) {
      if ((error as { code?: number }).code === 404) return undefined;
      throw error;
    }
  }

  private envSources(): EnvSources {
    const asText = (data: Record<string, Buffer> | undefined) =>
      data && Object.fromEntries(Object.entries(data).map(([k, v]) => [k, v.toString('utf8')]));
    return {
      secret: async (namespace, name) => asText(await this.readData('secret', namespace, name)),
      configMap: async (namespace, name) => asText(await this.readData('configmap', namespace, name)),
    };
  }

  private volumeSources(): VolumeSources {
    return {
      secret: (namespace, name) => this.readData('secret', namespace, name),
      configMap: (namespace, name) => this.readData('configmap', namespace, name),
      serviceAccountToken: async (pod, audience, expirationSeconds) => {
        const response = await this.core.createNamespacedServiceAccountToken({
          name: pod.spec?.serviceAccountName ?? 'default',
          namespace: pod.metadata?.namespace ?? 'default',
          body: {
            spec: {
              audiences: audience ? [audience] : [],
              expirationSeconds,
              boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata?.name, uid: pod.metadata?.uid },
            },
          },
        });
        return response.status?.token ?? '';
      },
      persistentVolumeClaim: (namespace, claimName) => this.claimDir(namespace, claimName),
    };
  }

  /**
   * A claim's data: a directory per claim uid next to the pods' directories, so a
   * claim deleted and made again under the same name starts empty, as a new volume
   * would. No PersistentVolume is made: the claim stays Pending, which nothing on
   * this node waits for (the node binds its pods itself).
   */
  private async claimDir(namespace: string, claimName: string): Promise<string | undefined> {
    let uid: string | undefined;
    try {
      uid = (await this.core.readNamespacedPersistentVolumeClaim({ name: claimName, namespace })).metadata?.uid;
    } catch (error) {
      if ((error as { code?: number }).code === 404) return undefined;
      throw error;
    }
    if (!uid) return undefined;
    const dir = path.join(path.dirname(this.options.podsDir), 'persistent-volume-claims', uid);
    await fs.mkdir(dir, { recursive: true, mode: 0o777 });
    return dir;
  }
}
