import { describe, expect, test } from '@jest/globals';
import type { MessagesRequest } from './messages-api.ts';
import { defaultAnswer, planResponse, sideAnswer, usageFor, type Plan } from './scenarios.ts';
import { afterToolResults, promptRequest } from './test-requests.ts';

/** A plan reduced to what the table compares: status or stop reason, tool call, text. */
function summary(plan: Plan): Record<string, unknown> {
  if (plan.kind === 'error') return { status: plan.status, error: plan.body.error.type, headers: plan.headers };
  const [block] = plan.blocks;
  // Several calls in one answer (many-tools) also say how many.
  const calls = plan.blocks.length > 1 ? { calls: plan.blocks.length } : {};
  if (block?.type === 'tool_use') return { stop: plan.stopReason, tool: block.name, input: block.input, ...calls };
  return { stop: plan.stopReason, text: block?.chunks.join('') };
}

const ok = (text: string) => ({ text });
const failed = (text: string) => ({ text, isError: true });

describe('planResponse', () => {
  const cases: Array<[string, string, Array<{ text: string; isError?: boolean }>, number, Record<string, unknown>]> = [
    ['no directive answers', 'hello', [], 0, { stop: 'end_turn', text: defaultAnswer }],
    ['answer with text', '[[scenario:answer {"text":"42"}]]', [], 0, { stop: 'end_turn', text: '42' }],
    [
      'write-file asks for Write with an absolute path',
      '[[scenario:write-file {"path":"hello.txt","content":"hello"}]]',
      [],
      0,
      { stop: 'tool_use', tool: 'Write', input: { file_path: '/work/space/hello.txt', content: 'hello' } },
    ],
    ['write-file keeps absolute paths', '[[scenario:write-file {"path":"/tmp/x","content":""}]]', [], 0, { stop: 'tool_use', tool: 'Write', input: { file_path: '/tmp/x', content: '' } }],
    ['write-file ends after the tool result', '[[scenario:write-file {"path":"hello.txt"}]]', [ok('created')], 0, { stop: 'end_turn', text: 'Wrote hello.txt.' }],
    ['write-file reports a refused tool', '[[scenario:write-file {"path":"h"}]]', [failed('denied')], 0, { stop: 'end_turn', text: 'The tool failed: denied' }],
    ['bash runs the command', '[[scenario:bash {"command":"echo x"}]]', [], 0, { stop: 'tool_use', tool: 'Bash', input: { command: 'echo x', description: 'Run the scripted command' } }],
    ['bash quotes the output', '[[scenario:bash {"command":"echo x"}]]', [ok('x')], 0, { stop: 'end_turn', text: 'Ran `echo x`. Output:\nx' }],
    ['write-then-bash writes first', '[[scenario:write-then-bash {"path":"a","content":"x","command":"cat a"}]]', [], 0, { stop: 'tool_use', tool: 'Write', input: { file_path: '/work/space/a', content: 'x' } }],
    ['write-then-bash runs the command second', '[[scenario:write-then-bash {"path":"a","command":"cat a"}]]', [ok('created')], 0, { stop: 'tool_use', tool: 'Bash', input: { command: 'cat a', description: 'Run the scripted command' } }],
    ['write-then-bash answers with the output', '[[scenario:write-then-bash {"path":"a","command":"cat a","answer":"Done."}]]', [ok('created'), ok('x')], 0, { stop: 'end_turn', text: 'Done. Output:\nx' }],
    ['edit reads first', '[[scenario:edit {"path":"f","old":"a","new":"b"}]]', [], 0, { stop: 'tool_use', tool: 'Read', input: { file_path: '/work/space/f' } }],
    [
      'edit edits after the read',
      '[[scenario:edit {"path":"f","old":"a","new":"b"}]]',
      [ok('1\ta')],
      0,
      { stop: 'tool_use', tool: 'Edit', input: { file_path: '/work/space/f', old_string: 'a', new_string: 'b' } },
    ],
    ['edit stops when the read failed', '[[scenario:edit {"path":"f","old":"a","new":"b"}]]', [failed('no such file')], 0, { stop: 'end_turn', text: 'The tool failed: no such file' }],
    ['edit ends after the edit', '[[scenario:edit {"path":"f","old":"a","new":"b"}]]', [ok('1\ta'), ok('updated')], 0, { stop: 'end_turn', text: 'Edited f.' }],
    ['tool calls the named tool', '[[scenario:tool {"name":"mcp__clock__utc_time"}]]', [], 0, { stop: 'tool_use', tool: 'mcp__clock__utc_time', input: {} }],
    ['tool passes its input', '[[scenario:tool {"name":"Glob","input":{"pattern":"*.md"}}]]', [], 0, { stop: 'tool_use', tool: 'Glob', input: { pattern: '*.md' } }],
    ['tool quotes the result', '[[scenario:tool {"name":"mcp__clock__utc_time"}]]', [ok('2026-01-01T00:00:00.000Z')], 0, { stop: 'end_turn', text: 'mcp__clock__utc_time returned:\n2026-01-01T00:00:00.000Z' }],
    ['tool reports a refused call', '[[scenario:tool {"name":"mcp__clock__utc_time"}]]', [failed('denied')], 0, { stop: 'end_turn', text: 'The tool failed: denied' }],
    ['many-tools calls Bash `calls` times in one answer', '[[scenario:many-tools {"calls":3,"rounds":2}]]', [], 0,
      { stop: 'tool_use', tool: 'Bash', input: { command: 'true', description: 'Run the scripted command' }, calls: 3 }],
    ['many-tools goes on for `rounds` answers', '[[scenario:many-tools {"calls":3,"rounds":2,"command":"echo x"}]]', [ok(''), ok(''), ok('')], 0,
      { stop: 'tool_use', tool: 'Bash', input: { command: 'echo x', description: 'Run the scripted command' }, calls: 3 }],
    ['many-tools then answers with the count', '[[scenario:many-tools {"calls":3,"rounds":2}]]', Array.from({ length: 6 }, () => ok('')), 0,
      { stop: 'end_turn', text: 'Ran 6 tools.' }],
    ['loop-tools never stops', '[[scenario:loop-tools]]', [ok(''), ok(''), ok('')], 0, { stop: 'tool_use', tool: 'Bash', input: { command: 'true', description: 'Do nothing, successfully' } }],
    ['rate-limited first', '[[scenario:rate-limited {"times":2,"retryAfter":3}]]', [], 1, { status: 429, error: 'rate_limit_error', headers: { 'retry-after': '3' } }],
    ['rate-limited then answers', '[[scenario:rate-limited {"times":2}]]', [], 2, { stop: 'end_turn', text: defaultAnswer }],
    ['server-error always by default', '[[scenario:server-error]]', [], 99, { status: 500, error: 'api_error', headers: {} }],
    ['server-error then answers', '[[scenario:server-error {"times":1}]]', [], 1, { stop: 'end_turn', text: defaultAnswer }],
    ['overloaded', '[[scenario:overloaded {"times":1}]]', [], 0, { status: 529, error: 'overloaded_error', headers: {} }],
    ['overloaded for the named model', '[[scenario:overloaded {"model":"claude-opus-5-5"}]]', [], 5, { status: 529, error: 'overloaded_error', headers: {} }],
    ['overloaded answers another model', '[[scenario:overloaded {"model":"claude-sonnet-4-5","text":"fine"}]]', [], 0, { stop: 'end_turn', text: 'fine' }],
    ['structured-output calls StructuredOutput with the output', '[[scenario:structured-output {"output":{"name":"Ada"}}]]', [], 0,
      { stop: 'tool_use', tool: 'StructuredOutput', input: { name: 'Ada' } }],
    ['structured-output reports a refused output', '[[scenario:structured-output {"output":{}}]]', [failed('does not match')], 0,
      { stop: 'end_turn', text: 'The tool failed: does not match' }],
    ['structured-output needs an object', '[[scenario:structured-output {"output":[1]}]]', [], 0, { status: 400, error: 'invalid_request_error', headers: {} }],
    ['unknown scenario is a 400', '[[scenario:nope]]', [], 0, { status: 400, error: 'invalid_request_error', headers: {} }],
    ['a missing arg is a 400', '[[scenario:bash]]', [], 0, { status: 400, error: 'invalid_request_error', headers: {} }],
    ['a wrongly typed arg is a 400', '[[scenario:slow {"tokens":"many"}]]', [], 0, { status: 400, error: 'invalid_request_error', headers: {} }],
  ];

  test.each(cases)('%s', (_name, prompt, results, priorAttempts, expected) => {
    const request = afterToolResults(promptRequest(prompt), results);
    expect(summary(planResponse(request, { priorAttempts }))).toEqual(expected);
  });

  test('side requests get a short answer whatever the prompt says', () => {
    const request: MessagesRequest = { ...promptRequest('[[scenario:server-error]]'), tools: undefined, max_tokens: 512 };
    expect(summary(planResponse(request, { priorAttempts: 0 }))).toEqual({ stop: 'end_turn', text: sideAnswer });
  });

  test('slow streams one delta per token, with a delay', () => {
    const plan = planResponse(promptRequest('[[scenario:slow {"tokens":3,"delayMs":50}]]'), { priorAttempts: 0 });
    expect(plan).toMatchObject({ kind: 'message', delayMs: 50, blocks: [{ type: 'text', chunks: ['token1 ', 'token2 ', 'token3 '] }] });
  });

  test('answer streams word by word, so partial messages come in several deltas', () => {
    const plan = planResponse(promptRequest('[[scenario:answer {"text":"one two  three"}]]'), { priorAttempts: 0 });
    expect(plan).toMatchObject({ kind: 'message', blocks: [{ type: 'text', chunks: ['one ', 'two  ', 'three'] }] });
  });

  test.each([
    ['an answer', '[[scenario:answer {"inputTokens":2000000}]]', []],
    ['a tool call', '[[scenario:loop-tools {"inputTokens":2000000}]]', [ok('')]],
  ])('inputTokens replaces the input usage of %s', (_name, prompt, results) => {
    const request = afterToolResults(promptRequest(prompt), results);
    const plan = planResponse(request, { priorAttempts: 0 });
    expect(plan.kind === 'message' && plan.usage).toEqual({ ...usageFor(request, 0), input_tokens: 2_000_000,
      output_tokens: expect.any(Number) });
  });

  test('long-output has exactly the asked length, in many deltas', () => {
    const plan = planResponse(promptRequest('[[scenario:long-output {"chars":5000}]]'), { priorAttempts: 0 });
    const block = plan.kind === 'message' ? plan.blocks[0] : undefined;
    expect(block?.type === 'text' && block.chunks.join('').length).toBe(5000);
    expect(block?.type === 'text' && block.chunks.length).toBe(25);
  });

  test('tool_use ids differ between the steps of one conversation', () => {
    const first = promptRequest('[[scenario:loop-tools]]');
    const ids = [0, 1, 2].map((n) => {
      const plan = planResponse(afterToolResults(first, Array.from({ length: n }, () => ok(''))), { priorAttempts: 0 });
      return plan.kind === 'message' && plan.blocks[0]?.type === 'tool_use' ? plan.blocks[0].id : undefined;
    });
    expect(new Set(ids).size).toBe(3);
  });
});

describe('usageFor', () => {
  test.each([
    ['first turn', promptRequest('x'), 8, { input_tokens: 140, output_tokens: 12, cache_creation_input_tokens: 1000, cache_read_input_tokens: 0 }],
    ['after a tool result', afterToolResults(promptRequest('x'), [ok('')]), 1, { input_tokens: 180, output_tokens: 11, cache_creation_input_tokens: 200, cache_read_input_tokens: 1000 }],
  ])('%s', (_name, request, outputChars, expected) => {
    expect(usageFor(request, outputChars)).toEqual(expected);
  });

  test('the calls of one many-tools answer have ids of their own', () => {
    const plan = planResponse(promptRequest('[[scenario:many-tools {"calls":4}]]'), { priorAttempts: 0 });
    const ids = plan.kind === 'message' ? plan.blocks.map((block) => (block.type === 'tool_use' ? block.id : undefined)) : [];
    expect(new Set(ids).size).toBe(4);
  });
});
