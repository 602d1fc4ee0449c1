// A bare repository with two branches for clone tests: `main` (README "on main")
// and `feature` (README "on feature").
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const git = promisify(execFile);

export async function makeTwoBranchOrigin(origin: string, work: string): Promise<void> {
  await git('git', ['init', '--quiet', '--bare', '-b', 'main', origin]);
  await git('git', ['clone', '--quiet', origin, work]);
  const inWork = (...args: string[]) => git('git', ['-C', work, '-c', 'user.name=t', '-c', 'user.email=t@t', ...args]);
  await fs.writeFile(path.join(work, 'README.md'), 'on main\n');
  await inWork('add', '.');
  await inWork('commit', '--quiet', '-m', 'main');
  await inWork('push', '--quiet', 'origin', 'main');
  await inWork('checkout', '--quiet', '-b', 'feature');
  await fs.writeFile(path.join(work, 'README.md'), 'on feature\n');
  await inWork('commit', '--quiet', '-am', 'feature');
  await inWork('push', '--quiet', 'origin', 'feature');
}
