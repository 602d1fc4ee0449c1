// Renders the ClaudeTask CustomResourceDefinition from the zod model in
// claude-task.ts: JSON Schema from zod, made structural, plus CEL rules built
// from the same schema. `node crds/src/write-crds.ts` writes it to crds/claudetask.yaml.
import { z } from 'zod';
import {
  ClaudeTaskSpecSchema, ClaudeTaskStatusSchema, claudeTaskKind, claudeTaskPlural, group, version,
} from './claude-task.ts';
import { doesNotStartWith, exactlyOneOf, immutableExcept, matches, mutuallyExclusive, staysTrue, type CelRule } from './cel-rules.ts';
import { schemaAt, toStructural, type JsonSchema } from './structural.ts';
import { toYaml } from './yaml.ts';

export const claudeTaskCrdName = `${claudeTaskPlural}.${group}`;

/** Fields `--field-selector` can filter on, besides metadata.name and metadata.namespace (each must be a string, integer or boolean). */
export const selectableFields = ['.status.phase', '.status.reason', '.status.model', '.spec.model', '.spec.engine'] as const;

/**
 * The spec's JSON Schema as zod emits it (OpenAPI 3.0 flavour), for the API's
 * request validation and OpenAPI document. Stricter than the CRD's schema
 * (unknown fields are errors, not pruned) and without the CEL rules.
 */
export function claudeTaskSpecJsonSchema(): JsonSchema {
  const { $schema: _ignored, ...schema } = z.toJSONSchema(ClaudeTaskSpecSchema, { target: 'openapi-3.0' }) as JsonSchema;
  return schema;
}

// git URLs a clone may use; not file:// (the node's disk) nor anything starting
// with '-', which git would read as an option.
const gitUrlPattern = '^((https?|ssh|git)://[^[:space:]/]+/[^[:space:]]+|[a-zA-Z0-9_][-._a-zA-Z0-9]*@[-.a-zA-Z0-9]+:[^[:space:]]+)$';

/** CEL rules by where they sit in the spec (`[]` steps into array items). */
const specRules: Record<string, (node: JsonSchema) => CelRule[]> = {
  '': (spec) => [
    immutableExcept(spec, ['cancel'], 'spec is immutable after creation; only spec.cancel may change'),
    staysTrue(spec, 'cancel', 'a cancelled task stays cancelled: spec.cancel cannot go from true back to false'),
  ],
  'env[]': (env) => [mutuallyExclusive(env, ['value', 'valueFrom'])],
  'env[].valueFrom': (from) => [exactlyOneOf(from, ['secretKeyRef', 'configMapKeyRef'])],
  'envFrom[]': (from) => [exactlyOneOf(from, ['secretRef', 'configMapRef'])],
  'workspace.git': (git) => [
    matches(git, 'url', gitUrlPattern, 'must be an https://, http://, ssh:// or git:// URL, or user@host:path'),
    doesNotStartWith(git, 'ref', '-', 'must not start with \'-\''),
  ],
};

export function claudeTaskSpecStructuralSchema(): JsonSchema {
  const spec = toStructural(claudeTaskSpecJsonSchema(), 'spec');
  for (const [path, rules] of Object.entries(specRules)) {
    const node = schemaAt(spec, path);
    node['x-kubernetes-validations'] = rules(node);
  }
  return spec;
}

export function claudeTaskCrd(): Record<string, unknown> {
  const status = toStructural(z.toJSONSchema(ClaudeTaskStatusSchema, { target: 'openapi-3.0' }) as JsonSchema, 'status');
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: claudeTaskCrdName },
    spec: {
      group,
      names: {
        kind: claudeTaskKind,
        listKind: `${claudeTaskKind}List`,
        plural: claudeTaskPlural,
        singular: claudeTaskKind.toLowerCase(),
        shortNames: ['ctask'],
        categories: ['claude'],
      },
      scope: 'Namespaced',
      versions: [{
        name: version,
        served: true,
        storage: true,
        subresources: { status: {} },
        additionalPrinterColumns: [
          { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
          { name: 'Model', type: 'string', jsonPath: '.status.model', description: 'The model the agent runs with' },
          { name: 'Turns', type: 'integer', jsonPath: '.status.usage.turns' },
          { name: 'Cost', type: 'string', jsonPath: '.status.usage.costUSD', description: 'US dollars' },
          { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          { name: 'Duration', type: 'string', jsonPath: '.status.duration' },
          // -o wide
          { name: 'Pod', type: 'string', jsonPath: '.status.podName', priority: 1 },
          { name: 'Attempts', type: 'integer', jsonPath: '.status.attempts', priority: 1 },
          { name: 'Reason', type: 'string', jsonPath: '.status.reason', priority: 1 },
        ],
        // kubectl get ctask --field-selector status.phase=Running (and the same in API list calls).
        selectableFields: selectableFields.map((jsonPath) => ({ jsonPath })),
        schema: {
          openAPIV3Schema: {
            description: 'ClaudeTask runs the Claude Code CLI once, as a Kubernetes workload, on the prompt in its spec.',
            type: 'object',
            required: ['spec'],
            properties: {
              // For kubectl explain. metadata may carry nothing but type (the apiserver
              // refuses more); kubectl explains it as ObjectMeta.
              apiVersion: { type: 'string', description: 'The versioned schema of this representation of an object.' },
              kind: { type: 'string', description: 'The REST resource this object represents.' },
              metadata: { type: 'object' },
              spec: claudeTaskSpecStructuralSchema(),
              status: status,
            },
          },
        },
      }],
    },
  };
}

const header = '# Generated from crds/src/claude-task.ts by `node crds/src/write-crds.ts`; do not edit.\n';

export function claudeTaskCrdYaml(): string {
  return header + toYaml(claudeTaskCrd());
}
