// The key objects are cached and queued by: "namespace/name", or just "name"
// for cluster-scoped objects (client-go's MetaNamespaceKeyFunc).
import type { KubernetesObject } from '@kubernetes/client-node';

export function objectKey(object: KubernetesObject): string {
  const name = object.metadata?.name;
  if (!name) throw new Error(`object of kind ${object.kind ?? 'unknown'} has no metadata.name`);
  const namespace = object.metadata?.namespace;
  return namespace ? `${namespace}/${name}` : name;
}

export function splitObjectKey(key: string): { namespace?: string; name: string } {
  const slash = key.indexOf('/');
  return slash < 0 ? { name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}
