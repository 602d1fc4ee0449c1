import { describe, expect, it } from '@jest/globals';
import type { ClaudeTaskSpec } from '../../crds/src/claude-task.ts';
import { claudeArgs, maxArgBytes } from './cli-args.ts';
import { ConfigError } from './errors.ts';

const base = ['-p', '--output-format', 'stream-json', '--verbose'];

describe('claudeArgs', () => {
  const cases: Array<[string, Partial<ClaudeTaskSpec>, string[]]> = [
    ['only a prompt', {}, [...base, '--', 'do it']],
    ['model', { model: 'claude-sonnet-4-5' }, [...base, '--model', 'claude-sonnet-4-5', '--', 'do it']],
    ['max turns', { maxTurns: 3 }, [...base, '--max-turns', '3', '--', 'do it']],
    ['permission mode', { permissionMode: 'acceptEdits' }, [...base, '--permission-mode', 'acceptEdits', '--', 'do it']],
    ['allowed tools, one argument each', { allowedTools: ['Bash(git *)', 'Edit'] },
      [...base, '--allowedTools', 'Bash(git *)', 'Edit', '--', 'do it']],
    ['disallowed tools', { disallowedTools: ['WebFetch'] }, [...base, '--disallowedTools', 'WebFetch', '--', 'do it']],
    ['empty tool lists are left out', { allowedTools: [], disallowedTools: [] }, [...base, '--', 'do it']],
    ['system prompt', { systemPrompt: 'You are terse.' }, [...base, '--system-prompt', 'You are terse.', '--', 'do it']],
    ['appended system prompt', { appendSystemPrompt: 'Be kind.' }, [...base, '--append-system-prompt', 'Be kind.', '--', 'do it']],
    ['MCP servers as one --mcp-config JSON', { mcpServers: { fs: { command: 'mcp-fs', args: ['/w'] } } },
      [...base, '--mcp-config', '{"mcpServers":{"fs":{"command":"mcp-fs","args":["/w"]}}}', '--', 'do it']],
    ['no MCP servers, no flag', { mcpServers: {} }, [...base, '--', 'do it']],
    ['everything, in a fixed order',
      { model: 'm', maxTurns: 2, permissionMode: 'plan', allowedTools: ['Read'], disallowedTools: ['Bash'],
        systemPrompt: 's', appendSystemPrompt: 'a', mcpServers: { x: { url: 'http://x' } } },
      [...base, '--model', 'm', '--max-turns', '2', '--permission-mode', 'plan', '--allowedTools', 'Read',
        '--disallowedTools', 'Bash', '--system-prompt', 's', '--append-system-prompt', 'a',
        '--mcp-config', '{"mcpServers":{"x":{"url":"http://x"}}}', '--', 'do it']],
  ];

  it.each(cases)('%s', (_name, spec, expected) => {
    expect(claudeArgs({ prompt: 'unused', ...spec }, 'do it')).toEqual({ args: expected, stdin: undefined });
  });

  it('puts a prompt that looks like an option after --', () => {
    expect(claudeArgs({ prompt: 'x' }, '--help').args.slice(-2)).toEqual(['--', '--help']);
  });

  it('sends a prompt too long for one argument on stdin', () => {
    const prompt = 'é'.repeat(maxArgBytes / 2 + 1); // 2 bytes each in UTF-8
    const invocation = claudeArgs({ prompt: 'x', model: 'm' }, prompt);
    expect(invocation).toEqual({ args: [...base, '--model', 'm'], stdin: prompt });
  });

  it('refuses a system prompt too long for one argument', () => {
    expect(() => claudeArgs({ prompt: 'x', systemPrompt: 'é'.repeat(maxArgBytes) }, 'p')).toThrow(ConfigError);
  });
});
