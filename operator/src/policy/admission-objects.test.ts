import { expect, test } from '@jest/globals';
import type { ClaudePolicy } from '../../../crds/src/claude-policy.ts';
import { admissionObjectName, admissionObjectsFor, admissionRules, policyLabel } from './admission-objects.ts';

const policy = (name: string, spec: ClaudePolicy['spec'] = {}): ClaudePolicy =>
  ({ apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudePolicy', metadata: { name, uid: 'u-1' }, spec });

test('the binding points at its policy, takes the ClaudePolicy as param and its namespaceSelector; both are owned by the ClaudePolicy', () => {
  const { policy: vap, binding } = admissionObjectsFor(policy('team-a', { namespaceSelector: { matchLabels: { team: 'a' } } }));
  expect(vap.metadata).toMatchObject({ name: 'claudepolicy-team-a', labels: { [policyLabel]: 'team-a' },
    ownerReferences: [{ kind: 'ClaudePolicy', name: 'team-a', uid: 'u-1', controller: true }] });
  expect(vap.metadata!.ownerReferences![0]).not.toHaveProperty('blockOwnerDeletion');
  expect(vap.spec).toMatchObject({ failurePolicy: 'Fail', paramKind: { apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudePolicy' },
    matchConstraints: { resourceRules: [{ operations: ['CREATE'], resources: ['claudetasks'] }] } });
  expect(binding.spec).toEqual({ policyName: 'claudepolicy-team-a', paramRef: { name: 'team-a', parameterNotFoundAction: 'Deny' },
    validationActions: ['Deny'], matchResources: { namespaceSelector: { matchLabels: { team: 'a' } } } });
  const { defaults, defaultsBinding } = admissionObjectsFor(policy('team-a', { namespaceSelector: { matchLabels: { team: 'a' } } }));
  expect(defaults.spec).toMatchObject({ paramKind: { kind: 'ClaudePolicy' }, reinvocationPolicy: 'Never' });
  expect(defaults.spec!.mutations!.map((m) => m.applyConfiguration!.expression)).toEqual([
    expect.stringContaining('Object.spec{maxTurns: params.spec.admission.maxTurns}'),
    expect.stringContaining('Object.spec{maxBudgetUSD: params.spec.admission.maxBudgetUSD}'),
  ]);
  expect(defaultsBinding.spec).toEqual({ policyName: 'claudepolicy-team-a', paramRef: { name: 'team-a', parameterNotFoundAction: 'Allow' },
    matchResources: { namespaceSelector: { matchLabels: { team: 'a' } } } });
});

test('no namespaceSelector selects every namespace', () => {
  expect(admissionObjectsFor(policy('all')).binding.spec!.matchResources).toEqual({ namespaceSelector: {} });
});

test('one rule per admission field, each message naming the policy and the rule', () => {
  expect(Object.keys(admissionRules).sort()).toEqual(['allowMcpServers', 'allowedGitHosts', 'allowedModels', 'forbiddenPermissionModes',
    'maxBudgetUSD', 'maxTimeoutSeconds', 'maxTurns', 'requireRuntimeClassName']);
  for (const [field, rule] of Object.entries(admissionRules)) {
    expect(rule.messageExpression).toContain(`'ClaudePolicy ' + params.metadata.name + ' (${field}): '`);
  }
});

test('names fit 253 characters and stay distinct', () => {
  const long = 'a'.repeat(253);
  expect(admissionObjectName(long).length).toBeLessThanOrEqual(253);
  expect(admissionObjectName(long)).not.toBe(admissionObjectName(`${'a'.repeat(252)}b`));
  expect(admissionObjectsFor(policy(long)).policy.metadata!.labels![policyLabel]!.length).toBeLessThanOrEqual(63);
});
