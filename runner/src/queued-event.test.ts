import { expect, it } from '@jest/globals';
import { takeBatch, type QueuedEvent } from './queued-event.ts';

const queued = (bytes: number): QueuedEvent =>
  ({ type: 'assistant', data: 'x'.repeat(bytes), time: '', messageId: undefined, seq: undefined, onWritten: undefined });

it.each([
  ['at most size events', [1, 1, 1], 2, 100, 2],
  ['at most bytes of data', [40, 40, 40], 10, 100, 2],
  ['one event even over bytes', [500, 1], 10, 100, 1],
  ['the whole queue when it fits', [1, 2], 10, 100, 2],
  ['nothing from an empty queue', [], 10, 100, 0],
])('takeBatch: %s', (_case, sizes, size, bytes, taken) => {
  const queue = sizes.map(queued);
  expect(takeBatch(queue, size, bytes)).toEqual(queue.slice(0, taken));
});
