// Fault 3: Postgres unreachable for a while (a proxy in front of it cut, as a
// crashed or partitioned server looks to its clients) while tasks run and REST
// clients submit more. An operator and an API of the fault's own reach Postgres
// only through the proxy. Want: every submission answered 2xx is a task that
// ends, with its audit row; the API not ready while Postgres is away; and after
// the return, Postgres agreeing with the cluster on every task's phase.
import pg from 'pg';
import { terminalPhases } from '../../../crds/src/claude-task.ts';
import { kubeConfigOf, log, sleep } from '../../bench/support.ts';
import { startTcpProxy, viaProxy } from '../../support/tcp-proxy.ts';
import type { Fault, FaultResult, Scale } from '../fault.ts';
import type { RealNodeSystem } from '../real-node-system.ts';
import { startReplica, stopStackOperator } from '../replicas.ts';
import { TaskLoad, type ListedTask } from '../task-load.ts';

const sizeOf = (scale: Scale) => ({ running: scale === 'full' ? 50 : 4, clients: scale === 'full' ? 20 : 4, downSeconds: scale === 'full' ? 60 : 15 });

interface Outage {
  load: TaskLoad;
  /** The fault's own view of Postgres (not through the cut path). */
  pool: pg.Pool;
  scale: Scale;
  /** Where REST clients submit, and a token it takes. */
  apiUrl: string;
  token: string;
  /** Every API process's /readyz: each must say 503 while Postgres is away. */
  readyUrls(): Promise<string[]>;
  cut(): Promise<void>;
  restore(): Promise<void>;
  /** How the operator or API died during the fault (none is the goal). */
  deaths(): Promise<string[]>;
  /** The operator's and API's last words, for a failed run. */
  logs(): Promise<string>;
}

/** Tasks run, Postgres goes, REST clients submit throughout; then what was accepted, audited and agreed on. */
async function postgresOutage({ load, pool, scale, apiUrl, token, readyUrls, cut, restore, deaths, logs }: Outage): Promise<FaultResult> {
  const { running, clients, downSeconds } = sizeOf(scale);
  const namespace = load.namespace;
  const submit = (name: string, prompt: string) => fetch(`${apiUrl}/api/v1/namespaces/${namespace}/tasks`, {
    method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name, spec: { prompt, engine: 'api' } }),
  }).then(async (response) => { await response.arrayBuffer(); return response.status; }, () => 0);
  const accepted: string[] = [];
  for (let index = 0; index < running; index++) {
    const name = `long-${index}`;
    const status = await submit(name, 'chaos [[scenario:slow {"tokens":60,"delayMs":500}]]');
    if (status >= 200 && status < 300) accepted.push(name);
  }
  const tasks = () => load.tasks();
  const deadline = Date.now() + 120_000;
  let runningBeforeCut = 0;
  while (Date.now() < deadline && (runningBeforeCut = (await tasks()).filter((task) => task.status?.phase === 'Running').length) < accepted.length) await sleep(500);

  log(`fault 3: Postgres unreachable for ${downSeconds} s, ${runningBeforeCut} of ${accepted.length} tasks running, ${clients} REST clients submitting`);
  await cut();
  const cutAt = Date.now();
  const readiness: number[] = [];
  const statuses = new Map<number, number>();
  const clientLoops = Array.from({ length: clients }, async (_unused, client) => {
    for (let attempt = 0; Date.now() - cutAt < downSeconds * 1000; attempt++) {
      const name = `rest-${client}-${attempt}`;
      const status = await submit(name, 'chaos [[scenario:answer {"text":"ok"}]]');
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      if (status >= 200 && status < 300) accepted.push(name);
      await sleep(1_000);
    }
  });
  const readinessLoop = (async () => {
    while (Date.now() - cutAt < downSeconds * 1000) {
      // The first seconds are the readiness check noticing; count from there.
      if (Date.now() - cutAt > 5_000) {
        for (const url of await readyUrls()) readiness.push((await fetch(url).catch(() => undefined))?.status ?? 0);
      }
      await sleep(1_000);
    }
  })();
  await Promise.all([...clientLoops, readinessLoop]);
  await restore();
  const restoredAt = Date.now();
  log('fault 3: Postgres reachable again');

  let recoverySeconds = Infinity;
  let disagreeing = Infinity;
  let listed: ListedTask[] = [];
  let stored = new Map<string, string>();
  while (Date.now() - restoredAt < 300_000) {
    listed = await tasks();
    const { rows } = await pool.query<{ uid: string; phase: string }>('SELECT uid, phase FROM claude_tasks WHERE namespace = $1', [namespace]);
    stored = new Map(rows.map((row) => [row.uid, row.phase]));
    disagreeing = listed.filter((task) => stored.get(task.metadata.uid) !== task.status?.phase).length;
    const ended = listed.every((task) => terminalPhases.has(task.status?.phase ?? ''));
    if (ended && disagreeing === 0) { recoverySeconds = (Date.now() - restoredAt) / 1000; break; }
    await sleep(1_000);
  }
  const names = new Set(listed.map((task) => task.metadata.name));
  const lost = accepted.filter((name) => !names.has(name)).length
    + listed.filter((task) => !terminalPhases.has(task.status?.phase ?? '')).length;
  const { rows: audited } = await pool.query<{ name: string }>(
    `SELECT DISTINCT name FROM api_audit WHERE namespace = $1 AND action = 'task.create' AND outcome = 'success'`, [namespace]);
  const auditedNames = new Set(audited.map((row) => row.name));
  const unaudited = accepted.filter((name) => !auditedNames.has(name)).length;
  const readyWhileDown = readiness.filter((status) => status === 200).length;
  const codes = [...statuses].sort(([a], [b]) => a - b).map(([status, count]) => `${status}: ${count}`).join(', ');
  const succeeded = listed.filter((task) => task.status?.phase === 'Succeeded').length;
  // Where a failure starts: the tasks that did not succeed, and what the fault's operator and API said.
  const died = await deaths();
  const why = succeeded === listed.length && died.length === 0 ? ''
    : `; ${died.join(', ') || 'the operator and API ran throughout'}; ${runningBeforeCut} of the first ${running} Running before the cut; not Succeeded: ${(await load.outcome(pool)).notSucceeded.join('; ')}`
      + `\n${await logs()}`;
  return {
    load: `${running} running tasks, ${clients} REST clients, ${downSeconds} s down`,
    lost, duplicated: null, disagreeing: disagreeing + unaudited, recoverySeconds,
    detail: `submissions while down: ${codes}; accepted ${accepted.length}, ${succeeded} Succeeded; unaudited ${unaudited}; `
      + `/readyz while down: ${readiness.length - readyWhileDown}/${readiness.length} not ready; Postgres agreed ${Number.isFinite(recoverySeconds) ? `${recoverySeconds.toFixed(1)} s after the return` : 'NEVER'}${why}`,
    passed: readiness.length > 0 && readyWhileDown === 0 && succeeded === listed.length && died.length === 0,
  };
}

export const postgresDownFault: Fault = {
  number: 3,
  name: 'Postgres unreachable while tasks run and REST clients submit',
  async run(system, scale: Scale, cleanups): Promise<FaultResult> {
    const { settings } = system;
    const load = await TaskLoad.create(kubeConfigOf(settings), 'chaos-pg');
    const database = new URL(settings.DATABASE_URL);
    const proxy = await startTcpProxy({ host: database.hostname, port: Number(database.port || 5432) });
    cleanups.add('the Postgres proxy', () => proxy.close());
    const proxied = { DATABASE_URL: viaProxy(settings.DATABASE_URL, proxy) };
    stopStackOperator(settings);
    const operator = await startReplica('operator', system.environments.operator, settings, proxied);
    const api = await startReplica('api', system.environments.api, settings, proxied);
    cleanups.add('the fault\'s operator and API', async () => { await Promise.all([operator.stop(), api.stop()]); });
    const pool = new pg.Pool({ connectionString: settings.DATABASE_URL, max: 2 });
    // Neither may die of the outage (a connection cut mid-transaction once killed the operator).
    const died: string[] = [];
    for (const [what, replica] of [['operator', operator], ['API', api]] as const) {
      void replica.process.exited.then(({ code, signal }) => { died.push(`the ${what} exited (${signal ?? code})`); });
    }
    try {
      await Promise.all([operator.waitReady(), api.waitReady()]);
      return await postgresOutage({ load, pool, scale, apiUrl: api.url, token: settings.API_TOKEN,
        readyUrls: async () => [`${api.url}/readyz`], cut: () => proxy.cut(), restore: () => proxy.restore(),
        deaths: async () => died,
        logs: async () => `--- the operator's log ---\n${operator.process.logTail(40)}\n--- the API's log ---\n${api.process.logTail(20)}` });
    } finally {
      await proxy.restore();
      // While the operator runs: the tasks' finalizers need it.
      await load.delete();
      await Promise.all([operator.stop(), api.stop()]);
      await proxy.close();
      await pool.end();
    }
  },

  // The chart's Postgres refuses every connection from outside its pod (a rule in its network
  // namespace resets them, as a partition or a crashed server looks to clients), while the chart's
  // operator and API run on; its own probe (over loopback) keeps it Ready. /readyz is asked of each
  // API pod by its IP, as kubelet asks it; a death is any restart of an operator or API container.
  async runOnRealNode(system: RealNodeSystem, scale: Scale): Promise<FaultResult> {
    const { settings } = system;
    const load = await TaskLoad.create(kubeConfigOf(settings), 'chaos-pg');
    const pool = new pg.Pool({ connectionString: settings.DATABASE_URL, max: 2 });
    // Its idle connections are reset by the rule too: not a reason for the suite to exit.
    pool.on('error', () => undefined);
    const [postgres] = await system.pods('postgres');
    if (!postgres) throw new Error('the chart runs no Postgres pod');
    const rule = ['INPUT', '-p', 'tcp', '--dport', '5432', '!', '-i', 'lo', '-j', 'REJECT', '--reject-with', 'tcp-reset'];
    let cut = false;
    const restore = async () => {
      if (!cut) return;
      await system.iptablesInPod(postgres, '-D', ...rule);
      cut = false;
    };
    const signature = await system.crashSignature('operator', 'api');
    try {
      return await postgresOutage({ load, pool, scale, apiUrl: settings.API_URL, token: settings.API_TOKEN,
        readyUrls: async () => (await system.pods('api')).map((pod) => `http://${pod.status?.podIP}:8080/readyz`),
        cut: async () => { await system.iptablesInPod(postgres, '-I', ...rule); cut = true; },
        restore,
        deaths: async () => {
          const now = await system.crashSignature('operator', 'api');
          return now === signature ? [] : [`operator or API containers restarted or replaced: ${signature} -> ${now}`];
        },
        logs: async () => `--- the operators' logs ---\n${await system.logs('operator')}\n--- the APIs' logs ---\n${await system.logs('api', 20)}` });
    } finally {
      await restore();
      await load.delete();
      await pool.end();
    }
  },
};
