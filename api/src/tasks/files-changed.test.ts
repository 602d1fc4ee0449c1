import { expect, test } from '@jest/globals';
import { filesChanged } from './files-changed.ts';

const toolUse = (id: string, name: string, input: Record<string, unknown>) =>
  ({ type: 'assistant', data: { type: 'assistant', message: { content: [{ type: 'text', text: 'ok' }, { type: 'tool_use', id, name, input }] } } });
const toolResult = (id: string, isError: boolean) =>
  ({ type: 'user', data: { type: 'user', message: { content: [{ type: 'tool_result', tool_use_id: id, is_error: isError, content: 'x' }] } } });

test('Write and Edit tool uses become files, relative to the session cwd; failed ones and other tools do not', () => {
  const events = [
    { type: 'runner.started', data: { type: 'runner.started' } },
    { type: 'system', data: { type: 'system', subtype: 'init', cwd: '/work/space' } },
    toolUse('t1', 'Write', { file_path: '/work/space/hello.txt', content: 'hi' }),
    toolResult('t1', false),
    toolUse('t2', 'Edit', { file_path: '/work/space/hello.txt', old_string: 'hi', new_string: 'ho' }),
    toolUse('t3', 'Edit', { file_path: '/work/space/broken.txt', old_string: 'a', new_string: 'b' }),
    toolResult('t3', true),
    toolUse('t4', 'Bash', { command: 'rm -rf /' }),
    toolUse('t5', 'Write', { file_path: '/etc/elsewhere.conf', content: '' }),
    toolUse('t6', 'NotebookEdit', { notebook_path: '/work/space/nb.ipynb' }),
    toolUse('t7', 'Write', { content: 'no path' }),
    { type: 'assistant', data: 'not an object' },
    { type: 'assistant', data: { message: { content: 'a string' } } },
  ];
  expect(filesChanged(events)).toEqual([
    { path: 'hello.txt', tools: ['Write', 'Edit'], changes: 2 },
    { path: '/etc/elsewhere.conf', tools: ['Write'], changes: 1 },
    { path: 'nb.ipynb', tools: ['NotebookEdit'], changes: 1 },
  ]);
});

test('no events, no files', () => {
  expect(filesChanged([])).toEqual([]);
});
