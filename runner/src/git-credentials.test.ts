import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ConfigError } from './errors.ts';
import { gitTransportOf, prepareGitCredentials, shellQuote, sshCommand } from './git-credentials.ts';

const run = promisify(execFile);
let root: string;

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'git-credentials-test-'));
});

afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

async function secretDir(files: Record<string, string>): Promise<string> {
  const dir = await fs.mkdtemp(path.join(root, 'secret-'));
  for (const [name, content] of Object.entries(files)) await fs.writeFile(path.join(dir, name), content, { mode: 0o440 });
  return dir;
}

describe('gitTransportOf', () => {
  it.each([
    ['https://github.com/o/r.git', 'http'],
    ['HTTP://127.0.0.1:8080/r.git', 'http'],
    ['ssh://git@github.com/o/r.git', 'ssh'],
    ['git+ssh://github.com/o/r.git', 'ssh'],
    ['git@github.com:o/r.git', 'ssh'],
    ['github.com:o/r.git', 'ssh'],
    ['file:///srv/r.git', 'other'],
    ['git://example.com/r.git', 'other'],
    ['/srv/r.git', 'other'],
    ['./r:x', 'other'],
  ])('%s → %s', (url, transport) => {
    expect(gitTransportOf(url)).toBe(transport);
  });
});

describe('prepareGitCredentials', () => {
  it('https: an askpass script in a private directory that reads the files when git asks', async () => {
    const dir = await secretDir({ username: 'alice\n', password: 'initial' });
    const credentials = await prepareGitCredentials(dir, 'https://example.com/r.git', root);
    const script = credentials.env.GIT_ASKPASS!;
    expect(Object.keys(credentials.env).sort()).toEqual(['CLAUDE_RUNNER_GIT_PASSWORD_FILE', 'CLAUDE_RUNNER_GIT_USERNAME_FILE', 'GIT_ASKPASS']);
    expect((await fs.stat(script)).mode & 0o777).toBe(0o700);
    expect((await fs.stat(path.dirname(script))).mode & 0o777).toBe(0o700);
    // The secret is in no variable and not in the script.
    expect(JSON.stringify(credentials.env)).not.toMatch(/alice|initial/);
    expect(await fs.readFile(script, 'utf8')).not.toMatch(/alice|initial/);

    await fs.writeFile(path.join(dir, 'password'), 's3cret'); // rotated after the script was written
    const ask = (prompt: string) => run(script, [prompt], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...credentials.env } });
    expect((await ask("Username for 'https://example.com': ")).stdout).toBe('alice\n');
    expect((await ask("Password for 'https://alice@example.com': ")).stdout).toBe('s3cret');

    await credentials.dispose();
    await expect(fs.access(path.dirname(script))).rejects.toThrow();
  });

  it('ssh: the key copied to a 0600 file (with its final newline) and GIT_SSH_COMMAND pointing at it', async () => {
    const dir = await secretDir({ 'ssh-privatekey': '-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----' });
    const credentials = await prepareGitCredentials(dir, 'git@example.com:o/r.git', root);
    const command = credentials.env.GIT_SSH_COMMAND!;
    expect(Object.keys(credentials.env)).toEqual(['GIT_SSH_COMMAND']);
    expect(command).toMatch(/^ssh -i '[^']+\/id' -o IdentitiesOnly=yes -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile='[^']+' -o BatchMode=yes$/);
    const keyFile = /-i '([^']+)'/.exec(command)![1]!;
    expect((await fs.stat(keyFile)).mode & 0o777).toBe(0o600);
    expect(await fs.readFile(keyFile, 'utf8')).toMatch(/END OPENSSH PRIVATE KEY-----\n$/);
    expect(command).not.toContain('abc');
    await credentials.dispose();
    await expect(fs.access(keyFile)).rejects.toThrow();
  });

  it.each([
    ['https without a password', { username: 'a' }, 'https://example.com/r.git', /lack "password"/],
    ['https with neither', {}, 'https://example.com/r.git', /lack "username" and "password"/],
    ['ssh without a key', { username: 'a', password: 'b' }, 'ssh://example.com/r.git', /lack "ssh-privatekey"/],
  ])('%s is a configuration error', async (_name, files, url, message) => {
    const dir = await secretDir(files);
    const attempt = prepareGitCredentials(dir, url, root);
    await expect(attempt).rejects.toThrow(ConfigError);
    await expect(attempt).rejects.toThrow(message);
  });

  it('a URL without credentials (file://) gets no environment', async () => {
    const credentials = await prepareGitCredentials(await secretDir({}), 'file:///srv/r.git', root);
    expect(credentials.env).toEqual({});
  });
});

it('shellQuote survives quotes and spaces', async () => {
  const odd = "/tmp/a b/it's";
  expect((await run('sh', ['-c', `printf %s ${shellQuote(odd)}`])).stdout).toBe(odd);
  expect(sshCommand(odd, '/k')).toContain(`-i '/tmp/a b/it'\\''s'`);
});
