// Who created a task or a session, as the apiserver saw them: a
// MutatingAdmissionPolicy stamps request.userInfo.username on every ClaudeTask
// and ClaudeSession at creation (over any value the request carried; a REST
// caller is its impersonated claude-api:<sub> when the API impersonates), and a
// ValidatingAdmissionPolicy refuses a create
// whose value is not the requester's and any change of it afterwards, so
// nobody (the operator and cluster admins included) can set or alter it.
// Per-user limits count tasks by it. The same for every cluster: the operator
// applies them once it leads.
//
// MutatingAdmissionPolicy is GA (admissionregistration.k8s.io/v1) in
// Kubernetes 1.36, with no feature gate; on older clusters the apiserver needs
// --feature-gates=MutatingAdmissionPolicy=true and
// --runtime-config=admissionregistration.k8s.io/v1beta1=true (1.34, 1.35).
import type {
  V1MutatingAdmissionPolicy, V1MutatingAdmissionPolicyBinding, V1ValidatingAdmissionPolicy, V1ValidatingAdmissionPolicyBinding,
} from '@kubernetes/client-node';
import { claudeSessionPlural } from '../../../crds/src/claude-session.ts';
import { claudeTaskPlural, createdByAnnotation, group, version } from '../../../crds/src/claude-task.ts';
import { managedByLabel, managedByValue } from '../names.ts';

export { createdByAnnotation };
export const identityObjectName = 'claude-operator.io-created-by';

const metadata = { name: identityObjectName, labels: { [managedByLabel]: managedByValue } };
// Both kinds are in the one group and version: one rule covers them.
const tasksAndSessions = (operations: string[]) => ({
  resourceRules: [{ apiGroups: [group], apiVersions: [version], operations, resources: [claudeTaskPlural, claudeSessionPlural] }],
});
const annotation = (object: string) => `${object}.metadata.?annotations[?'${createdByAnnotation}']`;

export interface IdentityObjects {
  stamp: V1MutatingAdmissionPolicy;
  stampBinding: V1MutatingAdmissionPolicyBinding;
  guard: V1ValidatingAdmissionPolicy;
  guardBinding: V1ValidatingAdmissionPolicyBinding;
}

export function identityObjects(): IdentityObjects {
  return {
    stamp: {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingAdmissionPolicy',
      metadata,
      spec: {
        failurePolicy: 'Fail',
        reinvocationPolicy: 'Never',
        matchConstraints: tasksAndSessions(['CREATE']),
        mutations: [{
          patchType: 'ApplyConfiguration',
          applyConfiguration: {
            expression: `Object{metadata: Object.metadata{annotations: {'${createdByAnnotation}': request.userInfo.username}}}`,
          },
        }],
      },
    },
    stampBinding: { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingAdmissionPolicyBinding', metadata, spec: { policyName: identityObjectName } },
    guard: {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata,
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: tasksAndSessions(['CREATE', 'UPDATE']),
        validations: [
          {
            expression: `request.operation != 'CREATE' || ${annotation('object')} == optional.of(request.userInfo.username)`,
            message: `${createdByAnnotation} is set by the apiserver to the creating user; it cannot be given`,
            reason: 'Forbidden',
          },
          {
            expression: `request.operation != 'UPDATE' || ${annotation('object')} == ${annotation('oldObject')}`,
            message: `${createdByAnnotation} names who created the object; it cannot be changed or removed`,
            reason: 'Forbidden',
          },
        ],
      },
    },
    guardBinding: {
      apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicyBinding', metadata,
      spec: { policyName: identityObjectName, validationActions: ['Deny'] },
    },
  };
}
