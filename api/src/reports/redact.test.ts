import { expect, test } from '@jest/globals';
import { redact } from './redact.ts';
import { fakeAnthropicKey } from '../../../test/support/fake-secrets.ts';

test.each([
  [`use ${fakeAnthropicKey('AbCdEfGh1234567890_xyz')} to call`, 'use [redacted] to call'],
  [`export ANTHROPIC_API_KEY=${fakeAnthropicKey('xyz123456789')}`, 'export ANTHROPIC_API_KEY=[redacted]'],
  ['{"password": "hunter22"}', '{"password": "[redacted]"}'],
  ['GITHUB_TOKEN: ghp_abcdefghijklmnopqrstuvwxyz0123', 'GITHUB_TOKEN: [redacted]'],
  ['curl -H "Authorization: Bearer abc.def.ghi12345"', 'curl -H "Authorization: Bearer [redacted]"'],
  ['git clone https://bot:s3cr3tpw@git.example.com/r.git', 'git clone https://bot:[redacted]@git.example.com/r.git'],
  ['id AKIAABCDEFGHIJKLMNOP here', 'id [redacted] here'],
  ['x-api-key: abcd1234efgh', 'x-api-key: [redacted]'],
])('%s', (text, shown) => {
  expect(redact(text)).toBe(shown);
});

test('ordinary text is left as it is', () => {
  const text = 'Write hello.txt, then run `ls -la` and tell me the token count of the answer.';
  expect(redact(text)).toBe(text);
});
