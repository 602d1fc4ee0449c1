// The stream's task lookup from Kubernetes (the task exists as soon as it is
// created), falling back to the operator's Postgres records for tasks already
// deleted from the cluster, whose history is all in Postgres.
import type pg from 'pg';
import { statusCode } from '../../../packages/platform/src/kube-errors.ts';
import type { KubeTasks } from '../tasks/kube-tasks.ts';
import { postgresTaskLookup, type TaskLookup } from './task-lookup.ts';

export function kubeTaskLookup(tasks: KubeTasks, pool: pg.Pool): TaskLookup {
  const fromPostgres = postgresTaskLookup(pool);
  return async (namespace, name) => {
    try {
      const task = await tasks.get(namespace, name);
      return { namespace, name, uid: task.metadata.uid, phase: task.status?.phase };
    } catch (error) {
      if (statusCode(error) !== 404) throw error;
      return fromPostgres(namespace, name);
    }
  };
}
