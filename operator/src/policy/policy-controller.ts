// The ClaudePolicy controller: keeps the ValidatingAdmissionPolicy and binding
// rendered from each ClaudePolicy (admission-objects.ts) in the cluster, so the
// apiserver refuses tasks that break its admission rules. Gather: the policy
// from the cache. Decide: admissionObjectsFor, pure. Apply: server-side apply
// of both, which changes nothing when they are already as rendered. A deleted
// ClaudePolicy needs nothing: its objects name it as owner and the garbage
// collector deletes them.
import { PatchStrategy, setHeaderOptions, type KubernetesObject } from '@kubernetes/client-node';
import type { ClusterCache } from '../cluster-cache.ts';
import type { KubeClients } from '../kube-clients.ts';
import { asPermanentApiError } from '../kube-clients.ts';
import type { Logger } from '../kube/logger.ts';
import type { ControllerDefinition } from '../manager.ts';
import { admissionObjectsFor } from './admission-objects.ts';
import { identityObjects } from './identity-objects.ts';

export const policyControllerName = 'claudepolicies';

const fieldManager = 'claude-operator';
const serverSideApply = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);

export interface PolicyReconcilerDeps {
  clients: Pick<KubeClients, 'admission'>;
  cache: Pick<ClusterCache, 'policy'>;
  log: Logger;
}

export class PolicyReconciler {
  private readonly deps: PolicyReconcilerDeps;

  constructor(deps: PolicyReconcilerDeps) {
    this.deps = deps;
  }

  async reconcile(name: string): Promise<void> {
    const policy = this.deps.cache.policy(name);
    if (!policy) return;
    const { policy: admissionPolicy, binding, defaults, defaultsBinding } = admissionObjectsFor(policy);
    const { admission } = this.deps.clients;
    const objectName = admissionPolicy.metadata!.name!;
    // The policy before its binding: a binding whose policy is missing refuses nothing, one ahead of it would.
    await admission.patchValidatingAdmissionPolicy({ name: objectName, body: admissionPolicy, fieldManager, force: true }, serverSideApply)
      .catch((error: unknown) => { throw asPermanentApiError(error, `applying ValidatingAdmissionPolicy ${objectName}`); });
    await admission.patchValidatingAdmissionPolicyBinding({ name: objectName, body: binding, fieldManager, force: true }, serverSideApply)
      .catch((error: unknown) => { throw asPermanentApiError(error, `applying ValidatingAdmissionPolicyBinding ${objectName}`); });
    await admission.patchMutatingAdmissionPolicy({ name: objectName, body: defaults, fieldManager, force: true }, serverSideApply)
      .catch((error: unknown) => { throw asPermanentApiError(error, `applying MutatingAdmissionPolicy ${objectName}`); });
    await admission.patchMutatingAdmissionPolicyBinding({ name: objectName, body: defaultsBinding, fieldManager, force: true }, serverSideApply)
      .catch((error: unknown) => { throw asPermanentApiError(error, `applying MutatingAdmissionPolicyBinding ${objectName}`); });
    this.deps.log.debug({ policy: name, admissionPolicy: objectName }, 'admission policies applied');
  }
}

/** The creator stamp and its guard (identity-objects.ts), the same on every cluster: applied once the operator leads. */
export async function applyIdentityObjects(clients: Pick<KubeClients, 'admission'>): Promise<void> {
  const { stamp, stampBinding, guard, guardBinding } = identityObjects();
  const { admission } = clients;
  const name = stamp.metadata!.name!;
  const applying = (what: string) => (error: unknown) => { throw asPermanentApiError(error, `applying ${what} ${name}`); };
  // Each policy before its binding.
  await admission.patchMutatingAdmissionPolicy({ name, body: stamp, fieldManager, force: true }, serverSideApply).catch(applying('MutatingAdmissionPolicy'));
  await admission.patchMutatingAdmissionPolicyBinding({ name, body: stampBinding, fieldManager, force: true }, serverSideApply)
    .catch(applying('MutatingAdmissionPolicyBinding'));
  await admission.patchValidatingAdmissionPolicy({ name, body: guard, fieldManager, force: true }, serverSideApply).catch(applying('ValidatingAdmissionPolicy'));
  await admission.patchValidatingAdmissionPolicyBinding({ name, body: guardBinding, fieldManager, force: true }, serverSideApply)
    .catch(applying('ValidatingAdmissionPolicyBinding'));
}

export function policyController(cache: ClusterCache, reconciler: Pick<PolicyReconciler, 'reconcile'>, workers: number): ControllerDefinition {
  return {
    name: policyControllerName,
    workers,
    reconcile: (key) => reconciler.reconcile(key),
    watches: [{ source: cache.policies, keysOf: (object: KubernetesObject) => (object.metadata?.name ? [object.metadata.name] : []) }],
  };
}
