// The chaos suite (issue 12): each fault is injected into one running stack, in
// the issue's order, and one table is printed: fault, load, lost, duplicated,
// disagreeing, recovery time. Exits 0 only when every fault asked for ran and
// every cell is clean.
//
//   node test/chaos/run.ts [--real-node] [--only 8,9] [--scale short|full] [--settings FILE]
//
// --real-node: into a fresh `up` system (the chart on a real node: kubelet, containerd,
// every part a pod), brought up here and stopped at the end; each fault breaks the
// chart's own pods. Otherwise into the bed's local-node stack, where the operator and
// API are processes and each fault starts replicas of its own; --settings reuses a
// running `up --local-node` (its settings file). Faults not written yet for the
// mode are listed as such and make the run fail: a table with a gap is not a result.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startChartStack } from '../bed/chart-stack.ts';
import { bringUpStack, errorText, log, machineLines, printTable, runBench, type Cleanups } from '../bench/support.ts';
import { isClean, type Fault, type FaultResult, type Scale } from './fault.ts';
import { apiSigkillFault } from './faults/api-sigkill.ts';
import { apiserverRestartFault } from './faults/apiserver-restart.ts';
import { badInputFault } from './faults/bad-input.ts';
import { jwtAttacksFault } from './faults/jwt-attacks.ts';
import { operatorSigkillFault } from './faults/operator-sigkill.ts';
import { postgresDownFault } from './faults/postgres-down.ts';
import { redisRestartFault } from './faults/redis-restart.ts';
import { runnerRedisCutFault } from './faults/runner-redis-cut.ts';
import { runtimeRestartFault } from './faults/runtime-restart.ts';
import { RealNodeSystem } from './real-node-system.ts';
import { readStackEnvironments } from './replicas.ts';

const { values: args } = parseArgs({
  options: { only: { type: 'string' }, scale: { type: 'string', default: 'full' }, settings: { type: 'string' }, 'real-node': { type: 'boolean', default: false } },
});
const realNode = args['real-node'] === true;
if (realNode && args.settings) throw new Error('--real-node brings up a system of its own: it takes no --settings');
const scale = args.scale as Scale;
if (scale !== 'short' && scale !== 'full') throw new Error('--scale is short or full');

/** Issue 12's nine faults; those without an implementation yet say so. */
const planned: Array<{ number: number; name: string; fault?: Fault }> = [
  { number: 1, name: operatorSigkillFault.name, fault: operatorSigkillFault },
  { number: 2, name: redisRestartFault.name, fault: redisRestartFault },
  { number: 3, name: postgresDownFault.name, fault: postgresDownFault },
  { number: 4, name: apiSigkillFault.name, fault: apiSigkillFault },
  { number: 5, name: apiserverRestartFault.name, fault: apiserverRestartFault },
  { number: 6, name: runtimeRestartFault.name, fault: runtimeRestartFault },
  { number: 7, name: runnerRedisCutFault.name, fault: runnerRedisCutFault },
  { number: 8, name: badInputFault.name, fault: badInputFault },
  { number: 9, name: jwtAttacksFault.name, fault: jwtAttacksFault },
];
const wanted = args.only ? new Set(args.only.split(',').map(Number)) : undefined;
const selected = planned.filter((entry) => !wanted || wanted.has(entry.number));
if (wanted && selected.length !== wanted.size) throw new Error(`--only: faults are numbered 1 to ${planned.length}`);

type RunFault = (fault: Fault) => Promise<FaultResult>;

async function localRunner(cleanups: Cleanups): Promise<RunFault> {
  const stack = await bringUpStack(args.settings, cleanups);
  const system = { ...stack, environments: readStackEnvironments(stack.settings) };
  return (fault) => fault.run(system, scale, cleanups);
}

/** A fresh `up` (the chart on a real node) in a temp dir, gone at the end. */
async function realNodeRunner(cleanups: Cleanups): Promise<RunFault> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'claude-operator-chaos-'));
  cleanups.add('the real-node system\'s dir', () => fs.rm(dir, { recursive: true, force: true }));
  log('bringing up the chart on a real node, as `up` does (minutes when an image must be built)...');
  const stack = await startChartStack(dir);
  cleanups.add('the real-node system', () => stack.stop());
  const system = new RealNodeSystem(stack);
  return (fault) => fault.runOnRealNode!(system, scale, cleanups);
}

const cell = (value: number | null) => (value === null ? 'n/a' : String(value));

await runBench('chaos', async (cleanups) => {
  const runFault = realNode ? await realNodeRunner(cleanups) : await localRunner(cleanups);
  const rows: Array<{ number: number; name: string; result?: FaultResult; error?: string }> = [];
  for (const entry of selected) {
    if (!entry.fault || (realNode && !entry.fault.runOnRealNode)) {
      rows.push({ ...entry, error: entry.fault ? 'not on the real node yet' : 'not written yet' });
      continue;
    }
    log(`fault ${entry.number}: ${entry.name} (${scale}${realNode ? ', real node' : ''})...`);
    const started = Date.now();
    try {
      const result = await runFault(entry.fault);
      rows.push({ ...entry, result });
      // As it ends, too: a long run stopped halfway still has the figures of what it did.
      log(`fault ${entry.number}: ${isClean(result) ? 'clean' : 'FAILED'}; ${result.load}; lost ${cell(result.lost)}, duplicated ${cell(result.duplicated)}, `
        + `disagreeing ${cell(result.disagreeing)}, recovery ${result.recoverySeconds === null ? 'n/a' : `${result.recoverySeconds.toFixed(1)} s`}; ${result.detail}`);
    } catch (error) {
      rows.push({ ...entry, error: `failed to run: ${errorText(error)}` });
    }
    log(`fault ${entry.number}: done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
  for (const line of machineLines()) console.log(line);
  printTable(`chaos suite (${scale}, ${realNode ? 'the chart on a real node, as `up` installs it' : 'the bed\'s local node'})`, ['#', 'fault', 'load', 'lost', 'duplicated', 'disagreeing', 'recovery', 'result'], rows.map((row) => row.result
    ? [row.number, row.name, row.result.load, cell(row.result.lost), cell(row.result.duplicated), cell(row.result.disagreeing),
      row.result.recoverySeconds === null ? 'n/a' : `${row.result.recoverySeconds.toFixed(1)} s`, isClean(row.result) ? 'clean' : 'FAILED']
    : [row.number, row.name, '', '', '', '', '', row.error ?? '']));
  for (const row of rows) {
    if (row.result) console.log(`${row.number}. ${row.name}: ${row.result.detail}`);
  }
  const unclean = rows.filter((row) => !row.result || !isClean(row.result));
  if (unclean.length) throw new Error(`not clean: ${unclean.map((row) => `${row.number} (${row.error ?? 'see the table'})`).join(', ')}`);
});
