// The list of a kind's objects in a namespace as the API gives it: filtered by
// phase, labels and creation time, a page at a time with an opaque cursor
// (list-cursor.ts). Tasks and sessions list the same way.
import { z } from 'zod';
import type { KubeObject, ObjectStoreApi } from './custom-objects.ts';
import { collectPage, decodeCursor, filtersFingerprint } from './list-cursor.ts';

const timestamp = z.iso.datetime({ offset: true });

export function listQuerySchema<const Phases extends readonly [string, ...string[]]>(phases: Phases) {
  return z.object({
    phase: z.enum(phases).optional(),
    labelSelector: z.string().max(1024).optional().describe('A Kubernetes label selector, e.g. team=a,env!=prod.'),
    createdAfter: timestamp.optional(),
    createdBefore: timestamp.optional(),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    cursor: z.string().max(4096).optional().describe('The `next` of the previous page.'),
  });
}

export type ListQuery = z.infer<ReturnType<typeof listQuerySchema>>;

/** An object the operator has not seen yet is Pending. */
export function phaseOf(object: KubeObject<unknown>): string {
  return (object.status as { phase?: string } | undefined)?.phase ?? 'Pending';
}

export async function listObjects<T extends KubeObject<unknown>>(store: Pick<ObjectStoreApi<T, unknown>, 'list'>, namespace: string,
  query: ListQuery): Promise<{ items: T[]; next?: string }> {
  const { cursor: cursorText, limit, ...filters } = query;
  const fingerprint = filtersFingerprint({ ...filters, limit });
  const cursor = cursorText ? decodeCursor(cursorText, fingerprint) : undefined;
  const after = query.createdAfter ? Date.parse(query.createdAfter) : -Infinity;
  const before = query.createdBefore ? Date.parse(query.createdBefore) : Infinity;
  const page = await collectPage<T>({
    cursor, filters: fingerprint, limit,
    fetchPage: (continueToken, pageLimit) => store.list(namespace, {
      limit: pageLimit, ...(continueToken ? { continueToken } : {}), ...(query.labelSelector ? { labelSelector: query.labelSelector } : {}),
    }),
    matches: (object) => {
      if (query.phase && phaseOf(object) !== query.phase) return false;
      const created = Date.parse(String(object.metadata.creationTimestamp ?? ''));
      return !(created <= after || created >= before);
    },
  });
  return { items: page.items, ...(page.next ? { next: page.next } : {}) };
}
