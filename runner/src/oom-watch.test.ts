import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { formatBytes, memoryLimitBytes, oomKillCount, OomWatch, readMemoryLimit, readOomKills, type OomKill } from './oom-watch.ts';

describe('oomKillCount', () => {
  it.each([
    // As the kernel writes them (6.x).
    ['cgroup v2 memory.events', 'low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n', 1],
    ['cgroup v1 memory.oom_control', 'oom_kill_disable 0\nunder_oom 0\noom_kill 3\n', 3],
    ['a kernel without the counter', 'oom_kill_disable 0\nunder_oom 0\n', undefined],
    ['oom_group_kill alone', 'oom_group_kill 4\n', undefined],
  ])('reads %s', (_name, text, count) => {
    expect(oomKillCount(text)).toBe(count);
  });
});

describe('memoryLimitBytes and formatBytes', () => {
  it.each([
    ['v2 bytes', '536870912\n', 536870912, '512Mi'],
    ['v2 no limit', 'max\n', undefined, undefined],
    ['v1 no limit', '9223372036854771712\n', undefined, undefined],
    ['an odd size', '1000\n', 1000, '1000 bytes'],
    ['gibibytes', `${2 * 2 ** 30}\n`, 2 * 2 ** 30, '2Gi'],
  ])('%s', (_name, text, bytes, formatted) => {
    expect(memoryLimitBytes(text)).toBe(bytes);
    if (bytes !== undefined) expect(formatBytes(bytes)).toBe(formatted);
  });
});

describe('reading a cgroup directory', () => {
  let dir: string;
  beforeEach(async () => { dir = await fs.mkdtemp(path.join(os.tmpdir(), 'oom-watch-')); });
  afterEach(async () => { await fs.rm(dir, { recursive: true, force: true }); });

  it('reads v2 files at the root, else v1 files under memory/, else nothing', async () => {
    expect([await readOomKills(dir), await readMemoryLimit(dir)]).toEqual([undefined, undefined]);
    await fs.mkdir(path.join(dir, 'memory'));
    await fs.writeFile(path.join(dir, 'memory/memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n');
    await fs.writeFile(path.join(dir, 'memory/memory.limit_in_bytes'), '33554432\n');
    expect([await readOomKills(dir), await readMemoryLimit(dir)]).toEqual([2, 32 * 2 ** 20]);
    await fs.writeFile(path.join(dir, 'memory.events'), 'oom 0\noom_kill 0\n');
    await fs.writeFile(path.join(dir, 'memory.max'), 'max\n');
    expect([await readOomKills(dir), await readMemoryLimit(dir)]).toEqual([0, undefined]);
  });

  it('reports kills after its start once, and stop() counts one that came after the last poll', async () => {
    const events = path.join(dir, 'memory.events');
    await fs.writeFile(events, 'oom 1\noom_kill 1\n'); // a kill before the attempt is not this attempt's
    await fs.writeFile(path.join(dir, 'memory.max'), '536870912\n');
    const seen: OomKill[] = [];
    const watch = await OomWatch.start({ cgroupDir: dir, intervalMs: 5, onKill: (kill) => seen.push(kill) });
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(seen).toEqual([]);
    await fs.writeFile(events, 'oom 2\noom_kill 2\n');
    while (seen.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    await fs.writeFile(events, 'oom 3\noom_kill 3\n');
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(seen).toEqual([{ kills: 1, limitBytes: 536870912 }]);
    expect(await watch.stop()).toEqual({ kills: 2, limitBytes: 536870912 });
    expect(await watch.stop()).toEqual({ kills: 2, limitBytes: 536870912 });
  });

  it('does nothing without a count, and stop() says no kill', async () => {
    const watch = await OomWatch.start({ cgroupDir: dir, intervalMs: 5, onKill: () => { throw new Error('no kill to report'); } });
    await fs.writeFile(path.join(dir, 'memory.events'), 'oom_kill 5\n'); // appeared later: there was no baseline
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(await watch.stop()).toBeUndefined();
  });
});
