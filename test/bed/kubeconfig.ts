// Kubeconfig files for the test bed's users: one cluster, and for each user a
// bearer token or a client certificate (the real node's kubelet).
import fs from 'node:fs/promises';

export type KubeconfigInput = {
  server: string;
  caCertFile: string;
  /** The name to check the server's certificate for, when the server's address is not in it. */
  tlsServerName?: string;
  user: string;
} & ({ token: string } | { clientCertFile: string; clientKeyFile: string });

export function renderKubeconfig(input: KubeconfigInput): string {
  const { server, caCertFile, tlsServerName, user } = input;
  const credentials = 'token' in input
    ? { token: input.token }
    : { 'client-certificate': input.clientCertFile, 'client-key': input.clientKeyFile };
  // JSON is valid YAML, and kubectl and @kubernetes/client-node read both.
  return JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'claude-operator-bed', cluster: {
        server, 'certificate-authority': caCertFile, ...(tlsServerName ? { 'tls-server-name': tlsServerName } : {}),
      } }],
      users: [{ name: user, user: credentials }],
      contexts: [{ name: user, context: { cluster: 'claude-operator-bed', user, namespace: 'default' } }],
      'current-context': user,
      preferences: {},
    },
    null,
    2,
  );
}

export async function writeKubeconfig(file: string, input: KubeconfigInput): Promise<string> {
  await fs.writeFile(file, renderKubeconfig(input), { mode: 0o600 });
  return file;
}
