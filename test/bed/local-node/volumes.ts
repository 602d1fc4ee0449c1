// Volumes as directories. There is no mount namespace per pod, so each volume is
// a directory under the pod's dir, and each volumeMount is a symlink at
// <rootfs>/<mountPath>; the container sees LOCAL_NODE_ROOTFS=<rootfs> and
// resolves absolute mount paths under it.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { V1Container, V1KeyToPath, V1Pod, V1Volume } from '@kubernetes/client-node';
import { ContainerConfigError, podField } from './env.ts';

export interface VolumeSources {
  secret(namespace: string, name: string): Promise<Record<string, Buffer> | undefined>;
  configMap(namespace: string, name: string): Promise<Record<string, Buffer> | undefined>;
  /** A TokenRequest for the pod's ServiceAccount, bound to the pod. */
  serviceAccountToken(pod: V1Pod, audience: string | undefined, expirationSeconds: number): Promise<string>;
  /** The directory that holds the claim's data on this node; undefined when there is no such claim. */
  persistentVolumeClaim(namespace: string, claimName: string): Promise<string | undefined>;
}

export async function materializeVolumes(pod: V1Pod, podDir: string, sources: VolumeSources): Promise<Map<string, string>> {
  const dirs = new Map<string, string>();
  for (const volume of pod.spec?.volumes ?? []) {
    if (volume.persistentVolumeClaim) {
      // Outlives the pod, as a PVC does; the kubelet's message when the claim is missing.
      const claimName = volume.persistentVolumeClaim.claimName;
      const claimDir = await sources.persistentVolumeClaim(pod.metadata?.namespace ?? 'default', claimName);
      if (!claimDir) throw new ContainerConfigError(`persistentvolumeclaim "${claimName}" not found`);
      dirs.set(volume.name, claimDir);
      continue;
    }
    const dir = path.join(podDir, 'volumes', volume.name);
    await fs.rm(dir, { recursive: true, force: true });
    await fs.mkdir(dir, { recursive: true });
    if (volume.hostPath) {
      dirs.set(volume.name, volume.hostPath.path);
      continue;
    }
    await fillVolume(pod, volume, dir, sources);
    dirs.set(volume.name, dir);
  }
  return dirs;
}

async function fillVolume(pod: V1Pod, volume: V1Volume, dir: string, sources: VolumeSources): Promise<void> {
  const namespace = pod.metadata?.namespace ?? 'default';
  if (volume.emptyDir) return;
  if (volume.secret) {
    const data = await sources.secret(namespace, volume.secret.secretName ?? '');
    if (!data && !volume.secret.optional) throw new ContainerConfigError(`secret "${volume.secret.secretName}" not found`);
    await writeKeys(dir, data ?? {}, volume.secret.items, volume.secret.defaultMode ?? 0o644);
    return;
  }
  if (volume.configMap) {
    const data = await sources.configMap(namespace, volume.configMap.name ?? '');
    if (!data && !volume.configMap.optional) throw new ContainerConfigError(`configmap "${volume.configMap.name}" not found`);
    await writeKeys(dir, data ?? {}, volume.configMap.items, volume.configMap.defaultMode ?? 0o644);
    return;
  }
  if (volume.projected) {
    const mode = volume.projected.defaultMode ?? 0o644;
    for (const source of volume.projected.sources ?? []) {
      if (source.secret) {
        const data = await sources.secret(namespace, source.secret.name ?? '');
        if (!data && !source.secret.optional) throw new ContainerConfigError(`secret "${source.secret.name}" not found`);
        await writeKeys(dir, data ?? {}, source.secret.items, mode);
      } else if (source.configMap) {
        const data = await sources.configMap(namespace, source.configMap.name ?? '');
        if (!data && !source.configMap.optional) throw new ContainerConfigError(`configmap "${source.configMap.name}" not found`);
        await writeKeys(dir, data ?? {}, source.configMap.items, mode);
      } else if (source.downwardAPI) {
        for (const item of source.downwardAPI.items ?? []) {
          if (item.fieldRef) await writeFile(dir, item.path, Buffer.from(podField(pod, item.fieldRef.fieldPath)), mode);
        }
      } else if (source.serviceAccountToken) {
        const token = await sources.serviceAccountToken(pod, source.serviceAccountToken.audience,
          source.serviceAccountToken.expirationSeconds ?? 3607);
        await writeFile(dir, source.serviceAccountToken.path, Buffer.from(token), 0o600);
      }
    }
    return;
  }
  if (volume.downwardAPI) {
    for (const item of volume.downwardAPI.items ?? []) {
      if (item.fieldRef) await writeFile(dir, item.path, Buffer.from(podField(pod, item.fieldRef.fieldPath)), 0o644);
    }
    return;
  }
  throw new ContainerConfigError(`volume ${volume.name}: this type is not supported by the test bed's local node`);
}

async function writeKeys(dir: string, data: Record<string, Buffer>, items: V1KeyToPath[] | undefined, mode: number) {
  if (items?.length) {
    for (const item of items) {
      const value = data[item.key];
      if (value === undefined) throw new ContainerConfigError(`key ${item.key} not found`);
      await writeFile(dir, item.path, value, item.mode ?? mode);
    }
    return;
  }
  for (const [key, value] of Object.entries(data)) await writeFile(dir, key, value, mode);
}

async function writeFile(dir: string, relative: string, content: Buffer, mode: number) {
  const file = path.join(dir, relative);
  if (!file.startsWith(dir + path.sep)) throw new ContainerConfigError(`path ${relative} leaves the volume`);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, content, { mode });
}

/** Links each of the container's volumeMounts into its rootfs. */
export async function mountVolumes(container: V1Container, rootfs: string, volumeDirs: Map<string, string>): Promise<void> {
  for (const mount of container.volumeMounts ?? []) {
    const source = volumeDirs.get(mount.name);
    if (source === undefined) throw new ContainerConfigError(`volumeMount ${mount.name}: no such volume`);
    const target = path.join(rootfs, mount.mountPath);
    const from = mount.subPath ? path.join(source, mount.subPath) : source;
    if (mount.subPath) await fs.mkdir(from, { recursive: true }).catch(() => undefined);
    await fs.mkdir(path.dirname(target), { recursive: true });
    await fs.rm(target, { recursive: true, force: true });
    await fs.symlink(from, target);
  }
}
