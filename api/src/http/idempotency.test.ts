import { expect, test } from '@jest/globals';
import { canonicalJson, parseIdempotencyKey, requestFingerprint } from './idempotency.ts';

test.each([
  ['"8e03978e-40d5-43e8-bc93-6894a57f9324"', '8e03978e-40d5-43e8-bc93-6894a57f9324'],
  ['"a key with spaces"', 'a key with spaces'],
  ['8e03978e-40d5-43e8-bc93-6894a57f9324', '8e03978e-40d5-43e8-bc93-6894a57f9324'],
  [' token ', 'token'],
  ['""', undefined],
  ['"quote " inside"', undefined],
  ['"back\\\\slash"', undefined],
  ['"tab\tinside"', undefined],
  ['bare with spaces', undefined],
  ['é', undefined],
  [`"${'k'.repeat(256)}"`, undefined],
  [`"${'k'.repeat(255)}"`, 'k'.repeat(255)],
])('Idempotency-Key %p → %p', (header, key) => {
  expect(parseIdempotencyKey(header)).toBe(key);
});

test('canonical JSON sorts keys at every depth and keeps arrays in order', () => {
  expect(canonicalJson({ b: 1, a: { d: [3, { f: 1, e: 2 }], c: null }, u: undefined })).toBe('{"a":{"c":null,"d":[3,{"e":2,"f":1}]},"b":1}');
});

test('the fingerprint: the same for the same call, another for another method, path or body', () => {
  const body = { spec: { prompt: 'p', maxTurns: 1 }, name: 'x' };
  const same = requestFingerprint('POST', '/api/v1/namespaces/a/tasks', { name: 'x', spec: { maxTurns: 1, prompt: 'p' } });
  expect(requestFingerprint('POST', '/api/v1/namespaces/a/tasks', body)).toBe(same);
  expect(requestFingerprint('POST', '/api/v1/namespaces/b/tasks', body)).not.toBe(same);
  expect(requestFingerprint('POST', '/api/v1/namespaces/a/tasks', { ...body, name: 'y' })).not.toBe(same);
  expect(requestFingerprint('PUT', '/api/v1/namespaces/a/tasks', body)).not.toBe(same);
  expect(requestFingerprint('POST', '/x', undefined)).toBe(requestFingerprint('POST', '/x', null));
});
