// The spec fields that map to the CLI's headless flags, each proven through the real
// runner and the real CLI against the scripted Messages API: long system prompts as
// files, settings isolation from the workspace, budget, fallback model, extra
// directories, settings, permission modes, effort, structured output, the model
// used, and partial messages on their Pub/Sub channel.
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { maxPromptLength, permissionModes } from '../../crds/src/agent-spec.ts';
import type { ClaudeTaskSpec } from '../../crds/src/claude-task.ts';
import { waitFor } from '../../test/bed/process.ts';
import type { RecordedRequest } from '../../test/scripted-api/server.ts';
import { maxArgBytes } from './cli-args.ts';
import { workloadStreamKeys } from '../../packages/contracts/src/event-stream.ts';
import type { TaskEvent } from '../../packages/contracts/src/task-events.ts';
import { makeOrigin } from './testing/git-origin.ts';
import { startRunnerHarness, type RunnerHarness, type RunnerRun } from './testing/run-runner.ts';

let harness: RunnerHarness;

beforeAll(async () => {
  harness = await startRunnerHarness('runner-cli-surface');
});

afterAll(async () => {
  await harness?.close();
});

const run = (spec: ClaudeTaskSpec, name?: string) => harness.runRunner({ spec, name });

function initOf(runnerRun: RunnerRun): TaskEvent {
  const init = runnerRun.events.find((e) => e.type === 'system' && e.data.subtype === 'init')?.data;
  if (!init) throw new Error(`no init event; runner output:\n${runnerRun.stdout}`);
  return init;
}

function systemText(request: RecordedRequest): string {
  const system = request.body?.system;
  return typeof system === 'string' ? system : (system ?? []).map((block) => block.text).join('\n');
}

const writeFile = (file: string) => `[[scenario:write-file {"path":"${file}","content":"written"}]]`;

describe('system prompts', () => {
  it('reach the API whole through files, however long the spec allows them to be', async () => {
    const systemPrompt = `BEGIN ${'日'.repeat(maxPromptLength - 'BEGIN  END'.length)} END`;
    const appendSystemPrompt = 'Ünïcödé appendix.';
    expect(systemPrompt.length).toBe(maxPromptLength);
    expect(Buffer.byteLength(systemPrompt)).toBeGreaterThan(maxArgBytes); // would not fit one argv string

    const done = await run({ prompt: 'hello', systemPrompt, appendSystemPrompt });
    expect(done.completed).toMatchObject({ outcome: 'succeeded', exitCode: 0 });
    const [request] = harness.requestsOf(done);
    expect(systemText(request!)).toContain(`${systemPrompt}\n\n${appendSystemPrompt}`);
    // The files went with the CLI.
    expect((await fs.readdir(path.join(done.rootfs, 'tmp'))).filter((entry) => entry.startsWith('claude-runner-cli-'))).toEqual([]);
  });
});

describe('a cloned repository configures the agent only with allowProjectSettings', () => {
  let origin: string;
  const specServer = { 'spec-server': { command: '/bin/true' } };

  beforeAll(async () => {
    const repos = await harness.newRootfs();
    origin = path.join(repos, 'origin.git');
    await makeOrigin(origin, path.join(repos, 'work'), {
      '.claude/settings.json': JSON.stringify({ permissions: { deny: ['Write'] } }),
      '.mcp.json': JSON.stringify({ mcpServers: { 'repo-server': { command: '/bin/true' } } }),
      'CLAUDE.md': 'REPO-INSTRUCTIONS-MARKER\n',
    });
  });

  const cloneAndWrite = (allowProjectSettings: boolean | undefined) => run({
    prompt: writeFile('a.txt'), permissionMode: 'acceptEdits', mcpServers: specServer, allowProjectSettings,
    workspace: { git: { url: `file://${origin}` } },
  });
  const serverNames = (runnerRun: RunnerRun) => (initOf(runnerRun).mcp_servers as Array<{ name: string; source: string }>)
    .map((server) => `${server.name}:${server.source}`).sort();
  const sawRepoInstructions = (runnerRun: RunnerRun) => harness.requestsOf(runnerRun).some((r) => JSON.stringify(r.body).includes('REPO-INSTRUCTIONS-MARKER'));

  it('ignores its settings, MCP servers and CLAUDE.md by default: only the spec counts', async () => {
    const done = await cloneAndWrite(undefined);
    expect(done.completed).toMatchObject({ outcome: 'succeeded', result: 'Wrote a.txt.' });
    expect(await fs.readFile(path.join(done.workspace, 'a.txt'), 'utf8')).toBe('written');
    expect(serverNames(done)).toEqual(['spec-server:dynamic']);
    expect(sawRepoInstructions(done)).toBe(false);
  });

  it('honours them when the spec allows it', async () => {
    const done = await cloneAndWrite(true);
    expect(done.completed.result).toMatch(/^The tool failed: .*No such tool available: Write/);
    await expect(fs.access(path.join(done.workspace, 'a.txt'))).rejects.toThrow();
    expect(serverNames(done)).toEqual(['repo-server:project', 'spec-server:dynamic']);
    expect(sawRepoInstructions(done)).toBe(true);
  });
});

describe('headless flags', () => {
  it('maxBudgetUSD: the run stops once it has cost more, and fails BudgetExceeded (exit 4)', async () => {
    const done = await run({
      prompt: '[[scenario:loop-tools {"inputTokens":200000}]]', allowedTools: ['Bash'], maxBudgetUSD: '1.50', maxTurns: 20,
    });
    const calls = harness.requestsOf(done).length;
    expect(calls).toBeLessThan(20); // the budget stopped it, not maxTurns
    expect(done.exitCode).toBe(4);
    expect(done.completed).toMatchObject({ outcome: 'failed', exitCode: 4, reason: 'BudgetExceeded', result: null });
    expect(Number(done.completed.usage?.costUSD)).toBeGreaterThan(1.5);
    // The CLI's `usage` is all zeros here; the tokens come from its modelUsage.
    expect(done.completed.usage?.inputTokens).toBe(200_000 * calls);
    expect(done.completed.message).toContain(`had cost ${done.completed.usage?.costUSD} US dollars (spec.maxBudgetUSD)`);
    expect(done.termination).toMatchObject({ outcome: 'failed', exitCode: 4, reason: 'BudgetExceeded', usage: done.completed.usage });
  });

  it('fallbackModel: the CLI switches when the model is overloaded', async () => {
    const done = await run({
      prompt: '[[scenario:overloaded {"model":"claude-opus-5-5","text":"Answered by the fallback."}]]', fallbackModel: 'claude-sonnet-4-5',
    });
    expect(done.completed).toMatchObject({ outcome: 'succeeded', result: 'Answered by the fallback.' });
    const models = harness.requestsOf(done).map((request) => `${request.body?.model}:${request.status}`);
    expect(models.at(-1)).toBe('claude-sonnet-4-5:200');
    expect(models.slice(0, -1).every((model) => model === 'claude-opus-5-5:529')).toBe(true);
    expect(done.events.map((e) => e.data)).toContainEqual(expect.objectContaining({
      type: 'system', subtype: 'model_fallback', original_model: 'claude-opus-5-5', fallback_model: 'claude-sonnet-4-5',
    }));
  });

  it('addDirs: the agent may write in a directory besides the workspace', async () => {
    const extra = await harness.newRootfs();
    const file = path.join(extra, 'notes.txt');
    const refused = await run({ prompt: writeFile(file), permissionMode: 'acceptEdits' });
    expect(refused.completed.result).toMatch(/^The tool failed: .*haven't granted/);
    const allowed = await run({ prompt: writeFile(file), permissionMode: 'acceptEdits', addDirs: [extra] });
    expect(allowed.completed.result).toBe(`Wrote ${file}.`);
    expect(await fs.readFile(file, 'utf8')).toBe('written');
  });

  it('settings: the spec\'s settings apply (a denied tool)', async () => {
    const done = await run({ prompt: writeFile('a.txt'), permissionMode: 'acceptEdits', settings: { permissions: { deny: ['Write'] } } });
    expect(done.completed.result).toMatch(/^The tool failed: .*No such tool available: Write/);
  });

  it.each(permissionModes.map((mode) => [mode]))('permissionMode %s is taken by the CLI', async (permissionMode) => {
    const done = await run({ prompt: 'hello', permissionMode });
    expect(done.completed.outcome).toBe('succeeded');
    // The CLI reports manual under its older name.
    expect(initOf(done).permissionMode).toBe(permissionMode === 'manual' ? 'default' : permissionMode);
  });

  it('permissionMode dontAsk denies what no rule allows', async () => {
    const done = await run({ prompt: writeFile('a.txt'), permissionMode: 'dontAsk' });
    expect(done.completed.result).toMatch(/^The tool failed: Permission to use Write has been denied because Claude Code is running in don't ask mode/);
  });

  it('model and effort reach the API, and the terminal event and termination message name the model', async () => {
    // The CLI sends effort only for models that have it (not claude-sonnet-4-5 or claude-haiku-4-5).
    const done = await run({ prompt: 'hello', model: 'claude-opus-4-6', effort: 'high' });
    const [request] = harness.requestsOf(done);
    expect(request?.body).toMatchObject({ model: 'claude-opus-4-6', output_config: { effort: 'high' } });
    expect(initOf(done).model).toBe('claude-opus-4-6');
    expect(done.completed.model).toBe('claude-opus-4-6');
    expect(done.termination.model).toBe('claude-opus-4-6');
  });
});

describe('jsonSchema', () => {
  const jsonSchema = { type: 'object', properties: { name: { type: 'string' }, age: { type: 'integer' } }, required: ['name'] };

  it('the validated JSON is the result', async () => {
    const done = await run({ prompt: '[[scenario:structured-output {"output":{"name":"Ada","age":36}}]]', jsonSchema });
    expect(done.completed).toMatchObject({ outcome: 'succeeded', reason: null, result: '{"name":"Ada","age":36}' });
    expect(done.termination.result).toBe('{"name":"Ada","age":36}');
    const [request] = harness.requestsOf(done);
    expect(request?.body?.tools).toContainEqual(expect.objectContaining({ name: 'StructuredOutput', input_schema: jsonSchema }));
  });

  it('a run that never returns matching JSON fails, although the CLI says success', async () => {
    const done = await run({ prompt: '[[scenario:structured-output {"output":{"nom":"Ada"}}]]', jsonSchema });
    expect(done.events.find((e) => e.type === 'result')?.data).toMatchObject({ subtype: 'success', is_error: false });
    expect(done.completed).toMatchObject({ outcome: 'failed', exitCode: 1, reason: 'StructuredOutputMissing', result: null });
    expect(done.termination.reason).toBe('StructuredOutputMissing');
  });
});

describe('partial messages', () => {
  let subscriber: Redis;
  beforeAll(() => {
    subscriber = harness.redis.duplicate();
  });
  afterAll(() => {
    subscriber.disconnect();
  });

  it.each([
    ['cli', '[[scenario:answer {"text":"one two three four five six"}]]', 'one two three four five six'],
    ['api', 'hello', 'Scripted side answer.'],
  ] as const)('engine %s: deltas go to the partial channel, whole messages to the stream', async (engine, prompt, text) => {
    const name = `partial-${engine}-${Date.now()}`;
    const partials: TaskEvent[] = [];
    const channel = workloadStreamKeys('task', harness.namespace, name).partial;
    const onMessage = (from: string, message: string) => {
      if (from === channel) partials.push(JSON.parse(message) as TaskEvent);
    };
    subscriber.on('message', onMessage);
    await subscriber.subscribe(channel);

    const done = await run({ prompt, engine }, name);
    expect(done.completed).toMatchObject({ outcome: 'succeeded', result: text });
    await waitFor('the last partial event', async () => partials.some((p) => (p.event as { type?: string } | undefined)?.type === 'message_stop'),
      { timeoutMs: 5_000, intervalMs: 20 });
    await subscriber.unsubscribe(channel);
    subscriber.off('message', onMessage);

    const deltas = partials.flatMap((p) => {
      const event = p.event as { type?: string; delta?: { type?: string; text?: string } } | undefined;
      return event?.type === 'content_block_delta' && event.delta?.type === 'text_delta' ? [event.delta.text ?? ''] : [];
    });
    expect(deltas.join('')).toBe(text);
    if (engine === 'cli') expect(deltas.length).toBe(6);
    expect(partials.every((p) => p.type === 'stream_event' || (p.type === 'system' && p.subtype === 'status'))).toBe(true);

    // The stream keeps whole messages only.
    const types = done.events.map((e) => e.type);
    expect(types).not.toContain('stream_event');
    expect(done.events.filter((e) => e.type === 'system').map((e) => e.data.subtype)).toEqual(['init']);
    const assistant = done.events.find((e) => e.type === 'assistant')!.data.message as { id: string; content: Array<{ text?: string }> };
    expect(assistant.content.map((block) => block.text).join('')).toBe(text);
    if (engine === 'cli') expect(new Set(partials.filter((p) => p.type === 'stream_event').map((p) => p.api_message_id))).toEqual(new Set([assistant.id]));
  });
});
