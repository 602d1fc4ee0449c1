// `up`: brings the single-machine system up and keeps it up until Ctrl-C, as a
// cluster runs it: a control plane with kube-scheduler, the real node (kubelet,
// containerd, CoreDNS, a registry, PVCs), the images built from the Dockerfile, and
// the chart installed with `helm install --wait` (test/bed/chart-stack.ts); the model
// is the scripted Messages API (pods reach nothing outside the machine).
// With --local-node: the control plane, the bed's process-based local node, Postgres,
// Redis, the CRD, and the operator and the API as host processes (and the scripted
// Messages API when ANTHROPIC_BASE_URL is not set): what the benchmarks measure.
//   node test/bed/up.ts [--settings FILE] [--local-node]
// (--real-node, the default, is still taken.)
// Writes KEY=value lines (KUBECONFIG, DATABASE_URL, REDIS_URL, KUBECTL, HELM,
// ANTHROPIC_BASE_URL, OPERATOR_METRICS_URL, API_URL, API_TOKEN, and the API's JWT key, issuer
// and audience as API_JWT_SECRET, API_JWT_ISSUER, API_JWT_AUDIENCE) to FILE (default .bed.env in the
// repo), so `set -a; . .bed.env` or `kubectl --kubeconfig ...` can use it.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from './binaries.ts';
import { startChartStack } from './chart-stack.ts';
import { startStack } from './stack.ts';

const { values } = parseArgs({ options: {
  settings: { type: 'string', default: path.join(repoRoot, '.bed.env') },
  'local-node': { type: 'boolean', default: false },
  'real-node': { type: 'boolean', default: false },
} });
if (values['local-node'] && values['real-node']) {
  console.error('[up] --local-node and --real-node exclude each other: give one (the real node is the default)');
  process.exit(2);
}
const envFile = path.resolve(values.settings);

const started = Date.now();
let bed: { settings: Record<string, string>; stop(): Promise<void> };
let bedDir: string | undefined;
if (!values['local-node']) {
  console.error('[up] building what is missing, then starting the control plane and the real node, and installing the chart...');
  bedDir = await fs.mkdtemp(path.join(os.tmpdir(), 'claude-operator-up-'));
  bed = await startChartStack(bedDir).catch(async (error: unknown) => {
    await fs.rm(bedDir!, { recursive: true, force: true });
    throw error;
  });
} else {
  console.error('[up] starting the control plane, the local node, Postgres, Redis, the operator and the API...');
  bed = await startStack();
}
await fs.writeFile(envFile, Object.entries(bed.settings).map(([key, value]) => `${key}=${value}`).join('\n') + '\n', { mode: 0o600 });
console.error(`[up] ready in ${((Date.now() - started) / 1000).toFixed(1)} s; settings written to ${envFile}`);
console.error(`[up] try: ${bed.settings.KUBECTL} --kubeconfig ${bed.settings.KUBECONFIG} apply -f examples/task.yaml`);
console.error('[up] Ctrl-C stops everything.');

let stopping = false;
const shutdown = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  console.error(`[up] ${signal}: stopping...`);
  await bed.stop();
  if (bedDir) await fs.rm(bedDir, { recursive: true, force: true });
  await fs.rm(envFile, { force: true });
  console.error('[up] stopped');
  process.exit(0);
};
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
