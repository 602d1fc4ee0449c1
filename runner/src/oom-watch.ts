// The kernel's OOM killer, as the runner sees it from inside its container.
//
// A memory limit is the container's cgroup limit. When the container goes past it,
// the kernel kills the biggest process in the cgroup: a command the Bash tool ran,
// not the runner or the CLI, which carry on (the tool result just says "Killed").
// The kubelet reports the container OOMKilled only when it exits, and a task whose
// agent worked around the kill would still end Succeeded. So the runner watches the
// cgroup's own count of OOM kills and stops the attempt at the first one: the task
// then ends Failed with reason OOMKilled, which says what to change (the limit).
//
// The count is `oom_kill` in memory.events (cgroup v2) or memory.oom_control (v1),
// both in the container's own cgroup, which the runtime mounts at /sys/fs/cgroup.
import fs from 'node:fs/promises';
import path from 'node:path';

/** Where the count and the limit are, for each cgroup version (v2 first: a v1 container has no memory.events at its root). */
const counterFiles = ['memory.events', 'memory/memory.oom_control'] as const;
const limitFiles = ['memory.max', 'memory/memory.limit_in_bytes'] as const;
/** cgroup v1 says "no limit" with a number near 2^63 rounded to the page size; anything this large is no limit. */
const unlimitedBytes = 2 ** 62;

/** The `oom_kill N` line of memory.events or memory.oom_control; undefined when there is none (kernels before 4.13). */
export function oomKillCount(text: string): number | undefined {
  const match = /^oom_kill (\d+)$/m.exec(text);
  return match ? Number(match[1]) : undefined;
}

/** memory.max ("max" or bytes) or memory.limit_in_bytes; undefined for no limit. */
export function memoryLimitBytes(text: string): number | undefined {
  const value = text.trim();
  if (!/^\d+$/.test(value)) return undefined;
  const bytes = Number(value);
  return bytes >= unlimitedBytes ? undefined : bytes;
}

/** 536870912 → "512Mi", as the limit is written in a pod spec. */
export function formatBytes(bytes: number): string {
  for (const [unit, size] of [['Gi', 2 ** 30], ['Mi', 2 ** 20], ['Ki', 2 ** 10]] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${bytes} bytes`;
}

/** The first of the files in cgroupDir that can be read, parsed; undefined when none can. */
async function readFirst<T>(cgroupDir: string, files: readonly string[], parse: (text: string) => T | undefined): Promise<T | undefined> {
  for (const file of files) {
    let text: string;
    try {
      text = await fs.readFile(path.join(cgroupDir, file), 'utf8');
    } catch {
      continue;
    }
    return parse(text);
  }
  return undefined;
}

export const readOomKills = (cgroupDir: string) => readFirst(cgroupDir, counterFiles, oomKillCount);
export const readMemoryLimit = (cgroupDir: string) => readFirst(cgroupDir, limitFiles, memoryLimitBytes);

export interface OomKill {
  /** OOM kills in the container since the watch started. */
  kills: number;
  /** The container's memory limit, if it has one. */
  limitBytes: number | undefined;
}

export interface OomWatchOptions {
  cgroupDir: string;
  intervalMs: number;
  /** Called once, at the first kill seen. */
  onKill: (kill: OomKill) => void;
}

/**
 * Polls the count (cgroup v1 files cannot be watched with inotify). Without a
 * readable count (not in a container, an old kernel) it does nothing.
 */
export class OomWatch {
  private timer: NodeJS.Timeout | undefined;
  private reported = false;
  private polling: Promise<void> = Promise.resolve();

  private readonly options: OomWatchOptions;
  /** The count when the watch started: kills before it are not this run's. */
  private readonly baseline: number | undefined;

  private constructor(options: OomWatchOptions, baseline: number | undefined) {
    this.options = options;
    this.baseline = baseline;
  }

  static async start(options: OomWatchOptions): Promise<OomWatch> {
    const watch = new OomWatch(options, await readOomKills(options.cgroupDir));
    if (watch.baseline !== undefined) {
      watch.timer = setInterval(() => { watch.polling = watch.poll(); }, options.intervalMs);
      watch.timer.unref();
    }
    return watch;
  }

  /** Stops polling and reads the count once more: a kill just before the CLI ended counts too. Idempotent. */
  async stop(): Promise<OomKill | undefined> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.polling;
    return this.killsSinceStart();
  }

  private async poll(): Promise<void> {
    const kill = await this.killsSinceStart();
    if (kill && !this.reported && this.timer !== undefined) {
      this.reported = true;
      this.options.onKill(kill);
    }
  }

  private async killsSinceStart(): Promise<OomKill | undefined> {
    if (this.baseline === undefined) return undefined;
    const now = await readOomKills(this.options.cgroupDir);
    if (now === undefined || now <= this.baseline) return undefined;
    return { kills: now - this.baseline, limitBytes: await readMemoryLimit(this.options.cgroupDir) };
  }
}
