// Nothing the bed starts outlives the process that started it, even when that
// process is killed with SIGKILL and gets no chance to clean up.
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { expect, test } from '@jest/globals';
import { descendantsOf, stillRunning } from '../support/processes.ts';
import { repoRoot } from './binaries.ts';
import { waitFor } from './process.ts';

test('SIGKILL of the process that started the control plane takes etcd, kube-apiserver and kube-controller-manager with it', async () => {
  const holder = spawn(path.join(repoRoot, 'node_modules/.bin/node'), [path.join(repoRoot, 'test/bed/fixtures/hold-control-plane.ts')],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  holder.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  await waitFor('the control plane held', async () => output.includes('ready'), { timeoutMs: 90_000 });
  const started = descendantsOf(holder.pid!);
  const names = stillRunning(started).join('\n');
  expect(names).toMatch(/etcd/);
  expect(names).toMatch(/kube-apiserver/);
  expect(names).toMatch(/kube-controller-manager/);

  holder.kill('SIGKILL');
  try {
    await waitFor('every child to die', async () => stillRunning(started).length === 0, { timeoutMs: 15_000 })
      .catch(() => { throw new Error(`left behind:\n${stillRunning(started).join('\n')}`); });
  } finally {
    // The killed process could not remove its temp dir; the test does.
    const dir = /ready (\S+)/.exec(output)?.[1];
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  }
});
