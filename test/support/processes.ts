// Process-tree checks for tests that assert nothing is left behind.
import fs from 'node:fs';

function parentOf(pid: number): number | undefined {
  try {
    // Field 4 of /proc/PID/stat, after the parenthesised command name.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** Every living descendant of pid (not pid itself). */
export function descendantsOf(pid: number): number[] {
  const all = fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map(Number);
  const children = new Map<number, number[]>();
  for (const candidate of all) {
    const parent = parentOf(candidate);
    if (parent !== undefined) children.set(parent, [...(children.get(parent) ?? []), candidate]);
  }
  const found: number[] = [];
  const queue = [...(children.get(pid) ?? [])];
  while (queue.length > 0) {
    const next = queue.shift()!;
    found.push(next);
    queue.push(...(children.get(next) ?? []));
  }
  return found;
}

/** Running (not zombie) processes among pids, with their command lines. */
export function stillRunning(pids: number[]): string[] {
  return pids.flatMap((pid) => {
    try {
      const state = /^State:\s+(\S)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
      if (state === 'Z') return [];
      return [`${pid} ${fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim()}`];
    } catch {
      return [];
    }
  });
}
