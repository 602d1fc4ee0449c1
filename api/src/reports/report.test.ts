import { describe, expect, test } from '@jest/globals';
import type { TaskEventRecord } from '../../../packages/contracts/src/task-events.ts';
import type { ReportRecord } from '../../../packages/database/src/task-report.ts';
import { renderReport, type ReportRenderer } from './report.ts';
import { escapeHtml, htmlRenderer } from './render-html.ts';
import { jsonRenderer } from './render-json.ts';
import { fenced, markdownRenderer } from './render-markdown.ts';
import { fakeAnthropicKey } from '../../../test/support/fake-secrets.ts';

const record: ReportRecord = {
  uid: '11111111-2222-3333-4444-555555555555', namespace: 'team-a', name: 'report-me', phase: 'Succeeded',
  spec: { prompt: `Write a.txt <script>alert(1)</script> with key ${fakeAnthropicKey('secretsecretsecret')}` },
  status: { phase: 'Succeeded', reason: 'Succeeded', usage: { inputTokens: 320, outputTokens: 40, costUSD: '0.0123', turns: 3 }, duration: '9s' },
  result: 'All done: wrote a.txt and ran ls.',
  createdAt: new Date('2026-12-01T10:00:00Z'), completedAt: new Date('2026-12-01T10:00:09Z'),
  transitions: [{ from: null, to: 'Pending', reason: null, at: new Date('2026-12-01T10:00:00Z') }, { from: 'Pending', to: 'Succeeded', reason: null, at: new Date('2026-12-01T10:00:09Z') }],
};
let seq = 0;
const event = (type: string, data: Record<string, unknown>): TaskEventRecord => ({ seq: ++seq, type, time: '2026-12-01T10:00:01Z', data: { type, ...data } });
const events = [
  event('system', { subtype: 'init', cwd: '/workspace', model: 'claude-sonnet-4-5' }),
  event('assistant', { message: { content: [{ type: 'tool_use', id: 'tu1', name: 'Write', input: { file_path: '/workspace/a.txt', content: '</pre><b>bold</b>' } }] } }),
  event('user', { message: { content: [{ type: 'tool_result', tool_use_id: 'tu1', content: 'File created successfully at: /workspace/a.txt' }] } }),
  event('assistant', { message: { content: [{ type: 'tool_use', id: 'tu2', name: 'Bash', input: { command: 'ls ```' } }] } }),
  event('user', { message: { content: [{ type: 'tool_result', tool_use_id: 'tu2', content: 'a.txt' }] } }),
  event('runner.completed', { outcome: 'succeeded', exitCode: 0, message: 'ok', reason: null, result: 'All done', usage: null, sessionId: 's', model: 'm' }),
];
async function* each<T>(items: T[]) { yield* items; }
async function render(renderer: ReportRenderer): Promise<string> {
  let text = '';
  for await (const chunk of renderReport(record, each(events), renderer)) text += chunk;
  return text;
}

describe('a report', () => {
  test('as JSON: the header, each tool call with its result, the files changed and the answer; no secret', async () => {
    const text = await render(jsonRenderer());
    const report = JSON.parse(text);
    expect(report.report).toMatchObject({ name: 'report-me', phase: 'Succeeded', usage: { costUSD: '0.0123' }, duration: '9s' });
    expect(report.entries.filter((e: { kind: string }) => e.kind === 'tool_call').map((e: { tool: string; number: number }) => [e.number, e.tool]))
      .toEqual([[1, 'Write'], [2, 'Bash']]);
    expect(report.entries.find((e: { kind: string; number?: number }) => e.kind === 'tool_result' && e.number === 2)).toMatchObject({ content: 'a.txt', isError: false });
    expect(report.filesChanged).toEqual([{ path: 'a.txt', tools: ['Write'], changes: 1 }]);
    expect(report.answer).toBe('All done: wrote a.txt and ran ls.');
    expect(report.toolCalls).toBe(2);
    expect(text).not.toContain('sk-ant-api03');
  });

  test('as HTML: self-contained, with no tag the agent or the prompt wrote', async () => {
    const html = await render(htmlRenderer());
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toContain('<b>bold</b>');
    expect(html).toContain('&lt;/pre&gt;&lt;b&gt;bold&lt;/b&gt;');
    expect(html).not.toMatch(/\b(src|href)=/);
    expect(html).toContain('Tool call 2: Bash');
    expect(html).toContain('All done: wrote a.txt and ran ls.');
    expect(html).not.toContain('sk-ant-api03');
  });

  test('as Markdown: tool calls in fences that what they hold cannot close', async () => {
    const md = await render(markdownRenderer());
    expect(md).toContain('### Tool call 1: Write');
    expect(md).toContain('### Tool call 2: Bash');
    expect(md).toContain('````json\n{\n  "command": "ls ```"\n}\n````');
    expect(md).toContain('## Final answer\n\n```text\nAll done: wrote a.txt and ran ls.\n```');
    expect(md).toContain('- a\\.txt (Write; 1 change)');
    expect(md).not.toContain('sk-ant-api03');
  });
});

test('escapeHtml and fenced', () => {
  expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  expect(fenced('no ticks')).toBe('```\nno ticks\n```\n');
  expect(fenced('````')).toBe('`````\n````\n`````\n');
});
