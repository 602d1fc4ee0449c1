import { expect, test } from '@jest/globals';
import { openApiDocument } from './openapi.ts';

const doc = openApiDocument({ maxWaitSeconds: 300 }) as {
  openapi: string;
  paths: Record<string, Record<string, unknown>>;
  components: { schemas: Record<string, { properties?: Record<string, unknown>; required?: string[] }> };
};

test('OpenAPI 3.1 with the task spec schema from the resource model', () => {
  expect(doc.openapi).toBe('3.1.0');
  const spec = doc.components.schemas.ClaudeTaskSpec!;
  expect(spec.required).toContain('prompt');
  expect(spec.properties).toHaveProperty('prompt', expect.objectContaining({ maxLength: 100 * 1024 }));
  expect(doc.components.schemas.CreateTask?.properties?.spec).toEqual({ $ref: '#/components/schemas/ClaudeTaskSpec' });
  expect(JSON.stringify(doc)).not.toContain('"$schema"');
});

test('every route is in it', () => {
  const operations = Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.keys(item).filter((key) => key !== 'parameters').map((method) => `${method.toUpperCase()} ${path}`));
  expect(operations.sort()).toEqual([
    'DELETE /api/v1/namespaces/{namespace}/tasks/{name}',
    'GET /api/v1/namespaces/{namespace}/tasks',
    'GET /api/v1/namespaces/{namespace}/tasks/{name}',
    'GET /api/v1/namespaces/{namespace}/tasks/{name}/events',
    'GET /api/v1/namespaces/{namespace}/tasks/{name}/result',
    'GET /api/v1/openapi.json',
    'GET /healthz',
    'GET /metrics',
    'GET /readyz',
    'POST /api/v1/namespaces/{namespace}/tasks',
    'POST /api/v1/namespaces/{namespace}/tasks/{name}/cancel',
    'POST /api/v1/namespaces/{namespace}/tasks/{name}/stream-ticket',
  ].sort());
});

test('every $ref resolves', () => {
  const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((match) => match[1]!);
  expect(refs.length).toBeGreaterThan(5);
  for (const id of refs) expect(doc.components.schemas).toHaveProperty([id]);
});

test('query parameters come from the schemas', () => {
  const list = doc.paths['/api/v1/namespaces/{namespace}/tasks']!.get as { parameters: Array<{ name: string }> };
  expect(list.parameters.map((p) => p.name)).toEqual(['phase', 'labelSelector', 'createdAfter', 'createdBefore', 'limit', 'cursor']);
});
