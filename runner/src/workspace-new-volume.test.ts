// A freshly provisioned ext4 volume has lost+found at its root; a git workspace
// on such a PersistentVolumeClaim must still be cloned (git refuses a non-empty target).
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { pino } from 'pino';
import { makeOrigin } from './testing/git-origin.ts';
import { prepareWorkspace } from './workspace.ts';

let root: string;

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'new-volume-'));
  await makeOrigin(path.join(root, 'origin.git'), path.join(root, 'work'), { 'README.md': 'cloned\n' });
});

afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

test.each([
  ['the remote HEAD', undefined],
  ['a ref', 'main'],
])('a git workspace on a new ext4 volume (only lost+found in it) is cloned: %s', async (_what, ref) => {
  const dir = path.join(root, `volume-${ref ?? 'head'}`);
  await fs.mkdir(path.join(dir, 'lost+found'), { recursive: true });
  await prepareWorkspace({
    dir,
    git: { url: path.join(root, 'origin.git'), ...(ref ? { ref } : {}) },
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: path.join(root, 'home') },
    signal: new AbortController().signal,
    logger: pino({ level: 'silent' }),
  });
  expect(await fs.readFile(path.join(dir, 'README.md'), 'utf8')).toBe('cloned\n');
  expect((await fs.readdir(dir)).sort()).toEqual(['.git', 'README.md', 'lost+found']);
});
