// Cloning spec.workspace.git with credentialsSecretRef over https (here: http on
// 127.0.0.1) with Basic auth, from `git http-backend` behind a tiny server that
// requires it. The password must reach the server and nothing else.
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { WorkspaceError } from './errors.ts';
import { startGitHttpServer, type GitHttpServer } from './testing/git-http-server.ts';
import { makeTwoBranchOrigin } from './testing/git-origin.ts';
import { prepareWorkspace } from './workspace.ts';

const username = 'robot';
const password = `pw-${crypto.randomBytes(9).toString('hex')}`;
let root: string;
let server: GitHttpServer;
let savedTmpdir: string | undefined;

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'workspace-int-'));
  const origin = path.join(root, 'repos/repo.git');
  const work = path.join(root, 'work');
  await makeTwoBranchOrigin(origin, work);
  server = await startGitHttpServer({ projectRoot: path.join(root, 'repos'), username, password });
  // The askpass directory goes under TMPDIR: a private one shows that it is removed.
  savedTmpdir = process.env.TMPDIR;
});

afterAll(async () => {
  if (savedTmpdir === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmpdir;
  await server?.close();
  await fs.rm(root, { recursive: true, force: true });
});

async function clone(credentials: { username: string; password: string }, ref?: string) {
  const base = await fs.mkdtemp(path.join(root, 'case-'));
  const credentialsDir = path.join(base, 'git-credentials');
  await fs.mkdir(credentialsDir);
  // As a Secret volume mounts them: 0440, a final newline or none.
  await fs.writeFile(path.join(credentialsDir, 'username'), credentials.username, { mode: 0o440 });
  await fs.writeFile(path.join(credentialsDir, 'password'), `${credentials.password}\n`, { mode: 0o440 });
  const tmp = path.join(base, 'tmp');
  await fs.mkdir(tmp);
  process.env.TMPDIR = tmp;
  let logs = '';
  const logger = pino({ level: 'trace' }, new Writable({ write(chunk: Buffer, _enc, done) { logs += chunk.toString(); done(); } }));
  const dir = path.join(base, 'workspace');
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: path.join(base, 'home') };
  const url = `${server.url}/repo.git`;
  const error = await prepareWorkspace({ dir, git: { url, ...(ref ? { ref } : {}) }, env, credentialsDir, signal: new AbortController().signal, logger })
    .then(() => undefined, (e: unknown) => e as Error);
  return { dir, logs, error, url, tmpLeft: await fs.readdir(tmp), home: path.join(base, 'home') };
}

describe('prepareWorkspace with https credentials', () => {
  it('clones at the ref with the right username and password, and keeps them nowhere', async () => {
    const before = server.authorizations.length;
    const run = await clone({ username, password }, 'feature');
    expect(run.error).toBeUndefined();
    expect(await fs.readFile(path.join(run.dir, 'README.md'), 'utf8')).toBe('on feature\n');
    // git asked anonymously first, got 401, then sent what askpass gave.
    expect(server.authorizations.slice(before)).toContain('none');
    expect(server.authorizations.slice(before).some((a) => a.startsWith('Basic '))).toBe(true);
    expect(run.tmpLeft).toEqual([]); // the askpass directory is gone
    expect(run.logs).toContain('cloning the workspace');
    expect(run.logs).not.toContain(password);
    // Not in the clone's config, and no credential helper stored it in HOME.
    const gitConfig = await fs.readFile(path.join(run.dir, '.git/config'), 'utf8');
    expect(gitConfig).toContain(`url = ${run.url}`);
    expect(gitConfig).not.toContain(password);
    expect(await fs.readdir(run.home).catch(() => [])).not.toContain('.git-credentials');
  });

  it.each([
    ['a wrong password', { username, password: 'wrong-password' }],
    ['a wrong username', { username: 'nobody', password }],
  ])('fails with a clear message for %s, without the password', async (_name, credentials) => {
    const run = await clone(credentials);
    expect(run.error).toBeInstanceOf(WorkspaceError);
    expect(run.error!.message).toMatch(/^git clone failed: authentication failed for http:\/\/127\.0\.0\.1:\d+\/repo\.git \(exit code 128\)/);
    for (const text of [run.error!.message, run.logs]) {
      expect(text).not.toContain(password);
      expect(text).not.toContain(credentials.password);
    }
    expect(run.tmpLeft).toEqual([]);
  });
});
