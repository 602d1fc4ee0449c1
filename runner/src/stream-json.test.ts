import { describe, expect, it } from '@jest/globals';
import { CliRunSummary, formatUsd, malformedLineKeep, parseLine, rateLimitRetryDue, StreamJsonReader } from './stream-json.ts';

const init = { type: 'system', subtype: 'init', session_id: 'sess-1', cwd: '/w', model: 'claude-opus-5-5' };
const result = {
  type: 'result', subtype: 'success', is_error: false, result: 'Wrote hello.txt.', session_id: 'sess-1',
  total_cost_usd: 0.0059, num_turns: 2,
  usage: { input_tokens: 320, output_tokens: 40, cache_read_input_tokens: 1000, cache_creation_input_tokens: 1200, service_tier: 'standard' },
};

describe('StreamJsonReader', () => {
  it('passes objects through unchanged, whatever their type', () => {
    const reader = new StreamJsonReader();
    const brandNew = { type: 'something_new', nested: { a: [1, 2] } };
    const text = [init, brandNew, result].map((e) => JSON.stringify(e)).join('\n') + '\n';
    expect(reader.feed(text)).toEqual([init, brandNew, result]);
    expect(reader.end()).toEqual([]);
  });

  it('joins lines split across chunks and keeps a partial line until it ends', () => {
    const reader = new StreamJsonReader();
    const line = JSON.stringify(init);
    expect(reader.feed(line.slice(0, 10))).toEqual([]);
    expect(reader.feed(line.slice(10) + '\n' + '{"type":"a"}')).toEqual([init]);
    expect(reader.end()).toEqual([{ type: 'a' }]);
  });

  it('skips blank lines and accepts CRLF', () => {
    expect(new StreamJsonReader().feed('\n  \n{"type":"x"}\r\n')).toEqual([{ type: 'x' }]);
  });

  it('turns a malformed line into an event and goes on', () => {
    const events = new StreamJsonReader().feed('Warning: something\n{"type":"x"}\n');
    expect(events).toEqual([
      { type: 'runner.malformed_line', line: 'Warning: something', truncated: false, error: expect.stringMatching(/^not JSON/) },
      { type: 'x' },
    ]);
  });

  it.each([
    ['an array', '[1,2]', 'not a JSON object'],
    ['a number', '42', 'not a JSON object'],
    ['null', 'null', 'not a JSON object'],
    ['an object without type', '{"a":1}', 'no "type" string'],
    ['a non-string type', '{"type":3}', 'no "type" string'],
  ])('reports %s as malformed', (_name, line, error) => {
    expect(parseLine(line)).toEqual([{ type: 'runner.malformed_line', line, truncated: false, error }]);
  });

  it('keeps only the start of a huge malformed line', () => {
    const [event] = parseLine('x'.repeat(malformedLineKeep * 3));
    expect(event).toMatchObject({ truncated: true });
    expect((event!.line as string).length).toBe(malformedLineKeep);
  });
});

describe('CliRunSummary', () => {
  it('extracts session id, model, result text and usage', () => {
    const summary = new CliRunSummary();
    for (const event of [init, { type: 'assistant', session_id: 'sess-1' }, result]) summary.observe(event);
    expect(summary.sessionId).toBe('sess-1');
    expect(summary.model).toBe('claude-opus-5-5');
    expect(summary.result).toEqual({
      subtype: 'success', isError: false, text: 'Wrote hello.txt.', structuredOutput: undefined,
      usage: { inputTokens: 320, outputTokens: 40, cacheReadInputTokens: 1000, cacheCreationInputTokens: 1200, costUSD: '0.0059', turns: 2 },
    });
  });

  it('takes the model from the init event only', () => {
    const summary = new CliRunSummary();
    summary.observe({ type: 'assistant', message: { model: 'other' } });
    summary.observe({ type: 'system', subtype: 'model_fallback', model: 'fallback' });
    expect(summary.model).toBeUndefined();
  });

  it('keeps the structured output of a --json-schema run', () => {
    const summary = new CliRunSummary();
    summary.observe({ ...result, result: '{"name":"Ada"}', structured_output: { name: 'Ada' } });
    expect(summary.result?.structuredOutput).toEqual({ name: 'Ada' });
  });

  it('sums the tokens of modelUsage, which is right where usage is not (error_max_budget_usd)', () => {
    const summary = new CliRunSummary();
    const modelUsage = (inputTokens: number) => ({ inputTokens, outputTokens: 17, cacheReadInputTokens: 0, cacheCreationInputTokens: 1000, costUSD: 1 });
    summary.observe({
      type: 'result', subtype: 'error_max_budget_usd', is_error: true, total_cost_usd: 0.0059, num_turns: 1,
      usage: { input_tokens: 0, output_tokens: 0, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 },
      modelUsage: { 'claude-opus-5-5': modelUsage(140), 'claude-sonnet-4-5': modelUsage(60) },
    });
    expect(summary.result?.usage).toEqual({
      inputTokens: 200, outputTokens: 34, cacheReadInputTokens: 0, cacheCreationInputTokens: 2000, costUSD: '0.0059', turns: 1,
    });
  });

  it('treats is_error on a success subtype as an error (API errors after retries)', () => {
    const summary = new CliRunSummary();
    summary.observe({ type: 'result', subtype: 'success', is_error: true, result: 'API Error: 500 ...', api_error_status: 500 });
    expect(summary.result).toMatchObject({ isError: true, text: 'API Error: 500 ...', usage: {} });
  });

  it('treats a non-success subtype as an error', () => {
    const summary = new CliRunSummary();
    summary.observe({ type: 'result', subtype: 'error_max_turns', num_turns: 3 });
    expect(summary.result).toMatchObject({ subtype: 'error_max_turns', isError: true, text: undefined, usage: { turns: 3 } });
  });

  it('ignores usage values of the wrong type', () => {
    const summary = new CliRunSummary();
    summary.observe({ type: 'result', subtype: 'success', usage: { input_tokens: '5', output_tokens: -1 }, total_cost_usd: 'x' });
    expect(summary.result?.usage).toEqual({});
  });

  it('has nothing before any event', () => {
    const summary = new CliRunSummary();
    expect([summary.sessionId, summary.model, summary.result]).toEqual([undefined, undefined, undefined]);
  });
});

describe('formatUsd', () => {
  it.each([
    [0.0059, '0.0059'], [1e-7, '0'], [2, '2'], [0, '0'], [12.3456789, '12.345679'],
    [-1, undefined], [Number.NaN, undefined], ['1', undefined],
  ])('%p → %p', (value, expected) => {
    expect(formatUsd(value)).toBe(expected);
  });
});

describe('rateLimitRetryDue', () => {
  const now = new Date('2026-12-02T14:00:00.000Z');
  // As the CLI 2.1.328 prints it when the API answers 429 with retry-after (test/scripted-api/README.md).
  const apiRetry = { type: 'system', subtype: 'api_retry', attempt: 1, max_retries: 10, retry_delay_ms: 29_969, error_status: 429, error: 'rate_limit' };
  it.each<[string, Record<string, unknown>, string | undefined]>([
    ['a 429 retry: now plus its delay', apiRetry, '2026-12-02T14:00:29.969Z'],
    ['a retry of a 500', { ...apiRetry, error_status: 500, error: 'server_error' }, undefined],
    ['a retry of a 529', { ...apiRetry, error_status: 529, error: 'overloaded' }, undefined],
    ['a 429 retry without a delay', { ...apiRetry, retry_delay_ms: undefined }, undefined],
    ['a 429 retry with a negative delay', { ...apiRetry, retry_delay_ms: -5 }, undefined],
    ['a 429 retry with a delay that is not a number', { ...apiRetry, retry_delay_ms: '30000' }, undefined],
    ['another system event', { ...apiRetry, subtype: 'status' }, undefined],
    ['the result of a 429', { type: 'result', subtype: 'success', is_error: true, api_error_status: 429 }, undefined],
  ])('%s', (_name, event, due) => {
    expect(rateLimitRetryDue(event as { type: string }, now)?.toISOString()).toBe(due);
  });

  it('is kept by CliRunSummary: the last 429 retry, with the API error status of the result', () => {
    let clock = now;
    const summary = new CliRunSummary(() => clock);
    summary.observe(apiRetry);
    clock = new Date('2026-12-02T14:00:30.000Z');
    summary.observe({ ...apiRetry, attempt: 2, retry_delay_ms: 31_000 });
    summary.observe({ type: 'system', subtype: 'api_retry', error_status: 500, retry_delay_ms: 600 });
    summary.observe({ type: 'result', subtype: 'success', is_error: true, api_error_status: 429, result: 'API Error: Request rejected (429)' });
    expect(summary.rateLimitRetryDue?.toISOString()).toBe('2026-12-02T14:01:01.000Z');
    expect(summary.result).toMatchObject({ isError: true, apiErrorStatus: 429 });
  });
});
