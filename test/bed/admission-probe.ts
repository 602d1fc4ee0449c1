// Waits until the apiserver's MutatingAdmissionPolicy plugin can mutate every
// namespaced kind of ours. The plugin learns a new kind's schema from the
// OpenAPI document, which it polls every 5 s (k8s.io/apiserver
// pkg/admission/plugin/policy/mutating/patch/typeconverter.go). Until then a
// create that a policy matches is refused 503 "There can be a delay between
// when CustomResourceDefinitions are created and when they are available", and
// the operator's created-by policy matches every ClaudeTask: a test (or a user
// of `up`) creating one just after the CRDs went in would be refused.
//
// The probe: a policy of the bed's own matches only objects labelled as probes
// and rewrites that label to a value the apiserver refuses. A dry-run create of
// one probe object per kind is retried until the refusal names that value: the
// plugin ran the mutation, so it knows the kind. Anything else (a 503, or an
// answer the policy took no part in, as before the policy itself is loaded)
// means try again.
import { AdmissionregistrationV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { installCrds } from '../../crds/src/install.ts';
import { kinds } from '../../crds/src/kinds.ts';
import { statusCode } from '../../packages/platform/src/kube-errors.ts';

const probeName = 'bed-admission-probe';
const probeLabel = 'claude-operator.io/bed-admission-probe';
// Not a valid label value (spaces, '!'), so an object carrying it is refused, with it in the message.
const mutatedValue = 'set by the bed admission probe!';

async function createIgnoringConflict(create: () => Promise<unknown>): Promise<void> {
  try {
    await create();
  } catch (error) {
    if (statusCode(error) !== 409) throw error;
  }
}

async function installProbePolicy(kubeConfig: KubeConfig): Promise<void> {
  const admission = kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  const namespaced = kinds.filter((kind) => kind.scope === 'Namespaced');
  await createIgnoringConflict(() => admission.createMutatingAdmissionPolicy({ body: {
    metadata: { name: probeName },
    spec: {
      failurePolicy: 'Fail',
      reinvocationPolicy: 'Never',
      matchConstraints: {
        objectSelector: { matchExpressions: [{ key: probeLabel, operator: 'Exists' }] },
        resourceRules: namespaced.map((kind) => ({ apiGroups: [kind.group], apiVersions: [kind.version], operations: ['CREATE'], resources: [kind.plural] })),
      },
      mutations: [{ patchType: 'ApplyConfiguration', applyConfiguration: {
        expression: `Object{metadata: Object.metadata{labels: {'${probeLabel}': '${mutatedValue}'}}}`,
      } }],
    },
  } }));
  await createIgnoringConflict(() => admission.createMutatingAdmissionPolicyBinding({ body: {
    metadata: { name: probeName }, spec: { policyName: probeName },
  } }));
}

function messageOf(error: unknown): string {
  const body = (error as { body?: unknown }).body;
  return typeof body === 'string' ? body : JSON.stringify(body ?? (error as Error).message ?? '');
}

/** Resolves once a MutatingAdmissionPolicy can act on every namespaced kind (in `namespace`, which must exist). */
export async function waitUntilAdmissionKnowsKinds(kubeConfig: KubeConfig, { namespace = 'default', timeoutMs = 60_000 } = {}): Promise<void> {
  await installProbePolicy(kubeConfig);
  const custom = kubeConfig.makeApiClient(CustomObjectsApi);
  const deadline = Date.now() + timeoutMs;
  for (const kind of kinds.filter((k) => k.scope === 'Namespaced')) {
    for (;;) {
      let last: string;
      try {
        await custom.createNamespacedCustomObject({ group: kind.group, version: kind.version, namespace, plural: kind.plural, dryRun: 'All', body: {
          apiVersion: `${kind.group}/${kind.version}`, kind: kind.kind, metadata: { generateName: 'probe-', labels: { [probeLabel]: 'probe' } }, spec: {},
        } });
        last = 'the dry-run create was accepted unmutated';
      } catch (error) {
        last = `${statusCode(error)}: ${messageOf(error)}`;
        if (statusCode(error) === 422 && last.includes(mutatedValue)) break;
      }
      if (Date.now() > deadline) throw new Error(`the apiserver's MutatingAdmissionPolicy plugin did not act on ${kind.kind} within ${timeoutMs} ms; last answer: ${last}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/** The CRDs installed, served, and known to admission policies: what a test or `up` needs before creating objects. */
export async function installCrdsForUse(kubeConfig: KubeConfig): Promise<void> {
  await installCrds(kubeConfig);
  await waitUntilAdmissionKnowsKinds(kubeConfig);
}
