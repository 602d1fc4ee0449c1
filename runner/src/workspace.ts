// The agent's working directory: created if missing, or a clone of spec.workspace.git.
// A directory that already holds a .git (a retry attempt on a PersistentVolumeClaim)
// is used as it is, so the earlier attempt's work is not thrown away.
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { z } from 'zod';
import type { GitWorkspaceSchema } from '../../crds/src/claude-task.ts';
import { CancelledError, WorkspaceError } from './errors.ts';
import type { Logger } from './logger.ts';

export type GitWorkspace = z.infer<typeof GitWorkspaceSchema>;

export interface PrepareWorkspaceOptions {
  dir: string;
  git: GitWorkspace | undefined;
  /** For git: PATH, proxies, HOME. */
  env: Record<string, string>;
  signal: AbortSignal;
  logger: Logger;
}

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
  if ((await fs.readdir(dir)).length > 0) {
    throw new WorkspaceError(`cannot clone ${url} into ${dir}: the directory is not empty and holds no .git`);
  }
  logger.info({ url, ref: git.ref }, 'cloning the workspace');
  // `--` keeps a URL that starts with "-" from being read as an option.
  if (git.ref === undefined) {
    await runGit(['clone', '--quiet', '--', git.url, dir], options, `git clone ${url}`);
    return;
  }
  // Checkout after clone takes a branch, a tag or a commit alike (clone --branch takes no commits).
  await runGit(['clone', '--quiet', '--no-checkout', '--', git.url, dir], options, `git clone ${url}`);
  await runGit(['-C', dir, 'checkout', '--quiet', git.ref, '--'], options, `git checkout ${git.ref} (of ${url})`);
}

function runGit(args: string[], options: PrepareWorkspaceOptions, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
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
      else if (code === 0) resolve();
      else reject(new WorkspaceError(`${what} failed (exit code ${code}): ${redactUrls(stderr.trim())}`));
    });
  });
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
