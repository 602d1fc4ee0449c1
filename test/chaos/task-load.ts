// Tasks for a fault to land in the middle of (the real CLI, a scripted scenario such
// as a Bash sleep), in a namespace of their own with the scripted key, and what the
// cluster and Postgres say about them.
import { randomBytes } from 'node:crypto';
import { BatchV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import type pg from 'pg';
import { terminalPhases } from '../../crds/src/claude-task.ts';
import { taskUidLabel } from '../../operator/src/names.ts';
import { createNamespace, deleteNamespaces, inParallel, sleep } from '../bench/support.ts';

const taskApi = { group: 'claude-operator.io', version: 'v1alpha1', plural: 'claudetasks' };
export interface ListedTask { metadata: { name: string; uid: string }; status?: { phase?: string; reason?: string; message?: string; result?: string } }

/** What a burst came to, as faults 1 and 5 count it. */
export interface BurstOutcome {
  tasks: ListedTask[];
  /** Not in a terminal phase (stuck, or still going at the deadline). */
  unended: number;
  /** More than one Job, or more than one terminal transition in Postgres. */
  doubled: number;
  withoutJob: number;
  /** Postgres's phase is not the cluster's. */
  disagreeing: number;
  succeeded: number;
  /** The tasks that did not succeed, as `name: phase reason (message)`, at most 5: where a failure starts. */
  notSucceeded: string[];
}

export class TaskLoad {
  readonly namespace: string;
  private readonly kubeConfig: KubeConfig;
  private readonly custom: CustomObjectsApi;

  private constructor(kubeConfig: KubeConfig, namespace: string) {
    this.kubeConfig = kubeConfig;
    this.namespace = namespace;
    this.custom = kubeConfig.makeApiClient(CustomObjectsApi);
  }

  static async create(kubeConfig: KubeConfig, prefix: string): Promise<TaskLoad> {
    const namespace = `${prefix}-${randomBytes(3).toString('hex')}`;
    await createNamespace(kubeConfig, namespace);
    await kubeConfig.makeApiClient(CoreV1Api).createNamespacedSecret({ namespace, body: {
      metadata: { name: 'anthropic-api-key' }, stringData: { 'api-key': 'scripted-api-key' } } });
    return new TaskLoad(kubeConfig, namespace);
  }

  /** Creates `count` tasks with the prompt (a scripted scenario); their names. */
  async start(count: number, prompt: string): Promise<string[]> {
    const names = Array.from({ length: count }, (_unused, index) => `task-${index}`);
    await inParallel(names, 5, async (name) => {
      await this.custom.createNamespacedCustomObject({ ...taskApi, namespace: this.namespace, body: {
        apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudeTask', metadata: { name }, spec: { prompt },
      } });
    });
    return names;
  }

  async tasks(): Promise<ListedTask[]> {
    return ((await this.custom.listNamespacedCustomObject({ ...taskApi, namespace: this.namespace })) as { items: ListedTask[] }).items;
  }

  async waitFor(what: (tasks: ListedTask[]) => boolean, timeoutMs: number): Promise<ListedTask[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const tasks = await this.tasks();
      if (what(tasks) || Date.now() > deadline) return tasks;
      await sleep(500);
    }
  }

  /** Creates one task, again while the apiserver cannot be reached or answers 5xx (a 409 after such a
   * retry: the earlier try had landed). Nothing is counted accepted before the apiserver said so. */
  async createRetrying(name: string, prompt: string, timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.custom.createNamespacedCustomObject({ ...taskApi, namespace: this.namespace, body: {
          apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudeTask', metadata: { name }, spec: { prompt } } });
        return;
      } catch (error) {
        const code = (error as { code?: number }).code;
        if (attempt > 0 && code === 409) return;
        if ((typeof code === 'number' && code < 500) || Date.now() > deadline) throw error;
        await sleep(500);
      }
    }
  }

  /** Jobs per task, terminal transitions per task in Postgres, and whether Postgres agrees with the cluster. */
  async outcome(pool: pg.Pool): Promise<BurstOutcome> {
    const tasks = await this.tasks();
    const jobs = await this.kubeConfig.makeApiClient(BatchV1Api).listNamespacedJob({ namespace: this.namespace });
    const jobsPerTask = new Map<string, number>();
    for (const job of jobs.items) {
      const uid = job.metadata?.labels?.[taskUidLabel];
      if (uid) jobsPerTask.set(uid, (jobsPerTask.get(uid) ?? 0) + 1);
    }
    const { rows } = await pool.query<{ uid: string; phase: string; terminal: string }>(
      `SELECT t.uid, t.phase, count(tr.id) FILTER (WHERE tr.to_phase = ANY($2)) AS terminal
       FROM claude_tasks t LEFT JOIN claude_task_transitions tr ON tr.task_uid = t.uid
       WHERE t.namespace = $1 GROUP BY t.uid, t.phase`, [this.namespace, [...terminalPhases]]);
    const stored = new Map(rows.map((row) => [row.uid, row]));
    return {
      tasks,
      unended: tasks.filter((task) => !terminalPhases.has(task.status?.phase ?? '')).length,
      doubled: tasks.filter((task) => (jobsPerTask.get(task.metadata.uid) ?? 0) > 1 || Number(stored.get(task.metadata.uid)?.terminal ?? 0) > 1).length,
      withoutJob: tasks.filter((task) => (jobsPerTask.get(task.metadata.uid) ?? 0) === 0).length,
      disagreeing: tasks.filter((task) => stored.get(task.metadata.uid)?.phase !== task.status?.phase).length,
      succeeded: tasks.filter((task) => task.status?.phase === 'Succeeded').length,
      notSucceeded: tasks.filter((task) => task.status?.phase !== 'Succeeded').slice(0, 5).map(({ metadata, status }) =>
        `${metadata.name}: ${status?.phase ?? 'no phase'} ${status?.reason ?? ''} (${status?.message?.slice(0, 200) ?? ''})`),
    };
  }

  waitEnded(timeoutMs: number): Promise<ListedTask[]> {
    return this.waitFor((tasks) => tasks.every((task) => terminalPhases.has(task.status?.phase ?? '')), timeoutMs);
  }

  delete(): Promise<void> {
    return deleteNamespaces(this.kubeConfig, [this.namespace], 300_000).catch(() => undefined);
  }
}

export interface StoredHistory {
  /** Seqs 1..max that Postgres lacks. */
  gaps: number;
  /** Events stored twice under different seqs (the same data). */
  duplicates: number;
  seqs: number[];
  types: string[];
}

export async function storedHistory(pool: pg.Pool, uid: string): Promise<StoredHistory> {
  const { rows } = await pool.query<{ seq: string; type: string; data: unknown }>(
    'SELECT seq, type, data FROM claude_task_events WHERE task_uid = $1 ORDER BY seq', [uid]);
  const seqs = rows.map((row) => Number(row.seq));
  const max = seqs.at(-1) ?? 0;
  const distinct = new Set(rows.map((row) => JSON.stringify(row.data)));
  return { gaps: max - seqs.length, duplicates: rows.length - distinct.size, seqs, types: rows.map((row) => row.type) };
}
