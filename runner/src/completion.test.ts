import { describe, expect, it } from '@jest/globals';
import { completionOf, type EngineRunOutcome } from './completion.ts';

const usage = { inputTokens: 10, outputTokens: 5, turns: 1 };
const success = { subtype: 'success', isError: false, text: 'Done.', structuredOutput: undefined, usage };
const cleanExit = { exitCode: 0, signal: null, spawnError: undefined, stderrTail: [], cliPath: '/bin/claude' };

function run(overrides: Partial<EngineRunOutcome>): EngineRunOutcome {
  return { sessionId: 's-1', model: 'claude-opus-5-5', result: success, expectsStructuredOutput: false, stopped: false, process: cleanExit,
    ...overrides };
}

describe('completionOf', () => {
  it('succeeds with the result text, usage, session id and model', () => {
    expect(completionOf(run({}))).toEqual({
      type: 'runner.completed', outcome: 'succeeded', exitCode: 0, message: 'Claude finished the task.', reason: null,
      result: 'Done.', usage, sessionId: 's-1', model: 'claude-opus-5-5',
    });
  });

  it('has a null model when the engine named none', () => {
    expect(completionOf(run({ model: undefined, result: undefined, process: { ...cleanExit, exitCode: 1 } }))).toMatchObject({ model: null });
  });

  it('makes the structured output the result when spec.jsonSchema asked for it', () => {
    const structured = { ...success, text: 'whatever the CLI says', structuredOutput: { name: 'Ada', tags: ['x'] } };
    expect(completionOf(run({ expectsStructuredOutput: true, result: structured })))
      .toMatchObject({ outcome: 'succeeded', result: '{"name":"Ada","tags":["x"]}', reason: null });
  });

  it('fails a run that asked for structured output and ended without it', () => {
    expect(completionOf(run({ expectsStructuredOutput: true }))).toMatchObject({
      outcome: 'failed', exitCode: 1, reason: 'StructuredOutputMissing', result: null,
      message: 'Claude finished without returning output that matches spec.jsonSchema.',
    });
  });

  it('succeeds for the api engine, which has no process', () => {
    expect(completionOf(run({ process: undefined }))).toMatchObject({ outcome: 'succeeded', exitCode: 0 });
  });

  it('counts a finished run as succeeded even if SIGTERM came just after', () => {
    expect(completionOf(run({ stopped: true }))).toMatchObject({ outcome: 'succeeded' });
  });

  it('is cancelled when stopped before a successful result', () => {
    expect(completionOf(run({ stopped: true, result: undefined, process: { ...cleanExit, exitCode: 143 } })))
      .toMatchObject({ outcome: 'cancelled', exitCode: 143, result: null });
  });

  const failures: Array<[string, Partial<EngineRunOutcome>, number, RegExp, string | null]> = [
    ['the budget', { result: { subtype: 'error_max_budget_usd', isError: true, text: undefined, structuredOutput: undefined,
      usage: { costUSD: '0.0059' } }, process: { ...cleanExit, exitCode: 1 } }, 4, /had cost 0\.0059 US dollars \(spec\.maxBudgetUSD\)/,
    'BudgetExceeded'],
    ['an API error after retries', { result: { subtype: 'success', isError: true, text: 'API Error: 500 Internal server error',
      structuredOutput: undefined, usage: {} }, process: { ...cleanExit, exitCode: 1 } }, 1, /^Claude failed: API Error: 500 Internal server error$/, null],
    ['max turns', { result: { subtype: 'error_max_turns', isError: true, text: undefined, structuredOutput: undefined, usage: { turns: 3 } },
      process: { ...cleanExit, exitCode: 1 } }, 1, /after 3 turns \(spec\.maxTurns\)/, 'MaxTurnsExceeded'],
    ['a crash without a result', { result: undefined, process: { ...cleanExit, exitCode: 1, stderrTail: ['a', 'boom'] } },
      1, /^The Claude CLI exited with code 1 without a result: a \| boom$/, null],
    ['a kill by signal', { result: undefined, process: { ...cleanExit, exitCode: null, signal: 'SIGKILL' } }, 1, /killed by SIGKILL/, null],
    ['a non-zero exit after success', { process: { ...cleanExit, exitCode: 2 } }, 1, /after reporting success/, null],
    ['a CLI that cannot start', { result: undefined, process: { ...cleanExit, exitCode: null, spawnError: new Error('spawn ENOENT') } },
      2, /could not be started \(\/bin\/claude\): spawn ENOENT/, null],
    ['an api run without an answer', { result: undefined, process: undefined }, 1, /without an answer/, null],
    // The CLI's result when a 429 ended the run (observed, CLI 2.1.328: retry-after above 60 s, or retries spent).
    ['a 429 the CLI gave up on at once', { result: { subtype: 'success', isError: true, apiErrorStatus: 429, structuredOutput: undefined, usage: {},
      text: 'API Error: Request rejected (429) · Number of requests has exceeded your rate limit.' }, process: { ...cleanExit, exitCode: 1 } },
    5, /^The Messages API rate-limited the run \(429\) and the CLI gave up retrying: API Error: Request rejected \(429\)/, 'RateLimited'],
    ['a 429 after the CLI\'s retries', { rateLimitRetryDue: new Date('2026-12-02T14:00:30.000Z'), result: { subtype: 'success', isError: true,
      apiErrorStatus: 429, structuredOutput: undefined, usage: {}, text: 'API Error: Request rejected (429)' }, process: { ...cleanExit, exitCode: 1 } },
    5, /gave up retrying \(last retry was due at 2026-12-02T14:00:30\.000Z\)/, 'RateLimited'],
    // The runner stopped the CLI at the OOM kill (SIGTERM to its group: exit 143); the agent may even have reported success.
    ['an OOM kill in the container', { oomKill: { kills: 1, limitBytes: 512 * 2 ** 20 }, result: undefined, process: { ...cleanExit, exitCode: 143 } },
      6, /^The container went past its memory limit \(512Mi\): the kernel's OOM killer took a process in it .*Raise spec\.resources\.limits\.memory/,
      'OOMKilled'],
    ['OOM kills after the agent reported success, with no limit known', { oomKill: { kills: 2, limitBytes: undefined } },
      6, /^The container went past its memory limit: the kernel's OOM killer took 2 processes in it/, 'OOMKilled'],
    ['a 529 (not a rate limit)', { result: { subtype: 'success', isError: true, apiErrorStatus: 529, structuredOutput: undefined, usage: {},
      text: 'API Error: Repeated 529 Overloaded errors' }, process: { ...cleanExit, exitCode: 1 } }, 1, /^Claude failed: API Error: Repeated 529/, null],
  ];

  it.each(failures)('fails on %s', (_name, overrides, exitCode, message, reason) => {
    const completed = completionOf(run(overrides));
    expect(completed).toMatchObject({ outcome: 'failed', exitCode, reason, result: null, sessionId: 's-1' });
    expect(completed.message).toMatch(message);
  });
});

describe('completionOf and the rate-limit reset', () => {
  const limited = { subtype: 'success', isError: true, apiErrorStatus: 429, structuredOutput: undefined, usage: {}, text: 'API Error: Request rejected (429)' };
  it.each([
    ['the last retry\'s due time, when the CLI retried', new Date('2026-12-02T14:00:30.000Z'), '2026-12-02T14:00:30.000Z'],
    ['null, when it gave up at once', undefined, null],
  ])('says %s', (_name, due, resetAt) => {
    expect(completionOf(run({ result: limited, rateLimitRetryDue: due, process: { ...cleanExit, exitCode: 1 } })).rateLimitResetAt).toBe(resetAt);
  });

  it('keeps no reset on other outcomes', () => {
    expect(completionOf(run({ rateLimitRetryDue: new Date() }))).not.toHaveProperty('rateLimitResetAt');
  });
});
