import { describe, expect, test } from '@jest/globals';
import { refusedAddress, refusedWebhookUrl } from './address-policy.ts';

describe('refusedAddress', () => {
  test.each([
    ['127.0.0.1', 'loopback'], ['10.1.2.3', 'private'], ['172.31.255.255', 'private'], ['192.168.0.1', 'private'],
    ['169.254.169.254', 'link-local'], ['100.64.0.1', 'shared'], ['0.0.0.0', 'unspecified'], ['::1', 'loopback'],
    ['fe80::1', 'link-local'], ['fd00::1', 'unique local'], ['::ffff:10.0.0.1', 'private'], ['::ffff:169.254.169.254', 'link-local'],
  ])('%s is refused (%s)', (address, kind) => {
    expect(refusedAddress(address)).toContain(kind);
  });

  test.each(['8.8.8.8', '172.32.0.1', '1.1.1.1', '2606:4700:4700::1111'])('%s is allowed', (address) => {
    expect(refusedAddress(address)).toBeUndefined();
  });
});

describe('refusedWebhookUrl', () => {
  test.each([
    ['ftp://example.com/hook', 'must be http:// or https://'],
    ['not a url', 'is not a URL'],
    ['http://127.0.0.1:8080/hook', 'loopback'],
    ['https://[::1]/hook', 'loopback'],
    ['http://169.254.169.254/latest/meta-data', 'link-local'],
    ['http://my-service/hook', 'cluster-internal'],
    ['http://hooks.default.svc/x', 'cluster-internal'],
    ['http://hooks.default.svc.cluster.local./x', 'cluster-internal'],
    ['http://metadata.google.internal/', 'cluster-internal'],
    ['http://localhost:3000/', 'cluster-internal'],
  ])('%s is refused: %s', (url, why) => {
    expect(refusedWebhookUrl(url, false)).toContain(why);
  });

  test('the refusal says how to allow private addresses', () => {
    expect(refusedWebhookUrl('http://10.0.0.5/', false)).toContain('WEBHOOK_ALLOW_PRIVATE_ADDRESSES=true');
  });

  test.each(['https://hooks.example.com/claude', 'http://203.0.113.7:8443/x?token=1'])('%s is allowed', (url) => {
    expect(refusedWebhookUrl(url, false)).toBeUndefined();
  });

  test('private addresses are allowed when the operator allows them, other schemes never', () => {
    expect(refusedWebhookUrl('http://127.0.0.1:8080/hook', true)).toBeUndefined();
    expect(refusedWebhookUrl('http://hooks.default.svc/x', true)).toBeUndefined();
    expect(refusedWebhookUrl('file:///etc/passwd', true)).toContain('must be http:// or https://');
  });
});
