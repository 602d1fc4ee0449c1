// Installs the generated CRDs (crds/*.yaml, one per kind in kinds.ts) into a
// cluster and waits until they are served. Idempotent and safe to run
// concurrently (CRDs are cluster-scoped, and tests sharing one cluster each
// install them): a server-side apply of the same object by the same field
// manager changes nothing the second time.
import { readFileSync } from 'node:fs';
import {
  ApiextensionsV1Api, KubernetesObjectApi, PatchStrategy, loadYaml, type KubeConfig, type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { statusCode } from '../../packages/platform/src/kube-errors.ts';
import { crdFile } from './files.ts';
import { claudeTask, kinds, type KindDefinition } from './kinds.ts';

const fieldManager = 'claude-operator-crds';

/** Every kind's CRD, each Established when this resolves. */
export async function installCrds(kubeConfig: KubeConfig, options: { timeoutMs?: number } = {}): Promise<V1CustomResourceDefinition[]> {
  return Promise.all(kinds.map((kind) => installCrd(kubeConfig, kind, options)));
}

/** The ClaudeTask CRD alone. */
export async function installClaudeTaskCrd(kubeConfig: KubeConfig, options: { timeoutMs?: number } = {}): Promise<V1CustomResourceDefinition> {
  return installCrd(kubeConfig, claudeTask, options);
}

export async function installCrd(kubeConfig: KubeConfig, kind: KindDefinition, { timeoutMs = 30_000 } = {}): Promise<V1CustomResourceDefinition> {
  // Typed by loadYaml, as the client serializes it back (it drops keys it has no model for).
  const crd = loadYaml<V1CustomResourceDefinition>(readFileSync(crdFile(kind), 'utf8'));
  const objects = KubernetesObjectApi.makeApiClient(kubeConfig);
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 1; ; attempt++) {
    try {
      await objects.patch(crd, undefined, undefined, fieldManager, true, PatchStrategy.ServerSideApply);
      break;
    } catch (error) {
      // 409: another installer created it between our lookup and create, or updated it concurrently.
      if (statusCode(error) !== 409 || attempt >= 5) throw error;
    }
  }

  const name = crd.metadata?.name ?? '';
  const extensions = kubeConfig.makeApiClient(ApiextensionsV1Api);
  for (;;) {
    const current = await extensions.readCustomResourceDefinition({ name });
    const conditions = current.status?.conditions ?? [];
    if (conditions.some((c) => c.type === 'Established' && c.status === 'True')) return current;
    if (Date.now() > deadline) {
      const summary = conditions.map((c) => `${c.type}=${c.status} (${c.reason}: ${c.message})`).join('; ');
      throw new Error(`CustomResourceDefinition ${name} not Established after ${timeoutMs} ms: ${summary || 'no conditions'}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
