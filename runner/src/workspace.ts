// The agent's working directory: created if missing, or a clone of spec.workspace.git.
// A directory that already holds a .git (a retry attempt on a PersistentVolumeClaim)
// is used as it is, so the earlier attempt's work is not thrown away.
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { z } from 'zod';
import type { GitWorkspaceSchema } from '../../crds/src/agent-spec.ts';
import { CancelledError, WorkspaceError } from './errors.ts';
import { credentialFiles, prepareGitCredentials } from './git-credentials.ts';
import type { Logger } from '../../packages/platform/src/logger.ts';

export type GitWorkspace = z.infer<typeof GitWorkspaceSchema>;

export interface PrepareWorkspaceOptions {
  dir: string;
  git: GitWorkspace | undefined;
  /** For git: PATH, proxies, HOME. */
  env: Record<string, string>;
  /**
   * GIT_CREDENTIALS_DIR, resolved with hostPath(): the mounted credentialsSecretRef
   * (`username`/`password` or `ssh-privatekey`). Used for the clone only.
   */
  credentialsDir?: string | undefined;
  signal: AbortSignal;
  logger: Logger;
}

/** What a freshly made filesystem holds at its root (ext4's lost+found): a volume with only these is empty. */
const volumeEntries = new Set(['lost+found']);
const cloneDirName = '.claude-operator-clone';

export async function prepareWorkspace(options: PrepareWorkspaceOptions): Promise<void> {
  const { dir, git, logger } = options;
  try {
    await fs.mkdir(dir, { recursive: true });
  } catch (error) {
    throw new WorkspaceError(`cannot create the workspace ${dir}: ${(error as Error).message}`, { cause: error });
  }
  if (!git) return;
  const url = redactUrl(git.url);
  if (await exists(path.join(dir, '.git'))) {
    logger.info({ url }, 'workspace already holds a git repository; using it as it is');
    return;
  }
  // A clone an earlier attempt did not finish moving in is started over.
  await fs.rm(path.join(dir, cloneDirName), { recursive: true, force: true });
  const present = await fs.readdir(dir);
  if (present.some((entry) => !volumeEntries.has(entry))) {
    throw new WorkspaceError(`cannot clone ${url} into ${dir}: the directory is not empty and holds no .git`);
  }
  // git clones only into an empty directory; a new volume's lost+found is not
  // empty to git. Clone beside it, on the same volume, and move the clone in.
  const cloneDir = present.length === 0 ? dir : path.join(dir, cloneDirName);
  logger.info({ url, ref: git.ref, credentials: options.credentialsDir !== undefined }, 'cloning the workspace');
  const credentials = options.credentialsDir === undefined ? undefined : await prepareGitCredentials(options.credentialsDir, git.url);
  const cloneOptions: GitRun = credentials
    ? { ...options, env: { ...options.env, ...credentials.env }, url, credentialsDir: options.credentialsDir }
    : { ...options, url };
  // No credential helper (not even one from a system gitconfig): nothing stores what askpass gives.
  const helperReset = credentials ? ['-c', 'credential.helper='] : [];
  try {
    // `--` keeps a URL that starts with "-" from being read as an option.
    if (git.ref === undefined) {
      await runGit([...helperReset, 'clone', '--quiet', '--', git.url, cloneDir], cloneOptions, `git clone ${url}`);
    } else {
      // Checkout after clone takes a branch, a tag or a commit alike (clone --branch takes no commits).
      await runGit([...helperReset, 'clone', '--quiet', '--no-checkout', '--', git.url, cloneDir], cloneOptions, `git clone ${url}`);
    }
  } finally {
    await credentials?.dispose();
  }
  if (cloneDir !== dir) {
    for (const entry of await fs.readdir(cloneDir)) await fs.rename(path.join(cloneDir, entry), path.join(dir, entry));
    await fs.rmdir(cloneDir);
  }
  if (git.ref === undefined) return;
  await runGit(['-C', dir, 'checkout', '--quiet', git.ref, '--'], { ...options, url }, `git checkout ${git.ref} (of ${url})`);
}

interface GitRun extends PrepareWorkspaceOptions {
  /** Redacted, for messages. */
  url: string;
}

/** git's words for credentials it did not get or that the server refused. */
const authFailure = /Authentication failed|could not read (Username|Password)|Permission denied \(publickey|HTTP Basic: Access denied|returned error: 401|returned error: 403/i;

async function runGit(args: string[], options: GitRun, what: string): Promise<void> {
  const failure = await new Promise<{ code: number | null; stderr: string } | undefined>((resolve, reject) => {
    const child = spawn('git', args, {
      env: { ...options.env, GIT_TERMINAL_PROMPT: '0' }, // never wait for a password nobody will type
      stdio: ['ignore', 'ignore', 'pipe'],
      signal: options.signal,
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4096)));
    child.on('error', (error) => {
      if (options.signal.aborted) reject(new CancelledError(`cancelled during ${what}`));
      else reject(new WorkspaceError(`${what} could not run: ${error.message}`, { cause: error }));
    });
    child.on('close', (code) => {
      if (options.signal.aborted) reject(new CancelledError(`cancelled during ${what}`));
      else resolve(code === 0 ? undefined : { code, stderr });
    });
  });
  if (!failure) return;
  const stderr = redactUrls(await withoutSecrets(failure.stderr.trim(), options.credentialsDir));
  if (options.credentialsDir !== undefined && authFailure.test(stderr)) {
    const command = what.split(' ').slice(0, 2).join(' ');
    throw new WorkspaceError(`${command} failed: authentication failed for ${options.url} (exit code ${failure.code}): ${stderr}`);
  }
  throw new WorkspaceError(`${what} failed (exit code ${failure.code}): ${stderr}`);
}

/** Git does not print credentials; this makes sure a message never carries the password or key anyway. */
async function withoutSecrets(text: string, credentialsDir: string | undefined): Promise<string> {
  if (credentialsDir === undefined) return text;
  let result = text;
  for (const name of [credentialFiles.password, credentialFiles.sshPrivateKey]) {
    const secret = (await fs.readFile(path.join(credentialsDir, name), 'utf8').catch(() => '')).trim();
    for (const line of secret.split('\n').map((l) => l.trim()).filter((l) => l.length >= 4)) result = result.replaceAll(line, '***');
  }
  return result;
}

/** A URL without user and password, for logs and messages. */
export function redactUrl(url: string): string {
  return redactUrls(url);
}

function redactUrls(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi, '$1***@');
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}
