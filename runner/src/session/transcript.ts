// The CLI's transcript of a session: the .jsonl the CLI writes under
// $HOME/.claude/projects/<its cwd's dir>/<session id>.jsonl and reads back on
// --resume. It is the session's context, so it must survive the pod: it lives on
// the session's volume, and a copy as of the last completed turn is kept at the
// transcript key (session-stream.ts), which the operator stores in Postgres.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Redis } from 'ioredis';

/**
 * The CLI's project directory name for a working directory: the absolute path with
 * every character but ASCII letters and digits replaced by '-' (CLI 2.1.328 wrote
 * /tmp/rs-exp/ws.x_y's transcript to -tmp-rs-exp-ws-x-y).
 */
export function projectDirName(cwd: string): string {
  return cwd.replace(/[^a-zA-Z0-9]/g, '-');
}

export interface TranscriptPaths {
  /** $HOME/.claude/projects */
  projectsDir: string;
  /** Where the CLI reads and writes the session's transcript for this working directory. */
  file: string;
  sessionId: string;
}

/** `cwd` as the CLI sees it: the real path (the kernel's getcwd resolves symlinks). */
export async function transcriptPaths(claudeHome: string, cwd: string, sessionId: string): Promise<TranscriptPaths> {
  const real = await fs.realpath(cwd);
  const projectsDir = path.join(claudeHome, '.claude', 'projects');
  return { projectsDir, file: path.join(projectsDir, projectDirName(real), `${sessionId}.jsonl`), sessionId };
}

/** Where the transcript came from when the runner started. */
export type TranscriptSource = 'local' | 'other-project' | 'redis' | 'none';

/**
 * Makes the transcript file the CLI will --resume: kept as it is when this working
 * directory's project dir has it; copied from another project dir when the path of
 * the workspace changed (on the test bed's local node each pod has a rootfs of its
 * own); else written from the transcript key; else there is none (the session's
 * first turn, --session-id).
 */
export async function restoreTranscriptAtStart(paths: TranscriptPaths, redis: Redis, key: string): Promise<TranscriptSource> {
  if (await exists(paths.file)) return 'local';
  const elsewhere = await findInOtherProjects(paths);
  if (elsewhere !== undefined) {
    await writeTranscript(paths.file, await fs.readFile(elsewhere));
    return 'other-project';
  }
  const saved = await redis.getBuffer(key);
  if (saved !== null) {
    await writeTranscript(paths.file, saved);
    return 'redis';
  }
  return 'none';
}

/**
 * Before a message delivered again (its first delivery's pod was lost mid-turn): the
 * transcript as of the last completed turn, so the half turn leaves nothing in the
 * context. Without a saved transcript no turn completed yet: the file goes, and the
 * turn starts the session afresh.
 */
export async function restoreTranscriptFromKey(paths: TranscriptPaths, redis: Redis, key: string): Promise<'redis' | 'none'> {
  const saved = await redis.getBuffer(key);
  if (saved === null) {
    await fs.rm(paths.file, { force: true });
    return 'none';
  }
  await writeTranscript(paths.file, saved);
  return 'redis';
}

/** After a turn: the transcript file at the key; false when the CLI wrote none (it failed before it started the session). */
export async function saveTranscript(paths: TranscriptPaths, redis: Redis, key: string): Promise<boolean> {
  let content: Buffer;
  try {
    content = await fs.readFile(paths.file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
  await redis.set(key, content);
  return true;
}

export function hasTranscript(paths: TranscriptPaths): Promise<boolean> {
  return exists(paths.file);
}

async function findInOtherProjects(paths: TranscriptPaths): Promise<string | undefined> {
  let dirs: string[];
  try {
    dirs = await fs.readdir(paths.projectsDir);
  } catch {
    return undefined;
  }
  const name = `${paths.sessionId}.jsonl`;
  const found: Array<{ file: string; mtimeMs: number }> = [];
  for (const dir of dirs) {
    const file = path.join(paths.projectsDir, dir, name);
    const stat = await fs.stat(file).catch(() => undefined);
    if (stat?.isFile()) found.push({ file, mtimeMs: stat.mtimeMs });
  }
  // More than one: the pods of several workspace paths each went on; the newest holds the latest turns.
  return found.sort((a, b) => b.mtimeMs - a.mtimeMs)[0]?.file;
}

async function writeTranscript(file: string, content: Buffer): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  // Whole or not at all: a pod lost while writing must not leave half a transcript to resume.
  const temp = `${file}.restore-${process.pid}`;
  await fs.writeFile(temp, content, { mode: 0o600 });
  await fs.rename(temp, file);
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch {
    return false;
  }
}
