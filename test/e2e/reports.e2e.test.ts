// Run reports on the bed: a task whose agent used Write and Bash (the real CLI
// against the scripted API), then its report through the API in every format.
// The PDF is read back with poppler (pdftotext for its text, pdftoppm for a page
// image, kept in the bed directory for a person to look at).
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { callApi, startTestApi, token } from '../../api/src/test-support.ts';
import type { ApiServer } from '../../api/src/server.ts';
import { bedSetting, waitFor } from '../support/cluster.ts';
import { useTaskFixture } from './support/task-fixture.ts';
import { fakeAnthropicKey } from '../support/fake-secrets.ts';

const run = promisify(execFile);
const fixture = useTaskFixture('reports');
let api: ApiServer;
let bearer: string;
const answer = 'The report answer: 42.';
const key = fakeAnthropicKey('NotForTheReport123');
const prompt = `Report <script>alert("owned")</script> with key ${key} `
  + `[[scenario:write-then-bash {"path":"notes.txt","content":"hello report","command":"cat notes.txt","answer":"${answer}"}]]`;

beforeAll(async () => {
  ({ api } = await startTestApi());
  bearer = await token({ tenant: 'team-a', namespaces: [fixture().ns.name], role: 'viewer' });
  const { tasks, db, ns } = fixture();
  await tasks.applyTask('reported', { prompt, permissionMode: 'acceptEdits', allowedTools: ['Write', 'Bash(cat notes.txt)'] });
  await tasks.taskWhen('reported', 'Succeeded', (t) => t.status?.phase === 'Succeeded', 180_000);
  await waitFor('reported finalized in Postgres', async () =>
    (await db.query('SELECT finalized_at FROM claude_tasks WHERE namespace = $1 AND name = $2', [ns.name, 'reported'])).rows[0]?.finalized_at != null);
});

afterAll(async () => {
  await api?.close();
});

const reportPath = (query = '') => `/api/v1/namespaces/${fixture().ns.name}/tasks/reported/report${query}`;

test.each([
  ['?format=json', {}, 'application/json'],
  ['?format=md', {}, 'text/markdown'],
  ['?format=html', {}, 'text/html'],
  ['', { accept: 'text/markdown' }, 'text/markdown'],
  ['', { accept: 'text/html,application/xhtml+xml;q=0.9' }, 'text/html'],
  ['', {}, 'application/json'],
])('report%s (Accept %j) is %s and holds the tool calls and the answer, not the key', async (query, headers, type) => {
  const got = await callApi(api.url, 'GET', reportPath(query), { token: bearer, headers });
  expect(got.status).toBe(200);
  expect(got.headers.get('content-type')).toContain(type);
  for (const text of ['Write', 'Bash', 'cat notes.txt', 'notes.txt', answer]) expect(got.text).toContain(text);
  expect(got.text).not.toContain(key);
  if (type === 'application/json') {
    expect(got.json.entries).toEqual(expect.arrayContaining([
      expect.objectContaining({ kind: 'tool_call', number: 1, tool: 'Write' }), expect.objectContaining({ kind: 'tool_call', number: 2, tool: 'Bash' }),
      expect.objectContaining({ kind: 'tool_result', number: 2, content: expect.stringContaining('hello report') }),
    ]));
    expect(got.json).toMatchObject({ filesChanged: [{ path: 'notes.txt', tools: ['Write'], changes: 1 }], report: { phase: 'Succeeded', usage: { costUSD: expect.any(String) } } });
  }
});

test('the HTML escapes the <script> of the prompt and loads nothing', async () => {
  const got = await callApi(api.url, 'GET', reportPath('?format=html'), { token: bearer });
  expect(got.text).toContain('Report &lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;');
  expect(got.text).not.toMatch(/<script/i);
  expect(got.text).not.toMatch(/\b(src|href)\s*=/i);
  expect(got.headers.get('content-security-policy')).toBe('default-src \'none\'; style-src \'unsafe-inline\'');
});

test('the PDF converts to pages whose text holds the answer and the tool calls', async () => {
  const response = await fetch(`${api.url}${reportPath('?format=pdf')}`, { headers: { authorization: `Bearer ${bearer}` } });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toBe('application/pdf');
  const dir = path.join(bedSetting('BED_DIR'), 'report-pdf');
  await fs.mkdir(dir, { recursive: true });
  const pdf = path.join(dir, 'reported.pdf');
  await fs.writeFile(pdf, Buffer.from(await response.arrayBuffer()));
  const { stdout: text } = await run('pdftotext', ['-layout', pdf, '-']);
  for (const shown of [answer, 'Tool call 1: Write', 'Tool call 2: Bash', 'cat notes.txt', 'Report <script>alert("owned")</script>']) {
    expect(text.replace(/\s+/g, ' ')).toContain(shown);
  }
  await run('pdftoppm', ['-png', '-r', '60', '-f', '1', '-l', '1', pdf, path.join(dir, 'page')]);
  const pages = (await fs.readdir(dir)).filter((file) => file.startsWith('page') && file.endsWith('.png'));
  expect(pages).toHaveLength(1);
  // For a person to look at after the run.
  await fs.copyFile(path.join(dir, pages[0]!), '/tmp/claude-operator-report-page-1.png');
});

test('an unknown format is a 400 that names the choices; a task that never existed is 404', async () => {
  const bad = await callApi(api.url, 'GET', reportPath('?format=docx'), { token: bearer });
  expect(bad.status).toBe(400);
  expect(bad.text).toContain('json');
  const missing = await callApi(api.url, 'GET', `/api/v1/namespaces/${fixture().ns.name}/tasks/never-was/report`, { token: bearer });
  expect(missing.status).toBe(404);
});
