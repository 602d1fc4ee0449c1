// What the real node needs in the cluster besides its Node: RBAC for its kubelet and
// CoreDNS (the bed's apiserver authorizes with RBAC alone, no Node authorizer, and
// system:node's default binding has no subjects), and the kube-dns Service with an
// EndpointSlice at CoreDNS on the node's address. Made at start, removed at stop.
import { CoreV1Api, DiscoveryV1Api, RbacAuthorizationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { clusterDns, podNetwork } from './config.ts';

export const corednsUser = 'system:coredns';
const dnsNamespace = 'kube-system';
const ignoreMissing = (error: { code?: number }) => { if (error.code !== 404) throw error; };

function names(nodeName: string) {
  return { nodeBinding: `claude-operator-bed:${nodeName}`, corednsRole: 'claude-operator-bed:coredns' };
}

export async function createNodeObjects(admin: KubeConfig, nodeName: string): Promise<void> {
  await deleteNodeObjects(admin, nodeName);
  const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
  const { nodeBinding, corednsRole } = names(nodeName);
  const user = (name: string) => ({ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name });
  await rbac.createClusterRoleBinding({ body: {
    metadata: { name: nodeBinding },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:node' },
    subjects: [user(`system:node:${nodeName}`)],
  } });
  // What CoreDNS's kubernetes plugin reads (the rules of the role upstream's manifests give it).
  await rbac.createClusterRole({ body: {
    metadata: { name: corednsRole },
    rules: [
      { apiGroups: [''], resources: ['endpoints', 'services', 'pods', 'namespaces'], verbs: ['list', 'watch'] },
      { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
    ],
  } });
  await rbac.createClusterRoleBinding({ body: {
    metadata: { name: corednsRole },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: corednsRole },
    subjects: [user(corednsUser)],
  } });
  const labels = { 'k8s-app': 'kube-dns', 'kubernetes.io/name': 'CoreDNS' };
  const ports = [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP' }];
  // No selector: CoreDNS is no pod here, so the endpoints are given, not found.
  await admin.makeApiClient(CoreV1Api).createNamespacedService({ namespace: dnsNamespace, body: {
    metadata: { name: 'kube-dns', labels },
    spec: { clusterIP: clusterDns.serviceIp, ports: ports.map((p) => ({ ...p, targetPort: 53 })) },
  } });
  await admin.makeApiClient(DiscoveryV1Api).createNamespacedEndpointSlice({ namespace: dnsNamespace, body: {
    metadata: { name: 'kube-dns-real-node', labels: { 'kubernetes.io/service-name': 'kube-dns',
      'endpointslice.kubernetes.io/managed-by': 'claude-operator-bed' } },
    addressType: 'IPv4',
    ports,
    endpoints: [{ addresses: [podNetwork.nodeIp], conditions: { ready: true }, nodeName }],
  } });
}

export async function deleteNodeObjects(admin: KubeConfig, nodeName: string): Promise<void> {
  const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
  const { nodeBinding, corednsRole } = names(nodeName);
  await rbac.deleteClusterRoleBinding({ name: nodeBinding }).catch(ignoreMissing);
  await rbac.deleteClusterRoleBinding({ name: corednsRole }).catch(ignoreMissing);
  await rbac.deleteClusterRole({ name: corednsRole }).catch(ignoreMissing);
  await admin.makeApiClient(DiscoveryV1Api).deleteNamespacedEndpointSlice({ name: 'kube-dns-real-node', namespace: dnsNamespace })
    .catch(ignoreMissing);
  await admin.makeApiClient(CoreV1Api).deleteNamespacedService({ name: 'kube-dns', namespace: dnsNamespace }).catch(ignoreMissing);
  await admin.makeApiClient(CoreV1Api).deleteNode({ name: nodeName }).catch(ignoreMissing);
}
