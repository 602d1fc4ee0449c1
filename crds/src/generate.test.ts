import { describe, expect, test } from '@jest/globals';
import { z } from 'zod';
import { ClaudeTaskSpecSchema } from './claude-task.ts';
import { exactlyOneOf, escapeCelField } from './cel-rules.ts';
import { crdOf, specJsonSchema } from './generate.ts';
import { claudeTask, kinds, type KindDefinition } from './kinds.ts';
import { toStructural, schemaNodes, type JsonSchema } from './structural.ts';

type Version = { schema: { openAPIV3Schema: JsonSchema }; additionalPrinterColumns: { name: string; type: string; jsonPath: string; priority?: number }[] };
const version = (crdOf(claudeTask).spec as { versions: Version[] }).versions[0]!;
const root = version.schema.openAPIV3Schema;
const properties = (node: JsonSchema) => node.properties as Record<string, JsonSchema>;
const spec = properties(root).spec!;

const nodes = schemaNodes;

describe('the CRD schema is structural', () => {
  test.each([...nodes(root, '')])('%s', (_path, node) => {
    expect(node.type !== undefined || node['x-kubernetes-preserve-unknown-fields'] === true).toBe(true);
    expect(node.additionalProperties).not.toBe(false);
    expect(node.properties !== undefined && node.additionalProperties !== undefined).toBe(false);
    expect(node).not.toHaveProperty('$schema');
  });
});

// kubectl explain shows a field's description; without one it shows nothing. The
// apiserver allows no description on metadata (kubectl explains it as ObjectMeta).
test.each(kinds.map((kind) => [kind.kind, kind] as const))('every field of the %s schema has a description', (_name, kind: KindDefinition) => {
  const kindRoot = (crdOf(kind).spec as { versions: Version[] }).versions[0]!.schema.openAPIV3Schema;
  const undescribed = [...nodes(kindRoot, '')].flatMap(([path, node]) =>
    Object.entries((node.properties ?? {}) as Record<string, JsonSchema>)
      .filter(([, child]) => typeof child.description !== 'string' || child.description.trim() === '')
      .map(([name]) => `${path}.${name}`))
    .filter((path) => path !== '.metadata');
  expect(undescribed).toEqual([]);
});

// The apiserver estimates the cost of CEL rules from these bounds (unbounded means
// "as large as a 3 MiB request") and refuses a CRD whose rules cost too much.
// Today's rules fit even unbounded; the bounds keep rules added later in budget.
test('every string, list and map in the spec is bounded', () => {
  const unbounded = [...nodes(spec, 'spec')].filter(([, node]) =>
    (node.type === 'string' && node.maxLength === undefined && node.enum === undefined)
    || (node.type === 'array' && node.maxItems === undefined)
    || (node.type === 'object' && node.properties === undefined && node.maxProperties === undefined));
  expect(unbounded.map(([path]) => path)).toEqual([]);
});

test('spec is required, spec.prompt unless templateRef is set; records are maps; mcpServers keeps what it is given', () => {
  expect(root.required).toEqual(['spec']);
  expect(spec.required).toBeUndefined();
  expect(spec['x-kubernetes-validations']).toContainEqual(expect.objectContaining({ rule: 'has(self.prompt) || has(self.templateRef)' }));
  expect(properties(spec).variables).toMatchObject({ type: 'object', maxProperties: 64, additionalProperties: { type: 'string' } });
  expect(properties(spec).mcpServers!.additionalProperties).toEqual({
    type: 'object', maxProperties: 64, 'x-kubernetes-preserve-unknown-fields': true,
  });
  expect(properties(spec).maxTurns).toEqual({ description: expect.any(String), type: 'integer', minimum: 1, maximum: 1000 });
  expect(properties(properties(properties(root).status!).usage!).turns).toEqual({ description: expect.any(String), type: 'integer', minimum: 0 });
});

test('the immutability rule compares every spec field but cancel', () => {
  const [immutable] = spec['x-kubernetes-validations'] as { rule: string }[];
  for (const name of Object.keys(ClaudeTaskSpecSchema.shape)) {
    if (name === 'cancel') expect(immutable!.rule).not.toContain('cancel');
    else expect(immutable!.rule).toContain(`self.${name} == oldSelf.${name}`);
  }
});

test('printer columns', () => {
  expect(version.additionalPrinterColumns.map((c) => `${c.name}:${c.type}:${c.jsonPath}`)).toEqual([
    'Phase:string:.status.phase', 'Model:string:.status.model', 'Turns:integer:.status.usage.turns',
    'Cost:string:.status.usage.costUSD', 'Age:date:.metadata.creationTimestamp', 'Duration:string:.status.duration',
    'Pod:string:.status.podName', 'Attempts:integer:.status.attempts', 'Reason:string:.status.reason',
  ]);
  // Only the wide ones have a priority: kubectl get shows the rest.
  expect(version.additionalPrinterColumns.filter((c) => c.priority === 1).map((c) => c.name)).toEqual(['Pod', 'Attempts', 'Reason']);
});

test('the API\'s JSON Schema of the spec rejects unknown fields and has no $schema', () => {
  const schema = specJsonSchema(claudeTask);
  expect(schema).not.toHaveProperty('$schema');
  expect(schema.additionalProperties).toBe(false);
  expect(schema.required).toBeUndefined();
});

test('what a structural schema cannot say is an error, not silently dropped', () => {
  const union = z.toJSONSchema(z.object({ a: z.union([z.string(), z.number()]) }), { target: 'openapi-3.0' }) as JsonSchema;
  expect(() => toStructural(union)).toThrow('.a: cannot express anyOf in a structural schema');
  expect(() => toStructural({ type: 'object', properties: { a: {} } })).toThrow('.a: every node of a structural schema needs a type');
});

test('CEL rules refuse fields the schema does not have, and escape reserved words', () => {
  const node = { type: 'object', properties: { a: { type: 'string' }, b: { type: 'string' } } };
  expect(() => exactlyOneOf(node, ['a', 'c'])).toThrow('no field c for a CEL rule (fields: a, b)');
  expect(escapeCelField('namespace')).toBe('__namespace__');
  expect(escapeCelField('x-y.z')).toBe('x__dash__y__dot__z');
});

describe('the registry of kinds', () => {
  test('names each kind, plural, short name and file once', () => {
    for (const key of ['kind', 'plural', 'file'] as const) expect(new Set(kinds.map((kind) => kind[key])).size).toBe(kinds.length);
    const shortNames = kinds.flatMap((kind) => kind.shortNames);
    expect(new Set(shortNames).size).toBe(shortNames.length);
  });

  test('an entry is all a kind needs: a cluster-scoped one renders as one, with its own names, columns and fields', () => {
    const policy: KindDefinition = {
      ...claudeTask, kind: 'ExamplePolicy', plural: 'examplepolicies', shortNames: ['xpol'], scope: 'Cluster', file: 'examplepolicy.yaml',
      spec: z.object({ maxBudgetUSD: z.string().optional().describe('A limit.') }).describe('The policy.'),
      status: z.object({ ready: z.boolean().optional().describe('Whether it applies.') }).describe('What the operator saw.'),
      specRules: {}, printerColumns: [{ name: 'Ready', type: 'boolean', jsonPath: '.status.ready' }], selectableFields: ['.status.ready'],
    };
    const crd = crdOf(policy) as { metadata: { name: string }; spec: { scope: string; names: Record<string, unknown>; versions: Array<Record<string, unknown>> } };
    expect(crd.metadata.name).toBe('examplepolicies.claude-operator.io');
    expect(crd.spec.scope).toBe('Cluster');
    expect(crd.spec.names).toMatchObject({ kind: 'ExamplePolicy', listKind: 'ExamplePolicyList', singular: 'examplepolicy', shortNames: ['xpol'] });
    expect(crd.spec.versions[0]).toMatchObject({
      additionalPrinterColumns: [{ name: 'Ready', type: 'boolean', jsonPath: '.status.ready' }], selectableFields: [{ jsonPath: '.status.ready' }],
    });
    expect(JSON.stringify(crd.spec.versions[0])).not.toContain('x-kubernetes-validations');
  });
});
