import { describe, expect, it } from '@jest/globals';
import { isPartialEvent, parseStreamEntry, seqOfEntry, taskEventStreamKey, taskEventWakeChannel, taskPartialChannel } from './event-stream.ts';

describe('event stream naming', () => {
  it('keys a task by namespace and name', () => {
    expect(taskEventStreamKey('team-a', 'fix-bug')).toBe('claude-operator:task:team-a/fix-bug:events');
    expect(taskEventWakeChannel('team-a', 'fix-bug')).toBe('claude-operator:task:team-a/fix-bug:events:wake');
    expect(taskPartialChannel('team-a', 'fix-bug')).toBe('claude-operator:task:team-a/fix-bug:events:partial');
  });
});

describe('isPartialEvent', () => {
  it.each([
    [{ type: 'stream_event', event: { type: 'content_block_delta' } }, true],
    [{ type: 'system', subtype: 'status', status: 'requesting' }, true],
    [{ type: 'system', subtype: 'init' }, false],
    [{ type: 'system', subtype: 'model_fallback' }, false],
    [{ type: 'assistant', message: {} }, false],
    [{ type: 'result', subtype: 'success' }, false],
  ])('%j: %s', (event, partial) => {
    expect(isPartialEvent(event)).toBe(partial);
  });
});

describe('parseStreamEntry', () => {
  it('reads the fields the runner writes', () => {
    const fields = ['seq', '3', 'type', 'result', 'data', '{"type":"result","result":"ok"}', 'time', '2026-01-01T00:00:00.000Z'];
    expect(parseStreamEntry('1-0', fields)).toEqual({
      id: '1-0', seq: 3, type: 'result', time: '2026-01-01T00:00:00.000Z', data: { type: 'result', result: 'ok' },
    });
  });

  it.each([[['type', 'x']], [['seq', '0']], [['seq', 'abc']], [['seq', '1.5']]])('refuses an entry without a valid seq: %j', (fields) => {
    expect(seqOfEntry(fields)).toBeUndefined();
    expect(() => parseStreamEntry('1-0', fields)).toThrow(/no valid seq/);
  });
});
