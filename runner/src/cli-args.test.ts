import { describe, expect, it } from '@jest/globals';
import type { ClaudeTaskSpec } from '../../crds/src/claude-task.ts';
import type { ClaudeSessionSpec } from '../../crds/src/claude-session.ts';
import { claudeArgs, maxArgBytes, type CliSession } from './cli-args.ts';
import { ConfigError } from './errors.ts';

const base = ['-p', '--output-format', 'stream-json', '--verbose', '--include-partial-messages'];
const isolated = ['--setting-sources', 'user', '--strict-mcp-config'];
const dir = '/tmp/cli-files';

describe('claudeArgs', () => {
  // [name, spec, the flags between base and the settings isolation, the flags after it]
  const cases: Array<[string, Partial<ClaudeTaskSpec>, string[], string[]]> = [
    ['only a prompt', {}, [], []],
    ['model', { model: 'claude-sonnet-4-5' }, ['--model', 'claude-sonnet-4-5'], []],
    ['fallback models', { fallbackModel: 'claude-sonnet-4-5,claude-haiku-4-5' }, ['--fallback-model', 'claude-sonnet-4-5,claude-haiku-4-5'], []],
    ['effort', { effort: 'xhigh' }, ['--effort', 'xhigh'], []],
    ['max turns', { maxTurns: 3 }, ['--max-turns', '3'], []],
    ['budget, as the decimal string it is', { maxBudgetUSD: '5.00' }, ['--max-budget-usd', '5.00'], []],
    ['permission mode', { permissionMode: 'acceptEdits' }, ['--permission-mode', 'acceptEdits'], []],
    ['permission mode default, which the CLI still takes', { permissionMode: 'default' }, ['--permission-mode', 'default'], []],
    ['permission mode dontAsk', { permissionMode: 'dontAsk' }, ['--permission-mode', 'dontAsk'], []],
    ['allowed tools, one argument each', { allowedTools: ['Bash(git *)', 'Edit'] }, ['--allowedTools', 'Bash(git *)', 'Edit'], []],
    ['disallowed tools', { disallowedTools: ['WebFetch'] }, ['--disallowedTools', 'WebFetch'], []],
    ['empty lists are left out', { allowedTools: [], disallowedTools: [], addDirs: [] }, [], []],
    ['more directories', { addDirs: ['/data', '/cache'] }, ['--add-dir', '/data', '/cache'], []],
    ['system prompt as a file', { systemPrompt: 'You are terse.' }, ['--system-prompt-file', `${dir}/system-prompt.txt`], []],
    ['appended system prompt as a file', { appendSystemPrompt: 'Be kind.' },
      ['--append-system-prompt-file', `${dir}/append-system-prompt.txt`], []],
    ['MCP servers as one --mcp-config file', { mcpServers: { fs: { command: 'mcp-fs', args: ['/w'] } } },
      [], ['--mcp-config', `${dir}/mcp-config.json`]],
    ['no MCP servers, no flag', { mcpServers: {} }, [], []],
    ['settings as a file', { settings: { permissions: { deny: ['Write'] } } }, [], ['--settings', `${dir}/settings.json`]],
    ['a JSON Schema inline (the CLI takes no file)', { jsonSchema: { type: 'object', required: ['a'] } },
      [], ['--json-schema', '{"type":"object","required":["a"]}']],
  ];

  it.each(cases)('%s', (_name, spec, before, after) => {
    expect(claudeArgs({ prompt: 'unused', ...spec }, 'do it', dir).args).toEqual([...base, ...before, ...isolated, ...after, '--', 'do it']);
  });

  it('lets the workspace configure the CLI only when the spec allows it', () => {
    const allowed = claudeArgs({ prompt: 'x', allowProjectSettings: true }, 'do it', dir).args;
    expect(allowed).toEqual([...base, '--setting-sources', 'user,project,local', '--', 'do it']);
    expect(claudeArgs({ prompt: 'x', allowProjectSettings: false }, 'do it', dir).args).toEqual([...base, ...isolated, '--', 'do it']);
  });

  it('puts everything in a fixed order', () => {
    const spec: ClaudeTaskSpec = {
      prompt: 'x', model: 'm', fallbackModel: 'f', effort: 'low', maxTurns: 2, maxBudgetUSD: '1.5', permissionMode: 'plan',
      allowedTools: ['Read'], disallowedTools: ['Bash'], addDirs: ['/d'], systemPrompt: 's', appendSystemPrompt: 'a',
      mcpServers: { x: { url: 'http://x' } }, settings: { model: 'm' }, jsonSchema: { type: 'object' },
    };
    expect(claudeArgs(spec, 'do it', dir).args).toEqual([...base, '--model', 'm', '--fallback-model', 'f', '--effort', 'low',
      '--max-turns', '2', '--max-budget-usd', '1.5', '--permission-mode', 'plan', '--allowedTools', 'Read', '--disallowedTools', 'Bash',
      '--add-dir', '/d', '--system-prompt-file', `${dir}/system-prompt.txt`, '--append-system-prompt-file', `${dir}/append-system-prompt.txt`,
      ...isolated, '--mcp-config', `${dir}/mcp-config.json`, '--settings', `${dir}/settings.json`, '--json-schema', '{"type":"object"}',
      '--', 'do it']);
  });

  it('names the content of each file it refers to', () => {
    const { files } = claudeArgs({
      prompt: 'x', systemPrompt: 'S', appendSystemPrompt: '', mcpServers: { x: { url: 'http://x' } }, settings: { env: { A: '1' } },
    }, 'p', dir);
    expect(files).toEqual([
      { path: `${dir}/system-prompt.txt`, content: 'S' },
      { path: `${dir}/append-system-prompt.txt`, content: '' },
      { path: `${dir}/mcp-config.json`, content: '{"mcpServers":{"x":{"url":"http://x"}}}' },
      { path: `${dir}/settings.json`, content: '{"env":{"A":"1"}}' },
    ]);
    expect(claudeArgs({ prompt: 'x' }, 'p', dir).files).toEqual([]);
  });

  it('takes a system prompt of any length the spec allows, multi-byte or not', () => {
    const systemPrompt = '日'.repeat(100 * 1024); // 300 KiB in UTF-8
    const { args, files } = claudeArgs({ prompt: 'x', systemPrompt }, 'p', dir);
    expect(args).not.toContain(systemPrompt);
    expect(files).toEqual([{ path: `${dir}/system-prompt.txt`, content: systemPrompt }]);
  });

  it('puts a prompt that looks like an option after --', () => {
    expect(claudeArgs({ prompt: 'x' }, '--help', dir).args.slice(-2)).toEqual(['--', '--help']);
  });

  it('sends a prompt too long for one argument on stdin', () => {
    const prompt = 'é'.repeat(maxArgBytes / 2 + 1); // 2 bytes each in UTF-8
    const invocation = claudeArgs({ prompt: 'x', model: 'm' }, prompt, dir);
    expect(invocation).toEqual({ args: [...base, '--model', 'm', ...isolated], stdin: prompt, files: [] });
  });

  it('refuses a JSON Schema too long for one argument (the spec does not allow one)', () => {
    expect(() => claudeArgs({ prompt: 'x', jsonSchema: { description: 'é'.repeat(maxArgBytes) } }, 'p', dir)).toThrow(ConfigError);
  });

  describe('a session\'s turn', () => {
    const id = '6f1c2c8e-0d5a-4a8e-9d43-2b1f0c9e7a11';
    // [name, spec, session, the args after base]
    const sessionCases: Array<[string, Partial<ClaudeTaskSpec>, CliSession, string[]]> = [
      ['the first turn starts the CLI session with its id', {}, { sessionId: id, resume: false },
        [...isolated, '--session-id', id, '--', 'hi']],
      ['a later turn resumes it', {}, { sessionId: id, resume: true }, [...isolated, '--resume', id, '--', 'hi']],
      ['after every spec flag, before the prompt', { model: 'm', jsonSchema: { type: 'object' } }, { sessionId: id, resume: true },
        ['--model', 'm', ...isolated, '--json-schema', '{"type":"object"}', '--resume', id, '--', 'hi']],
    ];

    it.each(sessionCases)('%s', (_name, spec, session, after) => {
      expect(claudeArgs(spec, 'hi', dir, session).args).toEqual([...base, ...after]);
    });

    it('keeps the session flag when the message goes to stdin', () => {
      const text = 'x'.repeat(maxArgBytes + 1);
      expect(claudeArgs({}, text, dir, { sessionId: id, resume: false })).toEqual({
        args: [...base, ...isolated, '--session-id', id], stdin: text, files: [],
      });
    });

    it('takes a session\'s spec as it is (it has no prompt)', () => {
      const spec: ClaudeSessionSpec = { model: 'm', idleTimeoutSeconds: 60, workspace: { size: '1Gi' } };
      expect(claudeArgs(spec, 'hi', dir, { sessionId: id, resume: true }).args).toEqual([...base, '--model', 'm', ...isolated,
        '--resume', id, '--', 'hi']);
    });
  });
});
