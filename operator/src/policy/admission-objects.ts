// What the apiserver enforces for a ClaudePolicy, rendered from it: one
// ValidatingAdmissionPolicy whose rules read the ClaudePolicy as their param,
// and one binding that points at that policy (paramRef) and applies it to the
// namespaces the ClaudePolicy selects; and a MutatingAdmissionPolicy and
// binding alike for the defaults (maxTurns, maxBudgetUSD). Pure: the same ClaudePolicy gives the
// same objects, so applying them again changes nothing.
//
// Each ClaudePolicy's binding refuses on its own, so where several select a
// namespace, a task must pass every one of them: the strictest value of each
// rule wins. The rules read the param at admission time, so a changed
// ClaudePolicy applies at once, before the operator has rendered anything.
import crypto from 'node:crypto';
import type {
  V1MutatingAdmissionPolicy, V1MutatingAdmissionPolicyBinding, V1Mutation, V1ValidatingAdmissionPolicy, V1ValidatingAdmissionPolicyBinding, V1Validation,
} from '@kubernetes/client-node';
import { claudePolicyKind } from '../../../crds/src/claude-policy.ts';
import { claudeTaskPlural, group, version } from '../../../crds/src/claude-task.ts';
import type { ClaudePolicy } from '../../../crds/src/claude-policy.ts';
import { managedByLabel, managedByValue, taskLabelValue } from '../names.ts';

/** On what the operator renders from a ClaudePolicy: which one it came from. */
export const policyLabel = 'claude-operator.io/policy';

const admission = 'params.spec.?admission';
/** The start of every refusal: which ClaudePolicy, and which of its rules. */
const refusedBy = (rule: string) => `'ClaudePolicy ' + params.metadata.name + ' (${rule}): '`;

/** The rules, by the field of spec.admission each enforces. Exported for the table test. */
export const admissionRules: Record<string, V1Validation> = {
  allowedModels: {
    expression: `!has(object.spec.model) || ${admission}.?allowedModels.orValue([]).size() == 0`
      + ` || object.spec.model in ${admission}.?allowedModels.orValue([])`,
    messageExpression: `${refusedBy('allowedModels')} + 'model ' + object.spec.model + ' is not allowed; allowed: '`
      + ' + params.spec.admission.allowedModels.join(\', \')',
  },
  forbiddenPermissionModes: {
    expression: `!has(object.spec.permissionMode) || !(object.spec.permissionMode in ${admission}.?forbiddenPermissionModes.orValue([]))`,
    messageExpression: `${refusedBy('forbiddenPermissionModes')} + 'permissionMode ' + object.spec.permissionMode + ' is forbidden'`,
  },
  maxTurns: {
    expression: `!has(object.spec.maxTurns) || object.spec.maxTurns <= ${admission}.?maxTurns.orValue(object.spec.maxTurns)`,
    messageExpression: `${refusedBy('maxTurns')} + 'maxTurns ' + string(object.spec.maxTurns) + ' is above the limit of '`
      + ' + string(params.spec.admission.maxTurns)',
  },
  maxTimeoutSeconds: {
    expression: `!has(object.spec.timeoutSeconds) || object.spec.timeoutSeconds <= ${admission}.?maxTimeoutSeconds.orValue(object.spec.timeoutSeconds)`,
    messageExpression: `${refusedBy('maxTimeoutSeconds')} + 'timeoutSeconds ' + string(object.spec.timeoutSeconds) + ' is above the limit of '`
      + ' + string(params.spec.admission.maxTimeoutSeconds)',
  },
  maxBudgetUSD: {
    // Both are decimal strings (the CRD's pattern); CEL's double() reads them.
    expression: `!has(object.spec.maxBudgetUSD) || !has(params.spec.admission) || !has(params.spec.admission.maxBudgetUSD)`
      + ' || double(object.spec.maxBudgetUSD) <= double(params.spec.admission.maxBudgetUSD)',
    messageExpression: `${refusedBy('maxBudgetUSD')} + 'maxBudgetUSD ' + object.spec.maxBudgetUSD + ' is above the limit of '`
      + ' + params.spec.admission.maxBudgetUSD',
  },
  requireRuntimeClassName: {
    expression: `!has(params.spec.admission) || !has(params.spec.admission.requireRuntimeClassName)`
      + ' || (has(object.spec.runtimeClassName) && object.spec.runtimeClassName == params.spec.admission.requireRuntimeClassName)',
    messageExpression: `${refusedBy('requireRuntimeClassName')} + 'runtimeClassName must be ' + params.spec.admission.requireRuntimeClassName`,
  },
  allowedGitHosts: {
    // The host of https://host/..., ssh://user@host:port/... and user@host:path (the forms the CRD allows); dots in the host are literal.
    expression: `!has(object.spec.workspace) || !has(object.spec.workspace.git) || ${admission}.?allowedGitHosts.orValue([]).size() == 0`
      + ' || params.spec.admission.allowedGitHosts.exists(host, object.spec.workspace.git.url.matches('
      + `'^([a-z+]+://)?([^@/]+@)?' + host.replace('.', '\\\\.') + '([:/]|$)'))`,
    messageExpression: `${refusedBy('allowedGitHosts')} + 'workspace.git.url ' + object.spec.workspace.git.url + ' is not on an allowed host; allowed: '`
      + ' + params.spec.admission.allowedGitHosts.join(\', \')',
  },
  allowMcpServers: {
    expression: `${admission}.?allowMcpServers.orValue(true) || !has(object.spec.mcpServers) || size(object.spec.mcpServers) == 0`,
    messageExpression: `${refusedBy('allowMcpServers')} + 'MCP servers are not allowed'`,
  },
};

/** The name of what is rendered from the ClaudePolicy `name`: a DNS subdomain of at most 253 characters. */
export function admissionObjectName(policyName: string): string {
  const name = `claudepolicy-${policyName}`;
  if (name.length <= 253) return name;
  const hash = crypto.createHash('sha256').update(policyName).digest('hex').slice(0, 8);
  return `${name.slice(0, 253 - 9).replace(/[-.]+$/, '')}-${hash}`;
}

/** On a task whose field a ClaudePolicy defaulted: which policy set it. */
export const defaultedAnnotation = (field: 'maxTurns' | 'maxBudgetUSD') => `claude-operator.io/defaulted-${field}`;

/**
 * The defaults, as mutations: a task without the field gets the policy's limit.
 * The strictest wins where several policies select a namespace: each mutating
 * policy sees what the ones before it set, and lowers a value that another
 * policy defaulted (the annotation says so) to its own, lower limit; a value
 * the task gave itself is left for the validating rules to judge.
 */
function defaultMutation(field: 'maxTurns' | 'maxBudgetUSD', asNumber: (value: string) => string): V1Mutation {
  const limit = `params.spec.admission.${field}`;
  const defaulted = `object.metadata.?annotations[?'${defaultedAnnotation(field)}'].hasValue()`;
  return {
    patchType: 'ApplyConfiguration',
    applyConfiguration: {
      expression: `has(params.spec.admission) && has(${limit})`
        + ` && (!has(object.spec.${field}) || (${defaulted} && ${asNumber(`object.spec.${field}`)} > ${asNumber(limit)}))`
        + ` ? Object{spec: Object.spec{${field}: ${limit}}, metadata: Object.metadata{annotations: {'${defaultedAnnotation(field)}': params.metadata.name}}}`
        + ' : Object{}',
    },
  };
}

export interface AdmissionObjects {
  policy: V1ValidatingAdmissionPolicy;
  binding: V1ValidatingAdmissionPolicyBinding;
  /** The defaults (maxTurns, maxBudgetUSD), applied before the validating rules run. */
  defaults: V1MutatingAdmissionPolicy;
  defaultsBinding: V1MutatingAdmissionPolicyBinding;
}

export function admissionObjectsFor(claudePolicy: ClaudePolicy): AdmissionObjects {
  const policyName = claudePolicy.metadata.name ?? '';
  const name = admissionObjectName(policyName);
  const metadata = {
    name,
    labels: { [managedByLabel]: managedByValue, [policyLabel]: shortLabelValue(policyName) },
    // Deleted with the ClaudePolicy by the garbage collector. No blockOwnerDeletion: it would need claudepolicies/finalizers.
    ownerReferences: [{ apiVersion: `${group}/${version}`, kind: claudePolicyKind, name: policyName, uid: claudePolicy.metadata.uid ?? '', controller: true }],
  };
  const paramKind = { apiVersion: `${group}/${version}`, kind: claudePolicyKind };
  const matchConstraints = { resourceRules: [{ apiGroups: [group], apiVersions: [version], operations: ['CREATE'], resources: [claudeTaskPlural] }] };
  const matchResources = { namespaceSelector: claudePolicy.spec.namespaceSelector ?? {} };
  return {
    defaults: {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingAdmissionPolicy',
      metadata,
      spec: {
        failurePolicy: 'Fail',
        paramKind,
        matchConstraints,
        // Each sees the others' results once, in turn: enough for the lowest default to win.
        reinvocationPolicy: 'Never',
        mutations: [defaultMutation('maxTurns', (value) => value), defaultMutation('maxBudgetUSD', (value) => `double(${value})`)],
      },
    },
    defaultsBinding: {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingAdmissionPolicyBinding',
      metadata,
      // Without its ClaudePolicy nothing is defaulted; the validating binding refuses then anyway.
      spec: { policyName: name, paramRef: { name: policyName, parameterNotFoundAction: 'Allow' }, matchResources },
    },
    policy: {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata,
      spec: {
        failurePolicy: 'Fail',
        paramKind,
        // Only creation: a task's spec cannot change afterwards but for cancel.
        matchConstraints,
        validations: Object.values(admissionRules).map((rule) => ({ ...rule, reason: 'Forbidden' })),
      },
    },
    binding: {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata,
      spec: {
        policyName: name,
        // A ClaudePolicy deleted while its binding lingers refuses rather than lets through.
        paramRef: { name: policyName, parameterNotFoundAction: 'Deny' },
        validationActions: ['Deny'],
        matchResources,
      },
    },
  };
}

/** The same short form as a task's name in a label: the name when it fits 63 characters, else its start and a hash. */
const shortLabelValue = taskLabelValue;
