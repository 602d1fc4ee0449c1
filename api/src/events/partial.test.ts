import { expect, test } from '@jest/globals';
import { PartialMessageSchema, partialMessage } from './partial.ts';

const textDelta = { type: 'stream_event', session_id: 's-1', event: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hel' } } };
const toolDelta = { type: 'stream_event', event: { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"a' } } };
const messageStart = { type: 'stream_event', event: { type: 'message_start', message: { id: 'm' } } };

test.each([
  ['a text delta, raw', textDelta, 'raw', { partial: true, type: 'stream_event', data: textDelta }],
  ['a text delta, normalized', textDelta, 'normalized', { partial: true, type: 'message', role: 'assistant', text: 'Hel' }],
  ['a tool input delta, raw', toolDelta, 'raw', { partial: true, type: 'stream_event', data: toolDelta }],
  ['a tool input delta, normalized: nothing', toolDelta, 'normalized', undefined],
  ['message_start, normalized: nothing', messageStart, 'normalized', undefined],
  ['the line inside an envelope', { type: 'stream_event', data: textDelta }, 'normalized', { partial: true, type: 'message', role: 'assistant', text: 'Hel' }],
  ['an envelope around the line, raw', { data: textDelta }, 'raw', { partial: true, type: 'stream_event', data: textDelta }],
] as const)('%s', (_what, chunk, view, expected) => {
  const message = partialMessage(JSON.stringify(chunk), view);
  expect(message === undefined ? undefined : JSON.parse(message)).toEqual(expected);
  // What the OpenAPI document says.
  if (message !== undefined) expect(PartialMessageSchema.safeParse(JSON.parse(message)).success).toBe(true);
});

test.each(['not json', '[1,2]', '"text"', '{"no":"type"}'])('%p gives nothing', (published) => {
  expect(partialMessage(published, 'raw')).toBeUndefined();
});
