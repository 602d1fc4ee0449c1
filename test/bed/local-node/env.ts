// A container's environment, by the kubelet's rules: envFrom first, then env in
// order, with $(VAR) references to earlier variables expanded ($$ escapes).
import type { V1Container, V1Pod } from '@kubernetes/client-node';

export interface EnvSources {
  /** Decoded data of a Secret or ConfigMap; undefined when it does not exist. */
  secret(namespace: string, name: string): Promise<Record<string, string> | undefined>;
  configMap(namespace: string, name: string): Promise<Record<string, string> | undefined>;
}

/** A reference that cannot be resolved: the kubelet reports it as the waiting
 * reason CreateContainerConfigError and tries again later. */
export class ContainerConfigError extends Error {}

export async function resolveContainerEnv(
  pod: V1Pod,
  container: V1Container,
  sources: EnvSources,
  base: Record<string, string>,
): Promise<Record<string, string>> {
  const namespace = pod.metadata?.namespace ?? 'default';
  const env: Record<string, string> = { ...base };
  for (const from of container.envFrom ?? []) {
    const ref = from.secretRef ?? from.configMapRef;
    if (!ref?.name) continue;
    const kind = from.secretRef ? 'secret' : 'configmap';
    const data = from.secretRef ? await sources.secret(namespace, ref.name) : await sources.configMap(namespace, ref.name);
    if (!data) {
      if (ref.optional) continue;
      throw new ContainerConfigError(`${kind} "${ref.name}" not found`);
    }
    for (const [key, value] of Object.entries(data)) env[`${from.prefix ?? ''}${key}`] = value;
  }
  for (const variable of container.env ?? []) {
    if (variable.valueFrom === undefined) {
      env[variable.name] = expandReferences(variable.value ?? '', env);
      continue;
    }
    const value = await resolveValueFrom(pod, variable.name, variable.valueFrom, sources);
    if (value !== undefined) env[variable.name] = value;
  }
  return env;
}

async function resolveValueFrom(
  pod: V1Pod,
  name: string,
  valueFrom: NonNullable<NonNullable<V1Container['env']>[number]['valueFrom']>,
  sources: EnvSources,
): Promise<string | undefined> {
  const namespace = pod.metadata?.namespace ?? 'default';
  const keyRef = valueFrom.secretKeyRef ?? valueFrom.configMapKeyRef;
  if (keyRef) {
    const kind = valueFrom.secretKeyRef ? 'secret' : 'configmap';
    const data = valueFrom.secretKeyRef
      ? await sources.secret(namespace, keyRef.name ?? '')
      : await sources.configMap(namespace, keyRef.name ?? '');
    const value = data?.[keyRef.key];
    if (value === undefined && !keyRef.optional) {
      throw new ContainerConfigError(data
        ? `couldn't find key ${keyRef.key} in ${kind} ${namespace}/${keyRef.name} (env ${name})`
        : `${kind} "${keyRef.name}" not found (env ${name})`);
    }
    return value;
  }
  if (valueFrom.fieldRef) return podField(pod, valueFrom.fieldRef.fieldPath);
  throw new ContainerConfigError(`env ${name}: only secretKeyRef, configMapKeyRef and fieldRef are supported here`);
}

/** The downward API fields a fieldRef may name. */
export function podField(pod: V1Pod, fieldPath: string): string {
  const metadata = pod.metadata ?? {};
  const mapKey = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (mapKey) return (mapKey[1] === 'labels' ? metadata.labels : metadata.annotations)?.[mapKey[2] ?? ''] ?? '';
  switch (fieldPath) {
    case 'metadata.name': return metadata.name ?? '';
    case 'metadata.namespace': return metadata.namespace ?? '';
    case 'metadata.uid': return metadata.uid ?? '';
    case 'spec.nodeName': return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName': return pod.spec?.serviceAccountName ?? '';
    case 'status.podIP': case 'status.hostIP': return '127.0.0.1';
    case 'status.podIPs': case 'status.hostIPs': return '127.0.0.1';
    default: throw new ContainerConfigError(`unsupported fieldRef ${fieldPath}`);
  }
}

/** Kubernetes' $(VAR) expansion: known names are replaced, unknown ones kept
 * as written, and $$ is a literal $. */
export function expandReferences(input: string, env: Record<string, string>): string {
  return input.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (match, name: string | undefined) => {
    if (match === '$$') return '$';
    return name !== undefined && name in env ? (env[name] ?? '') : match;
  });
}
