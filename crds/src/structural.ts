// Converts the JSON Schema zod emits (target openapi-3.0) into a Kubernetes
// *structural* schema, the only kind a CRD may have: every node typed, no
// `additionalProperties: false`, maps as `additionalProperties`, and unknown
// values kept with `x-kubernetes-preserve-unknown-fields`. Anything it does not
// know how to convert (anyOf, $ref, ...) is an error rather than silently lost.

export type JsonSchema = { [keyword: string]: unknown };

/** Keywords copied as they are, in this order (so the YAML reads naturally). */
const scalarKeywords = [
  'title', 'description', 'type', 'format', 'enum', 'default', 'nullable',
  'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum',
  'minLength', 'maxLength', 'pattern', 'minItems', 'maxItems', 'minProperties', 'maxProperties',
] as const;
const handledKeywords = new Set<string>([...scalarKeywords, 'required', 'properties', 'additionalProperties', 'items', '$schema']);

// zod gives every z.number().int() these bounds; they say nothing a CRD needs.
const implicitIntegerBounds = { minimum: Number.MIN_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER };

export function toStructural(schema: JsonSchema, path = ''): JsonSchema {
  const unknown = Object.keys(schema).filter((keyword) => !handledKeywords.has(keyword) && !keyword.startsWith('x-kubernetes-'));
  if (unknown.length > 0) throw new Error(`${path || '<root>'}: cannot express ${unknown.join(', ')} in a structural schema`);
  if (typeof schema.type !== 'string') throw new Error(`${path || '<root>'}: every node of a structural schema needs a type`);

  const out: JsonSchema = {};
  for (const keyword of scalarKeywords) {
    const value = schema[keyword];
    if (value === undefined) continue;
    if (schema.type === 'integer' && (keyword === 'minimum' || keyword === 'maximum') && value === implicitIntegerBounds[keyword]) continue;
    out[keyword] = value;
  }
  if (Array.isArray(schema.required) && schema.required.length > 0) out.required = [...schema.required];

  if (schema.properties !== undefined) {
    const properties: Record<string, JsonSchema> = {};
    for (const [name, property] of Object.entries(schema.properties as Record<string, JsonSchema>)) {
      properties[name] = toStructural(property, `${path}.${name}`);
    }
    out.properties = properties;
    // additionalProperties: false is implied: the apiserver prunes unknown fields.
  } else if (isSchema(schema.additionalProperties)) {
    if (Object.keys(schema.additionalProperties).length === 0) {
      // A record of z.unknown(): any JSON object, kept as it is.
      out['x-kubernetes-preserve-unknown-fields'] = true;
    } else {
      out.additionalProperties = toStructural(schema.additionalProperties, `${path}[*]`);
    }
  }
  if (schema.items !== undefined) {
    if (!isSchema(schema.items)) throw new Error(`${path}: tuple items cannot be expressed in a structural schema`);
    out.items = toStructural(schema.items, `${path}[]`);
  }
  for (const [keyword, value] of Object.entries(schema)) {
    if (keyword.startsWith('x-kubernetes-')) out[keyword] = value;
  }
  return out;
}

function isSchema(value: unknown): value is JsonSchema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The node at a path such as `env[].valueFrom` (`[]` steps into array items). */
export function schemaAt(root: JsonSchema, path: string): JsonSchema {
  let node = root;
  for (const step of path.split('.').filter(Boolean)) {
    const [name, ...brackets] = step.split('[]');
    const properties = node.properties as Record<string, JsonSchema> | undefined;
    const next = name ? properties?.[name] : node;
    if (!next) throw new Error(`schema has no field ${path}`);
    node = next;
    for (let i = 0; i < brackets.length; i++) {
      if (!isSchema(node.items)) throw new Error(`schema field ${path} is not an array`);
      node = node.items;
    }
  }
  return node;
}

/** Every node of a schema with its path: list items end in [], map values in [*]. */
export function* schemaNodes(node: JsonSchema, path: string): Generator<[string, JsonSchema]> {
  yield [path, node];
  for (const [name, child] of Object.entries((node.properties ?? {}) as Record<string, JsonSchema>)) yield* schemaNodes(child, `${path}.${name}`);
  if (node.items) yield* schemaNodes(node.items as JsonSchema, `${path}[]`);
  if (typeof node.additionalProperties === 'object') yield* schemaNodes(node.additionalProperties as JsonSchema, `${path}[*]`);
}
