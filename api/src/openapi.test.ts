import { expect, test } from '@jest/globals';
import { openApiDocument } from './openapi.ts';
import { problemKinds, problemTypeBase } from './http/problem.ts';
import { StreamQuerySchema } from './tasks/schemas.ts';

const doc = openApiDocument({ maxWaitSeconds: 300 }) as {
  openapi: string;
  paths: Record<string, Record<string, unknown>>;
  components: { schemas: Record<string, { properties?: Record<string, unknown>; required?: string[] }> };
};

test('OpenAPI 3.1 with the task spec schema from the resource model', () => {
  expect(doc.openapi).toBe('3.1.0');
  const spec = doc.components.schemas.ClaudeTaskSpec!;
  // Not required: a task made from a template (templateRef) gets the template's; the CRD's CEL rule says one of the two.
  expect(spec.required ?? []).not.toContain('prompt');
  expect(spec.properties).toHaveProperty('templateRef');
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
    'GET /api/v1/namespaces/{namespace}/tasks/{name}/report',
    'GET /api/v1/namespaces/{namespace}/tasks/{name}/result',
    'GET /api/v1/namespaces/{namespace}/tasks/{name}/stream',
    'GET /api/v1/namespaces/{namespace}/templates',
    'GET /api/v1/namespaces/{namespace}/templates/{name}',
    'GET /api/v1/openapi.json',
    'GET /api/v1/usage',
    'GET /healthz',
    'GET /metrics',
    'GET /readyz',
    'POST /api/v1/namespaces/{namespace}/tasks',
    'POST /api/v1/namespaces/{namespace}/tasks/{name}/cancel',
    'POST /api/v1/namespaces/{namespace}/tasks/{name}/stream-ticket',
    'POST /api/v1/namespaces/{namespace}/templates/{name}/tasks',
    'GET /api/v1/namespaces/{namespace}/sessions',
    'POST /api/v1/namespaces/{namespace}/sessions',
    'GET /api/v1/namespaces/{namespace}/sessions/{name}',
    'DELETE /api/v1/namespaces/{namespace}/sessions/{name}',
    'GET /api/v1/namespaces/{namespace}/sessions/{name}/messages',
    'POST /api/v1/namespaces/{namespace}/sessions/{name}/messages',
    'GET /api/v1/namespaces/{namespace}/sessions/{name}/messages/{messageId}',
    'POST /api/v1/namespaces/{namespace}/sessions/{name}/interrupt',
    'POST /api/v1/namespaces/{namespace}/sessions/{name}/stream-ticket',
    'GET /api/v1/namespaces/{namespace}/sessions/{name}/stream',
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

test('usage: its query from the schema that validates it, the report with its rows', () => {
  const usage = doc.paths['/api/v1/usage']!.get as { parameters: Array<{ name: string; schema: object }>; responses: Record<string, unknown> };
  expect(usage.parameters.map((p) => p.name)).toEqual(['namespace', 'user', 'from', 'to', 'groupBy']);
  expect(Object.keys(usage.responses)).toEqual(expect.arrayContaining(['200', '400', '401', '404']));
  expect(doc.components.schemas.UsageReport?.properties?.items).toEqual({ type: 'array', items: { $ref: '#/components/schemas/UsageRow' } });
  expect(doc.components.schemas.UsageRow?.required).toEqual(expect.arrayContaining(['runs', 'inputTokens', 'outputTokens', 'costUSD']));
});

test('the WebSocket: a GET answering 101, its query from the schema that validates it, its messages in x-websocket', () => {
  const stream = doc.paths['/api/v1/namespaces/{namespace}/tasks/{name}/stream']!.get as {
    parameters: Array<{ name: string }>; responses: Record<string, unknown>;
    'x-websocket': { messages: Record<string, { schema: { $ref: string } }>; closeCodes: Record<string, string> };
  };
  expect(stream.parameters.map((p) => p.name)).toEqual(Object.keys(StreamQuerySchema.shape));
  expect(Object.keys(stream.responses)).toEqual(expect.arrayContaining(['101', '400', '401', '404', '429']));
  expect(Object.values(stream['x-websocket'].messages).map((m) => m.schema.$ref)).toEqual([
    '#/components/schemas/Event', '#/components/schemas/NormalizedEvent', '#/components/schemas/PartialMessage',
  ]);
  expect(Object.keys(stream['x-websocket'].closeCodes)).toEqual(['1000', '1001', '1011', '1013']);
  const normalized = JSON.stringify(doc.components.schemas.NormalizedEvent);
  for (const type of ['message', 'tool_use', 'tool_result', 'progress', 'complete', 'error']) expect(normalized).toContain(`"const":"${type}"`);
});

test('Idempotency-Key on create and cancel; every problem type listed', () => {
  const header = (path: string) => ((doc.paths[path]!.post as { parameters: Array<{ name: string; in: string }> }).parameters)
    .find((p) => p.in === 'header')?.name;
  expect(header('/api/v1/namespaces/{namespace}/tasks')).toBe('Idempotency-Key');
  expect(header('/api/v1/namespaces/{namespace}/tasks/{name}/cancel')).toBe('Idempotency-Key');
  expect(Object.keys((doc as unknown as { 'x-problem-types': object })['x-problem-types'])).toEqual(
    Object.keys(problemKinds).map((kind) => `${problemTypeBase}${kind}`));
});

test('sessions: the spec from the resource model, the message\'s answers and its Idempotency-Key, the stream with messageId', () => {
  const session = doc.components.schemas.ClaudeSessionSpec!;
  expect(session.properties).toHaveProperty('idleTimeoutSeconds');
  expect(session.properties).not.toHaveProperty('prompt');
  expect(doc.components.schemas.CreateSession?.properties?.spec).toEqual({ $ref: '#/components/schemas/ClaudeSessionSpec' });
  const messages = '/api/v1/namespaces/{namespace}/sessions/{name}/messages';
  const send = doc.paths[messages]!.post as { parameters: Array<{ name: string; in: string }>; responses: Record<string, unknown> };
  expect(send.parameters.map((p) => p.name)).toEqual(['async', 'Idempotency-Key']);
  expect(Object.keys(send.responses)).toEqual(expect.arrayContaining(['200', '202', '400', '404', '409', '413', '422']));
  expect(doc.components.schemas.MessageAnswer?.required).toEqual(
    expect.arrayContaining(['messageId', 'state', 'result', 'usage', 'stopReason', 'firstSeq', 'lastSeq']));
  const list = doc.paths[messages]!.get as { parameters: Array<{ name: string }> };
  expect(list.parameters.map((p) => p.name)).toEqual(['limit', 'cursor']);
  const stream = doc.paths['/api/v1/namespaces/{namespace}/sessions/{name}/stream']!.get as { parameters: Array<{ name: string }>; description: string };
  expect(stream.parameters.map((p) => p.name)).toEqual(Object.keys(StreamQuerySchema.shape));
  expect(stream.description).toContain('messageId');
  expect(doc.components.schemas.Event?.properties).toHaveProperty('messageId');
});
