import { describe, expect, it } from '@jest/globals';
import { completionOf, type EngineRunOutcome } from './completion.ts';

const usage = { inputTokens: 10, outputTokens: 5, turns: 1 };
const success = { subtype: 'success', isError: false, text: 'Done.', usage };
const cleanExit = { exitCode: 0, signal: null, spawnError: undefined, stderrTail: [], cliPath: '/bin/claude' };

function run(overrides: Partial<EngineRunOutcome>): EngineRunOutcome {
  return { sessionId: 's-1', result: success, stopped: false, process: cleanExit, ...overrides };
}

describe('completionOf', () => {
  it('succeeds with the result text, usage and session id', () => {
    expect(completionOf(run({}))).toEqual({
      type: 'runner.completed', outcome: 'succeeded', exitCode: 0, message: 'Claude finished the task.',
      result: 'Done.', usage, sessionId: 's-1',
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

  const failures: Array<[string, Partial<EngineRunOutcome>, number, RegExp]> = [
    ['an API error after retries', { result: { subtype: 'success', isError: true, text: 'API Error: 500 Internal server error', usage: {} },
      process: { ...cleanExit, exitCode: 1 } }, 1, /^Claude failed: API Error: 500 Internal server error$/],
    ['max turns', { result: { subtype: 'error_max_turns', isError: true, text: undefined, usage: { turns: 3 } },
      process: { ...cleanExit, exitCode: 1 } }, 1, /after 3 turns \(spec\.maxTurns\)/],
    ['a crash without a result', { result: undefined, process: { ...cleanExit, exitCode: 1, stderrTail: ['a', 'boom'] } },
      1, /^The Claude CLI exited with code 1 without a result: a \| boom$/],
    ['a kill by signal', { result: undefined, process: { ...cleanExit, exitCode: null, signal: 'SIGKILL' } }, 1, /killed by SIGKILL/],
    ['a non-zero exit after success', { process: { ...cleanExit, exitCode: 2 } }, 1, /after reporting success/],
    ['a CLI that cannot start', { result: undefined, process: { ...cleanExit, exitCode: null, spawnError: new Error('spawn ENOENT') } },
      2, /could not be started \(\/bin\/claude\): spawn ENOENT/],
    ['an api run without an answer', { result: undefined, process: undefined }, 1, /without an answer/],
  ];

  it.each(failures)('fails on %s', (_name, overrides, exitCode, message) => {
    const completed = completionOf(run(overrides));
    expect(completed).toMatchObject({ outcome: 'failed', exitCode, result: null, sessionId: 's-1' });
    expect(completed.message).toMatch(message);
  });
});
