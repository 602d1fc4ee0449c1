// What every chaos fault reports: the row of the suite's one table. A cell is a
// count a user would care about (0 is the goal), or null where the fault cannot
// lose, duplicate or disagree on anything (printed "n/a", never as a 0).
import type { Cleanups, StackSettings, System } from '../bench/support.ts';
import type { RealNodeSystem } from './real-node-system.ts';
import type { StackEnvironments } from './replicas.ts';

/** What a fault needs of either system, as a user of it would: the cluster, the datastores, the API and its key. */
export type ClientSettings = Pick<StackSettings, 'KUBECONFIG' | 'DATABASE_URL' | 'REDIS_URL' | 'API_URL' | 'API_TOKEN' | 'API_JWT_SECRET' | 'API_JWT_ISSUER' | 'API_JWT_AUDIENCE'>;

/** The stack, and the settings its operator and API were started with (for replicas). */
export type ChaosSystem = System & { environments: StackEnvironments };

export interface FaultResult {
  /** What the fault injected its load into, in a few words ("10,000 requests under 40 tokens"). */
  load: string;
  lost: number | null;
  duplicated: number | null;
  disagreeing: number | null;
  /** Seconds from the fault's end until users were served again; null when nothing went down. */
  recoverySeconds: number | null;
  /** Figures behind the row, for the README and the issue note. */
  detail: string;
  /** Whether the fault's own goal held (e.g. 0 5xx and no crash, 100% refused). */
  passed: boolean;
}

/** short: the few-task version the e2e suite runs; full: the figures of the README. */
export type Scale = 'short' | 'full';

export interface Fault {
  /** Its number in issue 12's list, which is the table's order. */
  number: number;
  name: string;
  /** On the bed's local node: the operator and API are processes here, each fault starts its own. */
  run(system: ChaosSystem, scale: Scale, cleanups: Cleanups): Promise<FaultResult>;
  /** On the system `up` installs on the real node: the fault is injected into the chart's own pods. */
  runOnRealNode?(system: RealNodeSystem, scale: Scale, cleanups: Cleanups): Promise<FaultResult>;
}

export function isClean(result: FaultResult): boolean {
  return result.passed && [result.lost, result.duplicated, result.disagreeing].every((cell) => cell === null || cell === 0)
    && (result.recoverySeconds === null || Number.isFinite(result.recoverySeconds));
}
