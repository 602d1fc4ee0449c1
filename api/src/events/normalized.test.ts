import { describe, expect, test } from '@jest/globals';
import { NormalizedEventSchema, normalizeEvent, type NormalizedEvent } from './normalized.ts';

const time = '2025-01-01T00:00:00.000Z';
const at = (seq: number, data: Record<string, unknown> | string) =>
  ({ seq, type: typeof data === 'string' ? 'assistant' : String(data.type), time, data });

const usage = { inputTokens: 10, outputTokens: 5, costUSD: '0.01', turns: 2 };

describe('normalizeEvent', () => {
  test.each<[string, ReturnType<typeof at>, Array<Partial<NormalizedEvent>>]>([
    ['system init: progress with model and session',
      at(2, { type: 'system', subtype: 'init', cwd: '/work/space', session_id: 's-1', model: 'claude-sonnet-4-5', tools: ['Bash'] }),
      [{ type: 'progress', stage: 'init', message: 'Claude started with claude-sonnet-4-5', model: 'claude-sonnet-4-5', sessionId: 's-1' }]],
    ['another system subtype: progress with that stage',
      at(9, { type: 'system', subtype: 'compact_boundary' }),
      [{ type: 'progress', stage: 'compact_boundary', message: 'Claude: compact_boundary' }]],
    ['assistant text and tool_use blocks: one event each, in order, thinking left out',
      at(3, { type: 'assistant', session_id: 's-1', message: { role: 'assistant', content: [
        { type: 'thinking', thinking: 'hmm' },
        { type: 'text', text: 'I will write the file.' },
        { type: 'tool_use', id: 'toolu_1', name: 'Write', input: { file_path: '/work/space/a.txt', content: 'a' } },
        { type: 'text', text: '' },
      ] } }),
      [{ type: 'message', role: 'assistant', text: 'I will write the file.' },
        { type: 'tool_use', id: 'toolu_1', name: 'Write', input: { file_path: '/work/space/a.txt', content: 'a' } }]],
    ['user tool_result with string content',
      at(4, { type: 'user', message: { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'File created' }] } }),
      [{ type: 'tool_result', toolUseId: 'toolu_1', isError: false, content: 'File created' }]],
    ['user tool_result with block content and is_error',
      at(5, { type: 'user', message: { content: [{ type: 'tool_result', tool_use_id: 'toolu_2', is_error: true,
        content: [{ type: 'text', text: 'Exit code 1' }, { type: 'image', source: {} }, { type: 'text', text: 'no such file' }] }] } }),
      [{ type: 'tool_result', toolUseId: 'toolu_2', isError: true, content: 'Exit code 1\n[image]\nno such file' }]],
    ['user text as a string',
      at(6, { type: 'user', message: { role: 'user', content: 'continue' } }),
      [{ type: 'message', role: 'user', text: 'continue' }]],
    ['a successful CLI result: nothing (runner.completed carries it)',
      at(7, { type: 'result', subtype: 'success', is_error: false, result: 'done', num_turns: 2 }), []],
    ['a failed CLI result: error with its subtype',
      at(7, { type: 'result', subtype: 'error_max_turns', is_error: true, num_turns: 2 }),
      [{ type: 'error', code: 'error_max_turns', message: 'Claude failed (error_max_turns)' }]],
    ['an API error reported as success with is_error: error with its text',
      at(7, { type: 'result', subtype: 'success', is_error: true, result: 'API Error: 529 overloaded' }),
      [{ type: 'error', code: 'success', message: 'API Error: 529 overloaded' }]],
    ['runner.started',
      at(1, { type: 'runner.started', namespace: 'ns', name: 't', attempt: 2, engine: 'cli', model: null }),
      [{ type: 'progress', stage: 'started', message: 'attempt 2 started' }]],
    ['runner.workspace_ready',
      at(2, { type: 'runner.workspace_ready', git: 'https://git.example/repo.git', ref: null }),
      [{ type: 'progress', stage: 'workspace_ready', message: 'workspace cloned from https://git.example/repo.git' }]],
    ['runner.cli_stderr',
      at(3, { type: 'runner.cli_stderr', line: 'warning: x' }), [{ type: 'progress', stage: 'stderr', message: 'warning: x' }]],
    ['runner.malformed_line',
      at(3, { type: 'runner.malformed_line', error: 'not JSON: Unexpected token', line: '{', truncated: false }),
      [{ type: 'error', code: 'malformed_line', message: 'the CLI wrote a line that is not an event: not JSON: Unexpected token' }]],
    ['runner.completed succeeded: complete with result and usage',
      at(8, { type: 'runner.completed', outcome: 'succeeded', exitCode: 0, message: 'Claude finished the task.', result: 'hello', usage, sessionId: 's-1' }),
      [{ type: 'complete', outcome: 'succeeded', message: 'Claude finished the task.', result: 'hello', usage, sessionId: 's-1' }]],
    ['runner.completed failed without result or usage',
      at(8, { type: 'runner.completed', outcome: 'failed', exitCode: 1, message: 'boom', result: null, usage: null, sessionId: null }),
      [{ type: 'complete', outcome: 'failed', message: 'boom', result: null, usage: null, sessionId: null }]],
    ['a partial stream_event: nothing', at(3, { type: 'stream_event', event: { type: 'content_block_delta' } }), []],
    ['an unknown type: nothing', at(3, { type: 'rate_limit_event', info: {} }), []],
    ['data that is not an object: nothing', at(3, 'not an object'), []],
  ])('%s', (_what, event, expected) => {
    const normalized = normalizeEvent(event);
    expect(normalized).toEqual(expected.map((body) => ({ seq: event.seq, time, ...body })));
    // Every one is what the OpenAPI document says.
    for (const item of normalized) expect(NormalizedEventSchema.parse(item)).toEqual(item);
  });
});
