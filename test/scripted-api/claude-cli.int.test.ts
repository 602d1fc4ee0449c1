// The real Claude Code CLI against the scripted API: proves the scenarios drive the
// CLI's tool loop, error handling and turn limit as the operator will see them.
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ToolResultBlock, ToolUseBlock } from './messages-api.ts';
import { processGroupAlive, resultEvent, runClaude, type ClaudeRun, type RunClaudeOptions } from './run-claude.ts';
import { startScriptedApi, type RecordedRequest, type ScriptedApi } from './server.ts';

const apiKey = 'scripted-int-key';
let api: ScriptedApi;
/** The current test's workspace, removed after it. */
let workspace: string;
let lastRun: ClaudeRun | undefined;

beforeAll(async () => {
  api = await startScriptedApi({ apiKey });
});
afterAll(async () => {
  await api.close();
});
afterEach(async () => {
  if (lastRun !== undefined) {
    // Neither the CLI nor anything its tools started may outlive the test.
    expect(processGroupAlive(lastRun.pid)).toBe(false);
    lastRun = undefined;
  }
  await fs.rm(workspace, { recursive: true, force: true });
});

type ClaudeOptions = Partial<Omit<RunClaudeOptions, 'workspace'>> & { files?: Record<string, string> };

/** Runs the CLI in a fresh workspace (seeded with `files`) and returns the requests of its session. */
async function claude(prompt: string, { files = {}, ...options }: ClaudeOptions = {}): Promise<{ run: ClaudeRun; requests: RecordedRequest[] }> {
  workspace = await fs.mkdtemp(path.join(os.tmpdir(), 'claude-ws-'));
  for (const [name, content] of Object.entries(files)) await fs.writeFile(path.join(workspace, name), content);
  const run = await runClaude({ apiUrl: api.url, apiKey, prompt, timeoutMs: 20_000, ...options, workspace });
  lastRun = run;
  if (options.timeoutMs === undefined) expect(run.timedOut).toBe(false);
  const sessionId = run.events.find((event) => event.type === 'system' && event.subtype === 'init')?.session_id;
  expect(typeof sessionId).toBe('string');
  const requests = api.requests.filter((request) => request.headers['x-claude-code-session-id'] === sessionId);
  return { run, requests };
}

function toolUses(run: ClaudeRun): ToolUseBlock[] {
  return run.events
    .filter((event) => event.type === 'assistant')
    .flatMap((event) => (event.message as { content: Array<{ type: string }> }).content)
    .filter((block): block is ToolUseBlock => block.type === 'tool_use');
}

function toolResultsIn(request: RecordedRequest): ToolResultBlock[] {
  return (request.body?.messages ?? [])
    .flatMap((message) => (typeof message.content === 'string' ? [] : message.content))
    .filter((block): block is ToolResultBlock => block.type === 'tool_result');
}

describe('tool scenarios', () => {
  test('write-file: the CLI writes the file and reports success', async () => {
    const { run, requests } = await claude('[[scenario:write-file {"path":"hello.txt","content":"hello"}]]');

    expect(await fs.readFile(path.join(workspace, 'hello.txt'), 'utf8')).toBe('hello');
    expect(run.exitCode).toBe(0);
    expect(run.events.at(-1)).toMatchObject({ type: 'result', subtype: 'success', is_error: false, result: 'Wrote hello.txt.' });
    // Two model calls: the Write, then the answer to its result.
    expect(requests.map((request) => [request.path, request.scenario, request.status])).toEqual([
      ['/v1/messages?beta=true', 'write-file', 200],
      ['/v1/messages?beta=true', 'write-file', 200],
    ]);
    const [write] = toolUses(run);
    expect(write).toMatchObject({ name: 'Write', input: { file_path: path.join(workspace, 'hello.txt'), content: 'hello' } });
    const results = toolResultsIn(requests[1]!);
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({ tool_use_id: write?.id });
    expect(results[0]?.is_error).not.toBe(true);
    // Usage is the scripted one, summed over both calls (see usageFor).
    expect(resultEvent(run)?.usage).toMatchObject({ input_tokens: 140 + 180, cache_creation_input_tokens: 1200, cache_read_input_tokens: 1000 });
  });

  test('bash: the command really runs in the workspace', async () => {
    const { run } = await claude('[[scenario:bash {"command":"echo x > marker.txt && echo made"}]]');

    expect(await fs.readFile(path.join(workspace, 'marker.txt'), 'utf8')).toBe('x\n');
    expect(run.exitCode).toBe(0);
    expect(resultEvent(run)).toMatchObject({ subtype: 'success', result: 'Ran `echo x > marker.txt && echo made`. Output:\nmade' });
  });

  test('many-tools: each answer\'s calls all run, each an assistant and a user event of its own', async () => {
    const { run, requests } = await claude('[[scenario:many-tools {"calls":5,"rounds":2}]]');

    expect(run.exitCode).toBe(0);
    expect(resultEvent(run)).toMatchObject({ subtype: 'success', result: 'Ran 10 tools.' });
    expect(requests).toHaveLength(3);
    expect(toolUses(run)).toHaveLength(10);
    expect(run.events.filter((event) => event.type === 'assistant')).toHaveLength(11);
    expect(run.events.filter((event) => event.type === 'user')).toHaveLength(10);
    expect(toolResultsIn(requests[2]!).filter((result) => result.is_error !== true)).toHaveLength(10);
  });

  test('edit: Read, then Edit changes an existing file', async () => {
    const { run, requests } = await claude('[[scenario:edit {"path":"config.txt","old":"hello","new":"goodbye"}]]', {
      files: { 'config.txt': 'greeting = hello\ncolour = blue\n' },
    });

    expect(await fs.readFile(path.join(workspace, 'config.txt'), 'utf8')).toBe('greeting = goodbye\ncolour = blue\n');
    expect(toolUses(run).map((use) => use.name)).toEqual(['Read', 'Edit']);
    expect(requests).toHaveLength(3);
    expect(resultEvent(run)).toMatchObject({ subtype: 'success', is_error: false, result: 'Edited config.txt.' });
  });

  test('loop-tools with --max-turns 2 stops at the limit', async () => {
    const { run, requests } = await claude('[[scenario:loop-tools]]', { extraArgs: ['--max-turns', '2'] });

    expect(resultEvent(run)).toMatchObject({ subtype: 'error_max_turns', is_error: true });
    expect(run.exitCode).toBe(1);
    expect(requests).toHaveLength(2);
  });
});

describe('API errors', () => {
  test('a wrong API key ends in an authentication error', async () => {
    // The CLI retries 401s too (10 times by default); one attempt is enough here.
    const { run, requests } = await claude('hello', { apiKey: 'wrong-key', env: { CLAUDE_CODE_MAX_RETRIES: '0' } });

    expect(run.exitCode).not.toBe(0);
    expect(resultEvent(run)).toMatchObject({ is_error: true, api_error_status: 401, api_error_type: 'authentication_error' });
    expect(String(resultEvent(run)?.result)).toMatch(/api key/i);
    expect(requests.map((request) => [request.status, request.headers['x-api-key']])).toEqual([[401, 'wrong-key']]);
  });

  test('server-error: the CLI retries as configured, then fails', async () => {
    const { run, requests } = await claude('[[scenario:server-error]]', { env: { CLAUDE_CODE_MAX_RETRIES: '1' } });

    expect(run.exitCode).not.toBe(0);
    expect(resultEvent(run)).toMatchObject({ is_error: true, api_error_status: 500 });
    expect(requests.map((request) => request.status)).toEqual([500, 500]);
  });

  test('rate-limited once: the CLI waits for retry-after, then succeeds', async () => {
    const { run, requests } = await claude('[[scenario:rate-limited {"times":1,"retryAfter":1}]]');

    expect(run.exitCode).toBe(0);
    expect(resultEvent(run)).toMatchObject({ subtype: 'success', is_error: false });
    expect(requests.map((request) => request.status)).toEqual([429, 200]);
    expect(requests[1]!.time - requests[0]!.time).toBeGreaterThanOrEqual(900);
  });
});

test('runClaude kills the CLI when it runs out of time', async () => {
  const started = Date.now();
  const { run, requests } = await claude('[[scenario:slow {"tokens":100,"delayMs":1000}]]', { timeoutMs: 2_000 });

  expect(run.timedOut).toBe(true);
  expect(run.signal).toBe('SIGKILL');
  expect(Date.now() - started).toBeLessThan(5_000);
  expect(requests).toHaveLength(1);
  expect(processGroupAlive(run.pid)).toBe(false);
});
