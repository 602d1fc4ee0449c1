// The server in-process over loopback HTTP (no external processes).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startScriptedApi, type ScriptedApi } from './server.ts';
import { promptRequest } from './test-requests.ts';

let api: ScriptedApi;
beforeAll(async () => {
  api = await startScriptedApi({ apiKey: 'good-key' });
});
afterAll(async () => {
  await api.close();
});

function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${api.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'good-key', ...headers },
    body: JSON.stringify(body),
  });
}

/** The SSE stream as [event, data] pairs. */
function parseSse(text: string): Array<[string, Record<string, unknown>]> {
  return text
    .trim()
    .split('\n\n')
    .map((chunk) => {
      const [eventLine, dataLine] = chunk.split('\n');
      return [eventLine?.replace('event: ', '') ?? '', JSON.parse(dataLine?.replace('data: ', '') ?? '{}')];
    });
}

describe('POST /v1/messages', () => {
  test('streams a tool_use in the Messages SSE format', async () => {
    const response = await post('/v1/messages?beta=true', promptRequest('[[scenario:write-file {"path":"a.txt","content":"hi"}]]'));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    const events = parseSse(await response.text());
    expect(events.map(([name]) => name)).toEqual([
      'message_start',
      'content_block_start',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    expect(events[1]?.[1]).toMatchObject({ content_block: { type: 'tool_use', name: 'Write', input: {} } });
    const delta = events[2]?.[1] as { delta: { type: string; partial_json: string } };
    expect(delta.delta.type).toBe('input_json_delta');
    expect(JSON.parse(delta.delta.partial_json)).toEqual({ file_path: '/work/space/a.txt', content: 'hi' });
    expect(events[4]?.[1]).toMatchObject({ delta: { stop_reason: 'tool_use' }, usage: { input_tokens: 140, cache_creation_input_tokens: 1000 } });
  });

  test('answers stream: false with a plain JSON message', async () => {
    const response = await post('/v1/messages', promptRequest('[[scenario:answer {"text":"plain"}]]', { stream: false }));
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      type: 'message',
      role: 'assistant',
      content: [{ type: 'text', text: 'plain' }],
      stop_reason: 'end_turn',
      usage: { input_tokens: 140, output_tokens: 12, cache_read_input_tokens: 0, cache_creation_input_tokens: 1000 },
    });
  });

  test('rate-limited counts attempts per session and prompt', async () => {
    const request = promptRequest('[[scenario:rate-limited {"times":1,"retryAfter":7}]]');
    const first = await post('/v1/messages', request, { 'x-claude-code-session-id': 'rl-1' });
    expect(first.status).toBe(429);
    expect(first.headers.get('retry-after')).toBe('7');
    expect(await first.json()).toEqual({ type: 'error', error: { type: 'rate_limit_error', message: expect.any(String) } });
    // Another session has its own budget; the first one now gets through.
    expect((await post('/v1/messages', request, { 'x-claude-code-session-id': 'rl-2' })).status).toBe(429);
    expect((await post('/v1/messages', request, { 'x-claude-code-session-id': 'rl-1' })).status).toBe(200);
  });

  test.each([
    ['server-error', 500, 'api_error'],
    ['overloaded', 529, 'overloaded_error'],
  ])('%s answers %i with an Anthropic error body', async (scenario, status, type) => {
    const response = await post('/v1/messages', promptRequest(`[[scenario:${scenario}]]`));
    expect(response.status).toBe(status);
    expect(await response.json()).toMatchObject({ type: 'error', error: { type } });
  });

  test.each([
    ['a wrong x-api-key', { 'x-api-key': 'bad' }],
    ['no key', { 'x-api-key': '' }],
  ])('%s gets a 401', async (_name, headers) => {
    const response = await post('/v1/messages', promptRequest('hello'), headers);
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ error: { type: 'authentication_error' } });
  });

  test('a Bearer token is accepted as the key', async () => {
    const response = await fetch(`${api.url}/v1/messages`, {
      method: 'POST',
      headers: { authorization: 'Bearer good-key' },
      body: JSON.stringify(promptRequest('hello', { stream: false })),
    });
    expect(response.status).toBe(200);
  });
});

describe('other routes', () => {
  test('count_tokens answers an estimate', async () => {
    const response = await post('/v1/messages/count_tokens', { messages: [{ role: 'user', content: 'x'.repeat(400) }] });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { input_tokens: number };
    expect(body.input_tokens).toBeGreaterThan(100);
  });

  test("the CLI's connectivity check gets a 200", async () => {
    expect((await fetch(`${api.url}/api/hello`, { method: 'HEAD' })).status).toBe(200);
  });

  test('unknown paths get a JSON 404', async () => {
    const response = await fetch(`${api.url}/v1/models`);
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
  });

  test('every request is recorded with its scenario and status', () => {
    const rateLimited = api.requests.filter((request) => request.scenario === 'rate-limited');
    expect(rateLimited.map((request) => [request.headers['x-claude-code-session-id'], request.status])).toEqual([
      ['rl-1', 429],
      ['rl-2', 429],
      ['rl-1', 200],
    ]);
    expect(api.requests.at(-1)).toMatchObject({ method: 'GET', path: '/v1/models', status: 404, scenario: 'not-found' });
  });
});

test('close() is idempotent and ends a slow stream', async () => {
  const slowApi = await startScriptedApi();
  const response = await fetch(`${slowApi.url}/v1/messages`, {
    method: 'POST',
    body: JSON.stringify(promptRequest('[[scenario:slow {"tokens":100,"delayMs":1000}]]')),
  });
  expect(response.status).toBe(200);
  await Promise.all([slowApi.close(), slowApi.close()]);
  await expect(response.text()).rejects.toThrow();
});

describe('rateLimitKey', () => {
  test('answers every message request with that key 429 with retry-after and the reset until then; other keys answer normally', async () => {
    const limited = await startScriptedApi({ apiKey: ['key-a', 'key-b'] });
    try {
      const resetAt = new Date(Date.now() + 30_000);
      limited.rateLimitKey('key-a', resetAt);
      const send = (key: string) => fetch(`${limited.url}/v1/messages`, {
        method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': key }, body: JSON.stringify(promptRequest('hello')),
      });
      const a = await send('key-a');
      expect(a.status).toBe(429);
      expect(Number(a.headers.get('retry-after'))).toBeGreaterThanOrEqual(29);
      expect(Number(a.headers.get('retry-after'))).toBeLessThanOrEqual(30);
      expect(a.headers.get('anthropic-ratelimit-requests-reset')).toBe(resetAt.toISOString());
      expect(await a.json()).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } });
      expect((await send('key-b')).status).toBe(200);
      expect((await send('key-c')).status).toBe(401);
      limited.rateLimitKey('key-a', new Date(Date.now() - 1));
      expect((await send('key-a')).status).toBe(200);
      expect(limited.requests.map((r) => r.scenario)).toEqual(['key-rate-limited', 'answer', 'bad-key', 'answer']);
    } finally {
      await limited.close();
    }
  });
});

