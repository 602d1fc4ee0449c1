// What integration and e2e tests use to reach the test bed's cluster: clients
// from KUBECONFIG (set by the jest global setup), a namespace of their own, and
// polling with a reason in the error.
import crypto from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { BatchV1Api, CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { waitFor } from '../bed/process.ts';

export { waitFor };

export function bedSetting(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this test through jest, whose global setup starts the test bed`);
  return value;
}

export function kubeConfig(): KubeConfig {
  const config = new KubeConfig();
  config.loadFromFile(bedSetting('KUBECONFIG'));
  return config;
}

export interface TestNamespace {
  name: string;
  core: CoreV1Api;
  batch: BatchV1Api;
  kubectl(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }>;
  /** Polls the pod until check passes; the error names what was awaited and the last status. */
  podWhen(name: string, what: string, check: (pod: V1Pod) => boolean, timeoutMs?: number): Promise<V1Pod>;
  delete(): Promise<void>;
}

/** A fresh namespace (with its default ServiceAccount ready, so pods may be created). */
export async function createTestNamespace(prefix: string, labels: Record<string, string> = {}): Promise<TestNamespace> {
  const config = kubeConfig();
  const core = config.makeApiClient(CoreV1Api);
  const batch = config.makeApiClient(BatchV1Api);
  const name = `${prefix}-${crypto.randomBytes(3).toString('hex')}`;
  await core.createNamespace({ body: { metadata: { name, labels } } });
  await waitFor(`ServiceAccount default in ${name}`, async () => {
    await core.readNamespacedServiceAccount({ name: 'default', namespace: name });
    return true;
  }, { timeoutMs: 30_000 });
  return {
    name,
    core,
    batch,
    kubectl: (...args) => kubectl('--namespace', name, ...args),
    podWhen: async (pod, what, check, timeoutMs = 30_000) => {
      let last: V1Pod | undefined;
      await waitFor(`pod ${pod}: ${what}`, async () => {
        last = await core.readNamespacedPod({ name: pod, namespace: name });
        return check(last);
      }, { timeoutMs }).catch((error: Error) => {
        throw new Error(`${error.message}\nlast status: ${JSON.stringify(last?.status)}`);
      });
      return last!;
    },
    delete: async () => {
      await core.deleteNamespace({ name }).catch(() => undefined);
    },
  };
}

/** Runs a command-line tool as a user would; a non-zero exit is returned, never thrown. */
export async function runTool(command: string, args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(command, args);
    return { stdout, stderr, code: 0 };
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string; code?: number };
    return { stdout: failed.stdout ?? '', stderr: failed.stderr ?? '', code: typeof failed.code === 'number' ? failed.code : 1 };
  }
}

/** The bed's own kubectl, against the bed's cluster. */
export function kubectl(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  return runTool(bedSetting('KUBECTL'), ['--kubeconfig', bedSetting('KUBECONFIG'), ...args]);
}
