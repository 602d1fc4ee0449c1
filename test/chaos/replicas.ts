// Replicas of the stack's operator and API, started by a fault with the stack's own
// settings (read from the running processes' environments) and a few changed (a
// port, a database URL through a proxy), so the fault owns what it kills.
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../bed/binaries.ts';
import { freePort } from '../bed/ports.ts';
import { startSupervised, waitFor, type Supervised } from '../bed/process.ts';
import { findNodeScript, scrapeMetrics, type StackSettings } from '../bench/support.ts';

const node = path.join(repoRoot, 'node_modules/.bin/node');
type Environment = Record<string, string>;

function environmentOf(pid: number): Environment {
  return Object.fromEntries(fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean)
    .map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]));
}

const stackOperator = (settings: StackSettings) => findNodeScript('operator/src/main.ts', `METRICS_PORT=${new URL(settings.OPERATOR_METRICS_URL).port}`);
const stackApi = (settings: StackSettings) => findNodeScript('api/src/main.ts', `PORT=${new URL(settings.API_URL).port}`);

/** What the stack's operator and API run with; read once, before any fault stops them. */
export interface StackEnvironments { operator: Environment; api: Environment }

export function readStackEnvironments(settings: StackSettings): StackEnvironments {
  return { operator: environmentOf(stackOperator(settings)), api: environmentOf(stackApi(settings)) };
}

/** The stack's own operator goes for good (its replicas stand in); nothing when it is gone already. */
export function stopStackOperator(settings: StackSettings): void {
  let pid: number;
  try {
    pid = stackOperator(settings);
  } catch {
    return;
  }
  process.kill(pid, 'SIGKILL');
}

/** A process that can be SIGKILLed and started again with the same settings and port. */
export class Replica {
  process: Supervised;
  readonly port: number;
  private readonly kind: 'operator' | 'api';
  private readonly script: string;
  private readonly env: Environment;
  private readonly logFile: string;

  constructor(kind: 'operator' | 'api', env: Environment, port: number, logFile: string) {
    this.kind = kind;
    this.script = kind === 'operator' ? 'operator/src/main.ts' : 'api/src/main.ts';
    this.env = { ...env, [kind === 'operator' ? 'METRICS_PORT' : 'PORT']: String(port) };
    this.port = port;
    this.logFile = logFile;
    this.process = this.start();
  }

  start(): Supervised {
    this.process = startSupervised({ name: `chaos-${this.kind}-${this.port}`, command: node,
      args: [path.join(repoRoot, this.script)], logFile: this.logFile, env: this.env });
    return this.process;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async ready(): Promise<boolean> {
    return (await fetch(`${this.url}/readyz`).catch(() => undefined))?.ok === true;
  }

  async waitReady(): Promise<void> {
    await waitFor(`${this.process.name} ready`, () => this.ready(), { timeoutMs: 90_000 })
      .catch((error: Error) => { throw new Error(`${error.message}\n${this.process.logTail(20)}`); });
  }

  /** For an operator: whether it leads (its claude_operator_leader gauge). */
  async leads(): Promise<boolean> {
    const metrics = await scrapeMetrics(`${this.url}/metrics`).catch(() => undefined);
    return metrics?.get('claude_operator_leader') === 1;
  }

  async kill(): Promise<void> {
    process.kill(this.process.pid, 'SIGKILL');
    await this.process.exited;
  }

  stop(): Promise<void> {
    return this.process.stop(10_000);
  }
}

export async function startReplica(kind: 'operator' | 'api', env: Environment, settings: StackSettings, changes: Environment = {}): Promise<Replica> {
  return new Replica(kind, { ...env, ...changes }, await freePort(), path.join(settings.BED_DIR, 'logs', `chaos-${kind}.log`));
}
