// Credentials for cloning spec.workspace.git, from the Secret the operator mounts at
// GIT_CREDENTIALS_DIR (workspace.git.credentialsSecretRef): `username` + `password`
// for http(s), `ssh-privatekey` for ssh. They never go into the URL, git's argv, the
// logs or the events:
// - http(s): GIT_ASKPASS is a script in a private temporary directory that prints the
//   file named by its environment when git asks (it reads the file then; the secret
//   is not written anywhere else).
// - ssh: the key is copied to a 0600 file in that directory (ssh refuses the mounted,
//   group-readable one) and GIT_SSH_COMMAND points ssh at it.
// The directory is removed once the clone is done.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from './errors.ts';

export const credentialFiles = { username: 'username', password: 'password', sshPrivateKey: 'ssh-privatekey' } as const;

/** Variables the askpass script reads; they hold file paths, never secrets. */
export const askpassEnv = { usernameFile: 'CLAUDE_RUNNER_GIT_USERNAME_FILE', passwordFile: 'CLAUDE_RUNNER_GIT_PASSWORD_FILE' } as const;

export type GitTransport = 'http' | 'ssh' | 'other';

/** How git reaches `url`: http(s), ssh (ssh:// or scp-like user@host:path), or something without credentials (file://, a path). */
export function gitTransportOf(url: string): GitTransport {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  if (scheme === 'http' || scheme === 'https') return 'http';
  if (scheme === 'ssh' || scheme === 'git+ssh' || scheme === 'ssh+git') return 'ssh';
  if (scheme !== undefined) return 'other';
  // scp-like syntax: [user@]host:path, where the part before the first ":" has no "/".
  return /^[^/:]+:/.test(url) && !url.startsWith('-') ? 'ssh' : 'other';
}

/**
 * The askpass script. Git runs it with the prompt as $1 ("Username for 'https://host': "
 * or "Password for 'https://user@host': ") and takes the first line it prints.
 */
export const askpassScript = `#!/bin/sh
case "$1" in
  Username*|username*) exec cat -- "$${askpassEnv.usernameFile}" ;;
  *) exec cat -- "$${askpassEnv.passwordFile}" ;;
esac
`;

/** Quoted for the shell git runs GIT_SSH_COMMAND with. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

export function sshCommand(keyFile: string, knownHostsFile: string): string {
  return ['ssh', '-i', shellQuote(keyFile), '-o', 'IdentitiesOnly=yes', '-o', 'StrictHostKeyChecking=accept-new',
    '-o', `UserKnownHostsFile=${shellQuote(knownHostsFile)}`, '-o', 'BatchMode=yes'].join(' ');
}

export interface GitCredentials {
  /** Added to git's environment. */
  env: Record<string, string>;
  /** Removes the temporary directory. */
  dispose(): Promise<void>;
}

/**
 * Prepares git's environment for `url` with the credentials in `dir`. A URL git reaches
 * without credentials (file://) gets none. A missing file the transport needs is a
 * ConfigError: the Secret lacks the key, and a retry cannot help.
 */
export async function prepareGitCredentials(dir: string, url: string, tmpRoot: string = os.tmpdir()): Promise<GitCredentials> {
  const transport = gitTransportOf(url);
  if (transport === 'other') return { env: {}, dispose: async () => {} };
  const need = transport === 'http' ? [credentialFiles.username, credentialFiles.password] : [credentialFiles.sshPrivateKey];
  const missing: string[] = [];
  for (const name of need) {
    try {
      await fs.access(path.join(dir, name), fs.constants.R_OK);
    } catch {
      missing.push(name);
    }
  }
  if (missing.length > 0) {
    throw new ConfigError(`the git credentials in ${dir} lack ${missing.map((m) => `"${m}"`).join(' and ')} (needed for ${transport} clones)`);
  }
  const temp = await fs.mkdtemp(path.join(tmpRoot, 'claude-runner-git-')); // mode 0700
  const dispose = () => fs.rm(temp, { recursive: true, force: true });
  try {
    if (transport === 'http') {
      const script = path.join(temp, 'askpass.sh');
      await fs.writeFile(script, askpassScript, { mode: 0o700, flag: 'wx' });
      return {
        env: {
          GIT_ASKPASS: script,
          [askpassEnv.usernameFile]: path.join(dir, credentialFiles.username),
          [askpassEnv.passwordFile]: path.join(dir, credentialFiles.password),
        },
        dispose,
      };
    }
    let key = await fs.readFile(path.join(dir, credentialFiles.sshPrivateKey), 'utf8');
    if (!key.endsWith('\n')) key += '\n'; // ssh rejects an OpenSSH key without its final newline
    const keyFile = path.join(temp, 'id');
    await fs.writeFile(keyFile, key, { mode: 0o600, flag: 'wx' });
    return { env: { GIT_SSH_COMMAND: sshCommand(keyFile, path.join(temp, 'known_hosts')) }, dispose };
  } catch (error) {
    await dispose();
    throw error;
  }
}
