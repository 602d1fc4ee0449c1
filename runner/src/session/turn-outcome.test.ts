import { describe, expect, it } from '@jest/globals';
import type { EngineRunOutcome } from '../completion.ts';
import type { CliResult } from '../stream-json.ts';
import { turnCompletionOf } from './turn-outcome.ts';

const ids = { messageId: 'msg_0123456789abcdef0123456789abcdef', firstSeq: 7 };
const usage = { inputTokens: 10, outputTokens: 5, turns: 1 };
const result = (subtype: string, isError: boolean, text?: string): CliResult => ({ subtype, isError, text, structuredOutput: undefined, usage });
const proc = (exitCode: number | null, signal: NodeJS.Signals | null = null) => ({ exitCode, signal, spawnError: undefined, stderrTail: [], cliPath: '/c' });
const run = (over: Partial<EngineRunOutcome>): EngineRunOutcome => ({
  sessionId: 's', model: 'm', result: undefined, expectsStructuredOutput: false, stopped: false, process: proc(0), ...over,
});

describe('turnCompletionOf', () => {
  // [name, run, the fields it decides]
  const cases: Array<[string, EngineRunOutcome, object]> = [
    ['an answer', run({ result: result('success', false, 'Hi.') }),
      { outcome: 'answered', result: 'Hi.', stopReason: 'success', message: null, usage }],
    ['an answer that came before the interrupt', run({ result: result('success', false, 'Hi.'), stopped: true }),
      { outcome: 'answered', result: 'Hi.', stopReason: 'success' }],
    ['an interrupt mid-turn', run({ stopped: true, process: proc(null, 'SIGTERM') }),
      { outcome: 'interrupted', result: null, stopReason: 'interrupted', message: 'Interrupted before Claude finished.', usage: null }],
    ['max turns', run({ result: result('error_max_turns', true), process: proc(1) }),
      { outcome: 'failed', result: null, stopReason: 'error_max_turns', message: expect.stringMatching(/spec.maxTurns/) }],
    ['an API error', run({ result: result('success', true, 'API Error: 500'), process: proc(1) }),
      { outcome: 'failed', stopReason: 'success', message: 'Claude failed: API Error: 500' }],
    // The runner stopped the CLI at the kill: a failed turn that says why, not an interrupt.
    ['an OOM kill in the container', run({ oomKill: { kills: 1, limitBytes: 2 ** 30 }, process: proc(143) }),
      { outcome: 'failed', result: null, stopReason: null, message: expect.stringMatching(/^The container went past its memory limit \(1Gi\)/) }],
    ['a crash without a result', run({ process: proc(null, 'SIGKILL') }),
      { outcome: 'failed', stopReason: null, message: expect.stringMatching(/killed by SIGKILL/), usage: null }],
  ];

  it.each(cases)('%s', (_name, given, expected) => {
    expect(turnCompletionOf(given, ids)).toEqual(expect.objectContaining({
      type: 'runner.turn_completed', messageId: ids.messageId, firstSeq: 7, sessionId: 's', model: 'm', ...expected,
    }));
  });
});
