import { describe, expect, test } from '@jest/globals';
import {
  attemptKey,
  isSideRequest,
  latestPromptText,
  parseDirective,
  toolResultsSincePrompt,
  workingDirectory,
} from './conversation.ts';
import { afterToolResults, nextPrompt, promptRequest } from './test-requests.ts';

describe('parseDirective', () => {
  test.each([
    ['no directive here', { ok: true, directive: undefined }],
    ['[[scenario:answer]]', { ok: true, directive: { name: 'answer', args: {} } }],
    ['please [[scenario:bash {"command":"ls"}]] now', { ok: true, directive: { name: 'bash', args: { command: 'ls' } } }],
    ['[[scenario:write-file {"path":"a]]b","content":"x"}]]', { ok: true, directive: { name: 'write-file', args: { path: 'a]]b', content: 'x' } } }],
    ['[[scenario:answer {"text":\n"multi"}]]', { ok: true, directive: { name: 'answer', args: { text: 'multi' } } }],
  ])('%j', (text, expected) => {
    expect(parseDirective(text)).toEqual(expected);
  });

  test('bad JSON is an error naming the scenario', () => {
    const parsed = parseDirective('[[scenario:bash {command}]]');
    expect(parsed.ok).toBe(false);
    expect(parsed.ok === false && parsed.error).toMatch(/scenario bash: bad JSON/);
  });
});

describe('reading a conversation', () => {
  const first = promptRequest('[[scenario:bash {"command":"ls"}]]');

  test('the prompt is the latest user text, not a reminder in a tool-result message', () => {
    const later = afterToolResults(first, [{ text: 'a' }, { text: 'b' }]);
    expect(latestPromptText(later)).toContain('[[scenario:bash');
    expect(toolResultsSincePrompt(later).map((result) => result.content)).toEqual(['a', 'b']);
  });

  test('a new prompt starts counting tool results again', () => {
    const second = nextPrompt(afterToolResults(first, [{ text: 'a' }]), 'again');
    expect(latestPromptText(second)).toBe('again');
    expect(toolResultsSincePrompt(second)).toEqual([]);
  });

  test('the working directory comes from the system message', () => {
    expect(workingDirectory(first)).toBe('/work/space');
    expect(workingDirectory({ messages: [{ role: 'user', content: 'hi' }] })).toBeUndefined();
  });

  test('requests without tools are side requests', () => {
    expect(isSideRequest(first)).toBe(false);
    expect(isSideRequest({ ...first, tools: [] })).toBe(true);
    expect(isSideRequest({ ...first, tools: undefined })).toBe(true);
  });

  test('attempt keys separate sessions and prompts but not retries', () => {
    expect(attemptKey(first, 's1')).toBe(attemptKey(first, 's1'));
    expect(attemptKey(first, 's1')).not.toBe(attemptKey(first, 's2'));
    expect(attemptKey(first, 's1')).not.toBe(attemptKey(nextPrompt(first, 'again'), 's1'));
    expect(attemptKey(first, undefined)).not.toBe(attemptKey(promptRequest('other'), undefined));
  });
});
