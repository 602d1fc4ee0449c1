import crypto from 'node:crypto';
import { expect, test } from '@jest/globals';
import { messageIdPattern } from '../../../packages/contracts/src/session-stream.ts';
import { messageIdFor } from './accept.ts';

test('a message id is msg_ + 32 hex: random without a key, sha256(uid:key) with one, so a retry names the same message', () => {
  const uid = crypto.randomUUID();
  const random = [messageIdFor(uid, undefined), messageIdFor(uid, undefined)];
  for (const id of random) expect(id).toMatch(messageIdPattern);
  expect(random[0]).not.toBe(random[1]);
  expect(messageIdFor(uid, 'k-1')).toBe(`msg_${crypto.createHash('sha256').update(`${uid}:k-1`).digest('hex').slice(0, 32)}`);
  expect(messageIdFor(uid, 'k-1')).toBe(messageIdFor(uid, 'k-1'));
  expect(messageIdFor(uid, 'k-2')).not.toBe(messageIdFor(uid, 'k-1'));
  // The same key on another session is another message.
  expect(messageIdFor(crypto.randomUUID(), 'k-1')).not.toBe(messageIdFor(uid, 'k-1'));
});
