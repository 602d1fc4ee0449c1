import { describe, expect, it } from '@jest/globals';
import { projectDirName } from './transcript.ts';

describe('projectDirName', () => {
  // As CLI 2.1.328 named its project directories (claude-cli-offline.md; the second was seen with the binary).
  it.each([
    ['/workspace', '-workspace'],
    ['/tmp/rs-exp/ws.x_y', '-tmp-rs-exp-ws-x-y'],
    ['/var/lib/claude-session/workspace', '-var-lib-claude-session-workspace'],
    ['/tmp/runner-rootfs-AbC123/var/lib/claude-session/workspace', '-tmp-runner-rootfs-AbC123-var-lib-claude-session-workspace'],
  ])('%s -> %s', (cwd, dir) => {
    expect(projectDirName(cwd)).toBe(dir);
  });
});
