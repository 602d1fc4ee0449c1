import { describe, expect, it } from '@jest/globals';
import { isPartialEvent, parseStreamEntry, seqOfEntry, workloadStreamKeys } from './event-stream.ts';
import {
  sessionAnsweredKey, sessionControlChannel, sessionInboxKey, sessionTranscriptKey, sessionWakeChannel,
} from './session-stream.ts';

describe('workloadStreamKeys', () => {
  // The strings a running system's Redis holds: they must never change.
  it('keys a task by namespace and name', () => {
    expect(workloadStreamKeys('task', 'team-a', 'fix-bug')).toEqual({
      events: 'claude-operator:task:team-a/fix-bug:events',
      wake: 'claude-operator:task:team-a/fix-bug:events:wake',
      persisted: 'claude-operator:task:team-a/fix-bug:events:persisted',
      partial: 'claude-operator:task:team-a/fix-bug:events:partial',
    });
  });

  it('keys a session by namespace and name, beside its other keys', () => {
    expect(workloadStreamKeys('session', 'team-a', 'chat')).toEqual({
      events: 'claude-operator:session:team-a/chat:events',
      wake: 'claude-operator:session:team-a/chat:events:wake',
      persisted: 'claude-operator:session:team-a/chat:events:persisted',
      partial: 'claude-operator:session:team-a/chat:events:partial',
    });
    expect([sessionInboxKey, sessionAnsweredKey, sessionTranscriptKey, sessionControlChannel].map((key) => key('team-a', 'chat'))).toEqual([
      'claude-operator:session:team-a/chat:inbox', 'claude-operator:session:team-a/chat:answered',
      'claude-operator:session:team-a/chat:transcript', 'claude-operator:session:team-a/chat:control',
    ]);
    expect(sessionWakeChannel).toBe('claude-operator:session:wake');
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
