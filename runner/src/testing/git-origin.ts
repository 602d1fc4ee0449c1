// Bare repositories for clone tests.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const git = promisify(execFile);

/** A bare repository at `origin` whose `main` has one commit of `files` (path → content), made in the clone `work`. */
export async function makeOrigin(origin: string, work: string, files: Record<string, string>): Promise<void> {
  await git('git', ['init', '--quiet', '--bare', '-b', 'main', origin]);
  await git('git', ['clone', '--quiet', origin, work]);
  for (const [name, content] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(work, name)), { recursive: true });
    await fs.writeFile(path.join(work, name), content);
  }
  await inWork(work, 'add', '.');
  await inWork(work, 'commit', '--quiet', '-m', 'main');
  await inWork(work, 'push', '--quiet', 'origin', 'main');
}

/** Two branches: `main` (README "on main") and `feature` (README "on feature"). */
export async function makeTwoBranchOrigin(origin: string, work: string): Promise<void> {
  await makeOrigin(origin, work, { 'README.md': 'on main\n' });
  await inWork(work, 'checkout', '--quiet', '-b', 'feature');
  await fs.writeFile(path.join(work, 'README.md'), 'on feature\n');
  await inWork(work, 'commit', '--quiet', '-am', 'feature');
  await inWork(work, 'push', '--quiet', 'origin', 'feature');
}

function inWork(work: string, ...args: string[]) {
  return git('git', ['-C', work, '-c', 'user.name=t', '-c', 'user.email=t@t', ...args]);
}
