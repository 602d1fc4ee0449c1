import { describe, expect, it } from '@jest/globals';
import { RunnerCompletedEventSchema, TaskEventRecordSchema, TaskEventSchema } from './task-events.ts';

const completed = {
  type: 'runner.completed', outcome: 'succeeded', exitCode: 0, message: 'Claude finished the task.', reason: null, result: 'ok',
  usage: { inputTokens: 3, outputTokens: 2, costUSD: '0.001', turns: 1 }, sessionId: 's-1', model: 'claude-opus-5-5',
};

describe('TaskEventSchema', () => {
  it.each([
    ['runner.started before the spec is read', { type: 'runner.started', namespace: 'a', name: 'b', uid: 'u', attempt: null }],
    ['runner.started', { type: 'runner.started', namespace: 'a', name: 'b', uid: 'u', attempt: 2, engine: 'cli', model: null, promptLength: 9 }],
    ['runner.workspace_ready', { type: 'runner.workspace_ready', git: 'https://example.com/r.git', ref: null }],
    ['runner.cli_stderr', { type: 'runner.cli_stderr', line: 'warning' }],
    ['runner.malformed_line', { type: 'runner.malformed_line', error: 'not JSON', line: '{', truncated: false }],
    ['runner.completed', completed],
    ['a CLI event, with its fields kept', { type: 'assistant', message: { id: 'm', content: [] } }],
    ['a CLI event type the contract does not know', { type: 'some_later_cli_event', x: 1 }],
  ])('takes %s', (_name, event) => {
    expect(TaskEventSchema.parse(event)).toEqual(event);
  });

  it.each([
    ['a runner.completed without its exit code', { ...completed, exitCode: undefined }],
    ['a runner.completed with an unknown outcome', { ...completed, outcome: 'maybe' }],
    ['a runner.completed with an unknown reason', { ...completed, outcome: 'failed', reason: 'Tired' }],
    ['a runner.cli_stderr without its line', { type: 'runner.cli_stderr' }],
    ['a runner.* type the runner does not write', { type: 'runner.unknown' }],
    ['an event without a type', { message: {} }],
  ])('refuses %s', (_name, event) => {
    expect(TaskEventSchema.safeParse(event).success).toBe(false);
  });

  it('types the terminal event the runner writes', () => {
    expect(RunnerCompletedEventSchema.parse(completed).outcome).toBe('succeeded');
  });
});

describe('TaskEventRecordSchema', () => {
  it('takes the record the history and the WebSocket carry, and refuses a seq below 1', () => {
    const record = { seq: 1, type: 'assistant', time: '2026-01-01T00:00:00.000Z', data: { type: 'assistant' } };
    expect(TaskEventRecordSchema.parse(record)).toEqual(record);
    expect(TaskEventRecordSchema.safeParse({ ...record, seq: 0 }).success).toBe(false);
  });
});
