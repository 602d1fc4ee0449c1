// Renders a kind's CustomResourceDefinition from its zod model (kinds.ts):
// JSON Schema from zod, made structural, plus CEL rules built from the same
// schema. `node crds/src/write-crds.ts` writes them to crds/ and the chart.
import { z } from 'zod';
import type { KindDefinition } from './kinds.ts';
import { schemaAt, toStructural, type JsonSchema } from './structural.ts';
import { toYaml } from './yaml.ts';

export function crdName(kind: KindDefinition): string {
  return `${kind.plural}.${kind.group}`;
}

/**
 * The spec's JSON Schema as zod emits it (OpenAPI 3.0 flavour), for the API's
 * request validation and OpenAPI document. Stricter than the CRD's schema
 * (unknown fields are errors, not pruned) and without the CEL rules.
 */
export function specJsonSchema(kind: KindDefinition): JsonSchema {
  const { $schema: _ignored, ...schema } = z.toJSONSchema(kind.spec, { target: 'openapi-3.0' }) as JsonSchema;
  return schema;
}

export function specStructuralSchema(kind: KindDefinition): JsonSchema {
  const spec = toStructural(specJsonSchema(kind), 'spec');
  for (const [path, rules] of Object.entries(kind.specRules)) {
    const node = schemaAt(spec, path);
    node['x-kubernetes-validations'] = rules(node);
  }
  return spec;
}

export function crdOf(kind: KindDefinition): Record<string, unknown> {
  const status = toStructural(z.toJSONSchema(kind.status, { target: 'openapi-3.0' }) as JsonSchema, 'status');
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: crdName(kind) },
    spec: {
      group: kind.group,
      names: {
        kind: kind.kind,
        listKind: `${kind.kind}List`,
        plural: kind.plural,
        singular: kind.kind.toLowerCase(),
        shortNames: kind.shortNames,
        categories: kind.categories,
      },
      scope: kind.scope,
      versions: [{
        name: kind.version,
        served: true,
        storage: true,
        subresources: { status: {} },
        additionalPrinterColumns: kind.printerColumns,
        selectableFields: kind.selectableFields.map((jsonPath) => ({ jsonPath })),
        schema: {
          openAPIV3Schema: {
            description: kind.description,
            type: 'object',
            required: ['spec'],
            properties: {
              // For kubectl explain. metadata may carry nothing but type (the apiserver
              // refuses more); kubectl explains it as ObjectMeta.
              apiVersion: { type: 'string', description: 'The versioned schema of this representation of an object.' },
              kind: { type: 'string', description: 'The REST resource this object represents.' },
              metadata: { type: 'object' },
              spec: specStructuralSchema(kind),
              status: status,
            },
          },
        },
      }],
    },
  };
}

export function crdYaml(kind: KindDefinition): string {
  return `# Generated from ${kind.source} by \`node crds/src/write-crds.ts\`; do not edit.\n${toYaml(crdOf(kind))}`;
}
