// A seeded, deterministic fuzz run against the REST API on the test bed: a few
// thousand malformed paths, headers and bodies (and some malformed HTTP on raw
// sockets) get only 4xx answers, never a 5xx, and the server stays up.
import net from 'node:net';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import type { ApiServer } from './server.ts';
import { startTestApi, token } from './test-support.ts';
import { createTestNamespace, type TestNamespace } from '../../test/support/cluster.ts';

let api: ApiServer;
let ns: TestNamespace;
const seed = Number(process.env.FUZZ_SEED ?? 20240601);
const budgetMs = 20_000;
const requests = 3000;

beforeAll(async () => {
  ({ api } = await startTestApi({ RATE_LIMIT_REQUESTS: '100000', BODY_LIMIT_BYTES: String(64 * 1024) }));
  ns = await createTestNamespace('api-fuzz');
});
afterAll(async () => {
  await api?.close();
  await ns?.delete();
});

function mulberry32(start: number) {
  let a = start >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test(`fuzz: ${requests} malformed requests (seed ${seed}) get 4xx, never 5xx; the server stays up`, async () => {
  const random = mulberry32(seed);
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const good = await token({ tenant: 'fuzz', namespaces: [ns.name], role: 'admin' });
  const viewer = await token({ tenant: 'fuzz', namespaces: [ns.name], role: 'viewer' });

  const junkChars = ['%', '%00', '%zz', '%E0%A4%A', '..', '/', '\\', '~', '!', '"', '\'', '<', '>', '{', '}', 'é', '😀', '\t', ';', ',', '*', '?', '#', '&', '='];
  const segment = () => pick([
    ns.name, 'tasks', 'cancel', 'events', 'result', 'stream-ticket', 'api', 'v1', 'namespaces', 'x'.repeat(int(400)),
    'sessions', 'messages', 'interrupt', `msg_${'a'.repeat(32)}`,
    Array.from({ length: 1 + int(6) }, () => pick(junkChars)).join(''), encodeURIComponent(pick(junkChars)), String(int(1e9)), '',
  ]);
  const base = `/api/v1/namespaces/${ns.name}/tasks`;
  const path = () => pick([
    () => `/${Array.from({ length: int(8) }, segment).join('/')}`,
    () => `${base}/${segment()}`,
    () => `${base}/${segment()}/${pick(['cancel', 'events', 'result', 'stream-ticket', segment()])}`,
    () => `${base}?${pick(['wait', 'phase', 'limit', 'cursor', 'labelSelector', 'createdAfter', 'after'])}=${segment()}&${segment()}=${segment()}`,
    () => `${base}/t/events?after=${pick(['-1', 'NaN', '1e99', '', 'x', '9'.repeat(40)])}&limit=${pick(['0', '-5', '100000', 'a'])}`,
    () => `/api/v1/namespaces/${segment()}/tasks`,
    () => `/api/v1/namespaces/${ns.name}/sessions/${segment()}/${pick(['messages', 'interrupt', 'stream-ticket', segment()])}`,
    () => `/api/v1/namespaces/${ns.name}/sessions/t/messages/${segment()}?${pick(['async', 'limit', 'cursor'])}=${segment()}`,
  ])();
  const valid = { name: 't', labels: { a: 'b' }, spec: { prompt: 'p', maxTurns: 1, env: [{ name: 'A', value: 'b' }] } };
  const mutate = (value: unknown, depth = 0): unknown => {
    if (depth > 4 || random() < 0.15) {
      return pick<unknown>([null, true, -1, 1e308, -0, '', 'x'.repeat(int(5000)), [], {}, [[[]]], JSON.parse('{"__proto__":{"a":1}}'), { constructor: 'x' }, '\u0000', 12.5]);
    }
    if (Array.isArray(value)) return value.map((item) => mutate(item, depth + 1));
    if (value && typeof value === 'object') {
      const result: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) if (random() > 0.1) result[random() < 0.05 ? `${key}x` : key] = mutate(item, depth + 1);
      if (random() < 0.1) result[pick(['spec', 'cancel', 'status', '__proto__', 'metadata'])] = mutate(valid, depth + 1);
      return result;
    }
    return value;
  };
  const body = (): string | undefined => pick([
    () => undefined,
    () => JSON.stringify(mutate(valid)),
    () => JSON.stringify(valid).slice(0, int(60)),
    () => '['.repeat(1 + int(5000)),
    () => Buffer.from(Array.from({ length: int(300) }, () => int(256))).toString('latin1'),
    () => JSON.stringify({ spec: { prompt: 'x'.repeat(70 * 1024) } }),
    () => '"just a string"',
    () => 'null',
  ])();
  const authHeader = () => random() < 0.6 ? `Bearer ${good}` : pick([
    `Bearer ${good}`, `Bearer ${good}`, `Bearer ${viewer}`, '', 'Bearer', 'Basic dXNlcjpwYXNz', `Bearer ${good.slice(0, -3)}abc`,
    `Bearer ${'a.'.repeat(int(3000))}`, `bearer ${good}x`, `Bearer ${good} ${good}`,
  ]);
  const contentType = () => pick(['application/json', 'application/json; charset=utf-16', 'text/plain', 'application/x-www-form-urlencoded',
    'application/merge-patch+json', 'multipart/form-data; boundary=x', 'application/json; charset=utf-7', '']);

  const counts = new Map<number, number>();
  const failures: string[] = [];
  const deadline = Date.now() + budgetMs;
  let sent = 0;
  const worker = async () => {
    while (sent < requests && Date.now() < deadline) {
      sent++;
      const method = pick(['GET', 'POST', 'POST', 'DELETE', 'PUT', 'PATCH', 'OPTIONS', 'HEAD']);
      const headers: Record<string, string> = {};
      const auth = authHeader();
      if (auth) headers.authorization = auth;
      const type = contentType();
      if (type) headers['content-type'] = type;
      if (random() < 0.1) headers['x-request-id'] = segment();
      const payload = method === 'GET' || method === 'HEAD' ? undefined : body();
      const target = path();
      let status: number;
      try {
        const response = await fetch(`${api.url}${target}`, { method, headers, ...(payload !== undefined ? { body: payload } : {}) });
        await response.arrayBuffer();
        status = response.status;
      } catch (error) {
        // The client itself refused to send it (an invalid URL or header): nothing reached the server.
        if ((error as Error).name === 'TypeError' && !String((error as Error).cause ?? '').includes('ECONN')) continue;
        throw error;
      }
      counts.set(status, (counts.get(status) ?? 0) + 1);
      if (status >= 500) failures.push(`${status} ${method} ${target.slice(0, 200)} ${String(payload).slice(0, 200)}`);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));

  // Malformed HTTP on raw sockets: the server answers 400 or closes, and lives on.
  for (let i = 0; i < 50; i++) {
    const garbage = pick([
      'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n',
      'POST /api/v1/namespaces/a/tasks HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      `GET /${'a'.repeat(20000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
      'BLAH\r\n\r\n',
      `GET / HTTP/1.1\r\nHost: x\r\nX: ${'\u0001'.repeat(10)}\r\n\r\n`,
      `GET / HTTP/1.1\r\n${'X-A: b\r\n'.repeat(3000)}\r\n`,
    ]);
    const reply = await rawRequest(api.url, garbage);
    const code = /^HTTP\/1\.1 (\d{3})/.exec(reply)?.[1];
    if (code && Number(code) >= 500) failures.push(`raw: ${code} for ${JSON.stringify(garbage.slice(0, 80))}`);
  }

  console.log(`fuzz seed ${seed}: ${sent} requests, statuses ${JSON.stringify(Object.fromEntries([...counts].sort()))}`);
  expect(failures).toEqual([]);
  expect(sent).toBeGreaterThan(500);
  expect([...counts.keys()].filter((s) => s < 400).length).toBeLessThanOrEqual(3); // a few valid by chance (200, 202, 204)
  expect((await fetch(`${api.url}/healthz`)).status).toBe(200);
  expect((await fetch(`${api.url}/readyz`)).status).toBe(200);
}, 60_000);

function rawRequest(url: string, text: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname);
    let reply = '';
    socket.setTimeout(3000, () => socket.destroy());
    socket.on('data', (chunk) => { reply += chunk.toString('latin1'); });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(reply));
    socket.write(text);
    socket.end();
  });
}
