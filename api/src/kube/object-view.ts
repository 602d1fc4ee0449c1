// An object of ours as the API shows it: what Kubernetes holds, without
// managedFields and annotations of other tools; one the operator has not seen
// yet is Pending.
import type { KubeObject } from './custom-objects.ts';

const text = (time: string | Date) => String(time instanceof Date ? time.toISOString() : time);

export function objectView<T extends KubeObject<unknown>>(object: T) {
  const { name = '', namespace = '', uid = '', labels, creationTimestamp, resourceVersion, deletionTimestamp } = object.metadata;
  return {
    apiVersion: object.apiVersion,
    kind: object.kind,
    metadata: {
      name, namespace, uid,
      ...(labels ? { labels } : {}),
      ...(creationTimestamp ? { creationTimestamp: text(creationTimestamp) } : {}),
      ...(resourceVersion ? { resourceVersion } : {}),
      ...(deletionTimestamp ? { deletionTimestamp: text(deletionTimestamp) } : {}),
    },
    spec: object.spec as T['spec'],
    status: { phase: 'Pending', ...object.status } as { phase: string } & NonNullable<T['status']>,
  };
}

/** The path of an object of the kind under /api/v1/namespaces/{namespace}/<collection>. */
export function objectPath(collection: string, namespace: string, name: string): string {
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/${collection}/${encodeURIComponent(name)}`;
}
