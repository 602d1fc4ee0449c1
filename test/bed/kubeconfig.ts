// Kubeconfig files for the test bed's users: one cluster, a bearer token each.
import fs from 'node:fs/promises';

export interface KubeconfigInput {
  server: string;
  caCertFile: string;
  user: string;
  token: string;
}

export function renderKubeconfig({ server, caCertFile, user, token }: KubeconfigInput): string {
  // JSON is valid YAML, and kubectl and @kubernetes/client-node read both.
  return JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'claude-operator-bed', cluster: { server, 'certificate-authority': caCertFile } }],
      users: [{ name: user, user: { token } }],
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
