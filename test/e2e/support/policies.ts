// ClaudePolicies as the e2e tests make them: each selects one test namespace
// (by its name label), so tests sharing the bed never hold each other's work,
// and each is deleted when its file ends.
import crypto from 'node:crypto';
import { afterAll } from '@jest/globals';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { claudePolicyPlural, type ClaudePolicySpec } from '../../../crds/src/claude-policy.ts';
import { group, version } from '../../../crds/src/claude-task.ts';
import { admissionObjectName } from '../../../operator/src/policy/admission-objects.ts';
import { kubeConfig, kubectl, waitFor } from '../../support/cluster.ts';

export interface TestPolicies {
  /** A policy named `<prefix>-<random>` selecting `namespace`; resolves once the operator has rendered it, so it holds what comes after. */
  create(prefix: string, namespace: string, spec: Omit<ClaudePolicySpec, 'namespaceSelector'>): Promise<string>;
  /** A merge patch of the policy's spec (a budget raised). */
  patchSpec(name: string, spec: Partial<ClaudePolicySpec>): Promise<void>;
}

/** Call at the top of a test file: the policies it makes go in its afterAll. */
export function useTestPolicies(): TestPolicies {
  const custom = () => kubeConfig().makeApiClient(CustomObjectsApi);
  const made: string[] = [];
  afterAll(async () => {
    for (const name of made) await custom().deleteClusterCustomObject({ group, version, plural: claudePolicyPlural, name }).catch(() => undefined);
  });
  return {
    async create(prefix, namespace, spec) {
      const name = `${prefix}-${crypto.randomBytes(3).toString('hex')}`;
      made.push(name);
      await custom().createClusterCustomObject({ group, version, plural: claudePolicyPlural, body: {
        apiVersion: `${group}/${version}`, kind: 'ClaudePolicy', metadata: { name },
        spec: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } }, ...spec },
      } });
      await waitFor(`the operator has rendered ${name}`, async () =>
        (await kubectl('get', 'validatingadmissionpolicy', admissionObjectName(name))).code === 0, { timeoutMs: 60_000 });
      return name;
    },
    async patchSpec(name, spec) {
      const patched = await kubectl('patch', 'claudepolicy', name, '--type=merge', '-p', JSON.stringify({ spec }));
      if (patched.code !== 0) throw new Error(`kubectl patch claudepolicy ${name}: ${patched.stderr}`);
    },
  };
}
