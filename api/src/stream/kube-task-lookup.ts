// The stream's lookup from Kubernetes (an object exists as soon as it is
// created), falling back to the operator's Postgres records for objects already
// deleted from the cluster, whose history is all in Postgres.
import type pg from 'pg';
import { statusCode } from '../../../packages/platform/src/kube-errors.ts';
import type { KubeTasks } from '../tasks/kube-tasks.ts';
import { postgresTaskLookup, type TaskLookup } from './task-lookup.ts';

interface Readable {
  get(namespace: string, name: string): Promise<{ metadata: { uid?: string }; status?: { phase?: string } }>;
}

export function kubeObjectLookup(store: Readable, fromPostgres: TaskLookup): TaskLookup {
  return async (namespace, name) => {
    try {
      const object = await store.get(namespace, name);
      return { namespace, name, uid: object.metadata.uid, phase: object.status?.phase };
    } catch (error) {
      if (statusCode(error) !== 404) throw error;
      return fromPostgres(namespace, name);
    }
  };
}

export function kubeTaskLookup(tasks: KubeTasks, pool: pg.Pool): TaskLookup {
  return kubeObjectLookup(tasks, postgresTaskLookup(pool));
}
