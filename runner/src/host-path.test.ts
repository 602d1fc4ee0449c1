import { describe, expect, it } from '@jest/globals';
import { hostPath } from './host-path.ts';

describe('hostPath', () => {
  it.each([
    ['/workspace', undefined, '/workspace'],
    ['/workspace', '', '/workspace'],
    ['/workspace', '/pods/p/rootfs', '/pods/p/rootfs/workspace'],
    ['/dev/termination-log', '/pods/p/rootfs/', '/pods/p/rootfs/dev/termination-log'],
    ['relative/file', '/pods/p/rootfs', 'relative/file'],
  ])('%s under %p is %s', (p, rootfs, expected) => {
    expect(hostPath(p, rootfs)).toBe(expected);
  });
});
