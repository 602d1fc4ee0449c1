// The local node has no container runtime, so an image stands for a local
// command. An image not in this table is refused like an image that cannot be
// pulled (waiting reason ErrImagePull), never run.
import path from 'node:path';
import { repoRoot } from '../binaries.ts';

export interface ImageMapping {
  /** Image reference without tag or digest, e.g. `busybox` or `ghcr.io/x/runner`. */
  repository: string;
  /** The image's ENTRYPOINT as a host command; container.command replaces it. */
  entrypoint: string[];
  /** The image's CMD; container.args replace it. */
  cmd: string[];
}

const node = path.join(repoRoot, 'node_modules/.bin/node');

export const defaultImageTable: ImageMapping[] = [
  // Shell images run their commands with the host's shell and tools.
  ...['busybox', 'alpine', 'debian', 'ubuntu', 'bash'].flatMap((name) => [
    { repository: name, entrypoint: [], cmd: ['sh'] },
    { repository: `docker.io/library/${name}`, entrypoint: [], cmd: ['sh'] },
  ]),
  // This repository's runner, as the chart's image names it.
  { repository: 'ghcr.io/claude-operator/runner', entrypoint: [node, path.join(repoRoot, 'runner/src/main.ts')], cmd: [] },
  { repository: 'claude-operator/runner', entrypoint: [node, path.join(repoRoot, 'runner/src/main.ts')], cmd: [] },
  // The operator and the API, for running them in pods under their own ServiceAccounts.
  { repository: 'ghcr.io/claude-operator/operator', entrypoint: [node, path.join(repoRoot, 'operator/src/main.ts')], cmd: [] },
  { repository: 'ghcr.io/claude-operator/api', entrypoint: [node, path.join(repoRoot, 'api/src/main.ts')], cmd: [] },
];

/** `repo[:tag][@digest]` → `repo`; a port in the registry host is kept. */
export function imageRepository(image: string): string {
  const withoutDigest = image.split('@')[0] ?? image;
  const lastSlash = withoutDigest.lastIndexOf('/');
  const lastColon = withoutDigest.lastIndexOf(':');
  return lastColon > lastSlash ? withoutDigest.slice(0, lastColon) : withoutDigest;
}

/** The argv a container runs, by Docker's rules for ENTRYPOINT/CMD against
 * Kubernetes' command/args; undefined when the image is not mapped. */
export function containerArgv(
  table: ImageMapping[],
  container: { image?: string; command?: string[]; args?: string[] },
): string[] | undefined {
  const repository = imageRepository(container.image ?? '');
  const mapping = table.find((entry) => entry.repository === repository);
  if (!mapping) return undefined;
  if (container.command?.length) return [...container.command, ...(container.args ?? [])];
  return [...mapping.entrypoint, ...(container.args?.length ? container.args : mapping.cmd)];
}
