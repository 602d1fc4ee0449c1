// Fault 6: kubelet and containerd restarted on the node (as `systemctl restart`
// does: the kubelet stopped, then containerd; containerd started, then the kubelet)
// while tasks stream. The local node has neither, so this fault brings up a system
// of its own, the chart on a real node as `up` makes it, and stops it after. Want:
// each task ends by the Job's rules (Succeeded, or Failed with a reason), none
// stays Running; one Job per task; Postgres agrees with the cluster.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startChartStack } from '../../bed/chart-stack.ts';
import { kubeConfigOf, log, sleep } from '../../bench/support.ts';
import type { Fault, FaultResult, Scale } from '../fault.ts';
import type { RealNodeSystem } from '../real-node-system.ts';
import { TaskLoad } from '../task-load.ts';

/** Tasks that stream across a restart of kubelet and containerd; how each ended. */
async function tasksAcrossRestart(load: TaskLoad, pool: pg.Pool, scale: Scale, restartRuntime: () => Promise<void>): Promise<FaultResult> {
  const taskCount = scale === 'full' ? 10 : 2;
  // About 60 s of streaming each (300 tokens, 200 ms apart): the restart falls in the middle.
  await load.start(taskCount, 'chaos [[scenario:slow {"tokens":300,"delayMs":200}]]');
  const before = await load.waitFor((tasks) => tasks.length === taskCount && tasks.every((task) => task.status?.phase === 'Running'), 300_000);
  const runningAtRestart = before.filter((task) => task.status?.phase === 'Running').length;
  log(`fault 6: restarting kubelet and containerd with ${runningAtRestart} of ${taskCount} tasks Running`);
  const restartStarted = performance.now();
  await restartRuntime();
  // restartRuntime returns at the new kubelet's first Ready heartbeat: the node takes pods again.
  const recoverySeconds = (performance.now() - restartStarted) / 1000;
  log(`fault 6: the node Ready again after ${recoverySeconds.toFixed(1)} s`);
  await load.waitEnded(scale === 'full' ? 1_200_000 : 600_000);
  // The history is copied after the phase: give the copier a moment to catch up before comparing.
  await sleep(5_000);
  const { tasks, unended, doubled, withoutJob, disagreeing, succeeded, notSucceeded } = await load.outcome(pool);
  const failedWithoutReason = tasks.filter((task) => task.status?.phase === 'Failed' && !task.status.reason).length;
  return {
    load: `${taskCount} tasks streaming, ${runningAtRestart} Running at the restart`,
    lost: unended + Math.max(0, taskCount - tasks.length), duplicated: doubled, disagreeing, recoverySeconds,
    detail: `${succeeded}/${taskCount} Succeeded, ${tasks.length - succeeded - unended} Failed (${failedWithoutReason} without a reason); `
      + `tasks without a Job ${withoutJob}; the node Ready ${recoverySeconds.toFixed(1)} s after the restart began`
      + (notSucceeded.length ? `; not Succeeded: ${notSucceeded.join('; ')}` : ''),
    passed: runningAtRestart === taskCount && failedWithoutReason === 0 && withoutJob === 0,
  };
}

export const runtimeRestartFault: Fault = {
  number: 6,
  name: 'kubelet and containerd restarted while tasks run',
  async run(_system, scale: Scale, cleanups): Promise<FaultResult> {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'claude-operator-chaos-node-'));
    log('fault 6: bringing up the chart on a real node, a system of its own (minutes when an image must be built)...');
    const stack = await startChartStack(dir).catch(async (error: unknown) => {
      await fs.rm(dir, { recursive: true, force: true });
      throw error;
    });
    const stop = async () => {
      await stack.stop();
      await fs.rm(dir, { recursive: true, force: true });
    };
    cleanups.add('the real-node system', stop);
    const { KUBECONFIG = '', DATABASE_URL = '' } = stack.settings;
    const load = await TaskLoad.create(kubeConfigOf({ KUBECONFIG }), 'chaos-runtime');
    const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });
    try {
      return await tasksAcrossRestart(load, pool, scale, () => stack.restartRuntime());
    } finally {
      // While the operator runs: the tasks' finalizers need it.
      await load.delete();
      await pool.end();
      await stop();
    }
  },

  // The suite's one real-node system: its node's kubelet and containerd are restarted under it.
  async runOnRealNode(system: RealNodeSystem, scale: Scale): Promise<FaultResult> {
    const load = await TaskLoad.create(kubeConfigOf(system.settings), 'chaos-runtime');
    const pool = new pg.Pool({ connectionString: system.settings.DATABASE_URL, max: 2 });
    try {
      return await tasksAcrossRestart(load, pool, scale, () => system.stack.restartRuntime());
    } finally {
      await load.delete();
      await pool.end();
    }
  },
};
