import { expect, test } from '@jest/globals';
import { ClaudePolicySpecSchema } from './claude-policy.ts';
import { crdOf } from './generate.ts';
import { claudePolicy } from './kinds.ts';
import { schemaNodes, type JsonSchema } from './structural.ts';

type Crd = { spec: { scope: string; names: Record<string, unknown>; versions: Array<{ schema: { openAPIV3Schema: JsonSchema }; additionalPrinterColumns: Array<{ name: string; jsonPath: string }> }> } };
const crd = crdOf(claudePolicy) as Crd;

const nodes = schemaNodes;

test('ClaudePolicy is cluster-scoped, cpol, in the claude category, with the issue\'s columns', () => {
  expect(crd.spec.scope).toBe('Cluster');
  expect(crd.spec.names).toMatchObject({ kind: 'ClaudePolicy', plural: 'claudepolicies', shortNames: ['cpol'], categories: ['claude'] });
  expect(crd.spec.versions[0]!.additionalPrinterColumns.map((c) => `${c.name}:${c.jsonPath}`))
    .toEqual(['Namespaces:.status.namespaces', 'Running:.status.running', 'Spend:.status.spend', 'Age:.metadata.creationTimestamp']);
});

test('every field is described and every string and list is bounded', () => {
  const all = [...nodes(crd.spec.versions[0]!.schema.openAPIV3Schema, '')].filter(([path]) => path !== '.metadata');
  const undescribed = all.filter(([path, node]) => path !== '' && !path.endsWith(']') && (typeof node.description !== 'string' || node.description === ''));
  expect(undescribed.map(([path]) => path)).toEqual([]);
  const unbounded = all.filter(([path, node]) => path.startsWith('.spec') && ((node.type === 'string' && node.maxLength === undefined && node.enum === undefined)
    || (node.type === 'array' && node.maxItems === undefined)));
  expect(unbounded.map(([path]) => path)).toEqual([]);
});

test('the issue\'s example parses; a budget below zero or an unknown mode does not', () => {
  const example = {
    namespaceSelector: { matchLabels: { team: 'a' } },
    admission: {
      allowedModels: ['claude-sonnet-4-5'], forbiddenPermissionModes: ['bypassPermissions'], maxTurns: 50, maxTimeoutSeconds: 3600,
      maxBudgetUSD: '5.00', requireRuntimeClassName: 'gvisor', allowedGitHosts: ['github.com'], allowMcpServers: true,
    },
    concurrency: { maxTasksPerNamespace: 10, maxTasksPerUser: 3, maxSessionsPerUser: 5 },
    budgets: [{ scope: 'Namespace', period: 'Monthly', maxCostUSD: '500.00' }, { scope: 'User', period: 'Daily', maxCostUSD: '20.00', maxTokens: 5000000 }],
    kueue: { localQueueName: 'claude' },
  };
  expect(ClaudePolicySpecSchema.safeParse(example).success).toBe(true);
  expect(ClaudePolicySpecSchema.safeParse({ admission: { maxBudgetUSD: '-1' } }).success).toBe(false);
  expect(ClaudePolicySpecSchema.safeParse({ admission: { forbiddenPermissionModes: ['yolo'] } }).success).toBe(false);
});
