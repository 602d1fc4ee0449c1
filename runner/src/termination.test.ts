import { describe, expect, it } from '@jest/globals';
import { parseRunnerSummary, TerminationSummarySchema, type TerminationSummary } from '../../packages/contracts/src/termination-summary.ts';
import { terminationMessage, terminationMessageMaxBytes } from './termination.ts';

const summary: TerminationSummary = {
  outcome: 'succeeded', exitCode: 0, message: 'done', reason: null, sessionId: 's-1', model: 'claude-opus-5-5',
  usage: { inputTokens: 320, outputTokens: 40, costUSD: '0.0059', turns: 2 },
  result: 'Wrote hello.txt.', resultTruncated: false, attempt: 1, lastSeq: 12, unpublishedEvents: 0,
};

describe('terminationMessage', () => {
  it('is the summary as one JSON line', () => {
    const line = terminationMessage(summary);
    expect(line).not.toContain('\n');
    expect(JSON.parse(line)).toEqual(summary);
  });

  it.each([
    ['a long ASCII result', 'x'.repeat(20_000)],
    ['a long multi-byte result', '日本語'.repeat(5_000)],
    ['a result full of characters JSON escapes', '"\\\n'.repeat(5_000)],
  ])('shortens %s to fit 4096 bytes', (_name, result) => {
    const line = terminationMessage({ ...summary, result });
    expect(Buffer.byteLength(line)).toBeLessThanOrEqual(terminationMessageMaxBytes);
    const parsed = JSON.parse(line) as TerminationSummary;
    expect(parsed.resultTruncated).toBe(true);
    expect(result.startsWith(parsed.result!.slice(0, -1))).toBe(true);
    expect(parsed.result!.length).toBeGreaterThan(100);
  });

  it('shortens the message too when the result alone is not enough', () => {
    const line = terminationMessage({ ...summary, result: 'r'.repeat(5_000), message: 'm'.repeat(10_000) });
    expect(Buffer.byteLength(line)).toBeLessThanOrEqual(terminationMessageMaxBytes);
    expect(JSON.parse(line)).toMatchObject({ result: '', outcome: 'succeeded', usage: summary.usage });
  });
});

describe('the operator reads what the runner writes', () => {
  it.each([
    ['the summary', summary],
    ['a shortened summary', { ...summary, result: 'x'.repeat(20_000) }],
  ])('%s, through the termination message and the contract\'s schema', (_name, written) => {
    const line = terminationMessage(written);
    const parsed = TerminationSummarySchema.parse(JSON.parse(line));
    expect(parseRunnerSummary(`some log line\n${line}\n`)).toEqual(parsed);
  });
});
