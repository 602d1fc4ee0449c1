// Cursor pagination of the task list over the Kubernetes API's own `continue`
// tokens. The API filters by phase and creation time itself (the CRD has no
// field selectors for them), so one page of the apiserver's list may hold more
// matches than the caller's page. The cursor therefore names a position: the
// continue token that starts an apiserver page, and how many items of that page
// were already handed out. Reading the same token with the same limit gives
// the same page (it is a snapshot at one resourceVersion), so `skip` is exact.
// The filters are part of the cursor, so it is used only with the list it came from.
import crypto from 'node:crypto';
import { Problem } from '../http/problem.ts';

export interface ListCursor {
  /** The continue token of the apiserver page to read; '' for the first page. */
  continueToken: string;
  /** Items of that page already returned. */
  skip: number;
  /** A hash of the filters and page size the cursor belongs to. */
  filters: string;
}

export function filtersFingerprint(filters: Record<string, unknown>): string {
  const canonical = JSON.stringify(Object.keys(filters).sort().map((key) => [key, filters[key] ?? null]));
  return crypto.createHash('sha256').update(canonical).digest('base64url').slice(0, 16);
}

export function encodeCursor(cursor: ListCursor): string {
  return Buffer.from(JSON.stringify([cursor.continueToken, cursor.skip, cursor.filters])).toString('base64url');
}

/** The cursor, or a 400 when it is not one this API made for these filters. */
export function decodeCursor(text: string, filters: string): ListCursor {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw new Problem('bad-request', 'cursor is not valid');
  }
  if (!Array.isArray(value) || value.length !== 3 || typeof value[0] !== 'string' || !Number.isSafeInteger(value[1])
    || (value[1] as number) < 0 || typeof value[2] !== 'string') {
    throw new Problem('bad-request', 'cursor is not valid');
  }
  if (value[2] !== filters) throw new Problem('bad-request', 'cursor belongs to a list with other filters or page size');
  return { continueToken: value[0], skip: value[1] as number, filters: value[2] };
}

export interface Page<T> { items: T[]; continueToken?: string }

/**
 * Reads apiserver pages from the cursor's position until `limit` items match or
 * the list ends (or `maxPages` pages were read: a sparse match then gives a
 * short page with a cursor, never a long stall).
 */
export async function collectPage<T>(options: {
  cursor: ListCursor | undefined;
  filters: string;
  limit: number;
  maxPages?: number;
  fetchPage: (continueToken: string | undefined, limit: number) => Promise<Page<T>>;
  matches: (item: T) => boolean;
}): Promise<{ items: T[]; next: string | undefined }> {
  const { limit, filters, fetchPage, matches, maxPages = 10 } = options;
  let token = options.cursor?.continueToken ?? '';
  let skip = options.cursor?.skip ?? 0;
  const items: T[] = [];
  for (let pages = 0; pages < maxPages; pages++) {
    const page = await fetchPage(token || undefined, limit);
    for (let i = skip; i < page.items.length; i++) {
      if (!matches(page.items[i]!)) continue;
      items.push(page.items[i]!);
      if (items.length === limit) {
        const atEnd = i + 1 >= page.items.length;
        if (atEnd && !page.continueToken) return { items, next: undefined };
        const next = atEnd ? { continueToken: page.continueToken!, skip: 0, filters } : { continueToken: token, skip: i + 1, filters };
        return { items, next: encodeCursor(next) };
      }
    }
    if (!page.continueToken) return { items, next: undefined };
    token = page.continueToken;
    skip = 0;
  }
  return { items, next: encodeCursor({ continueToken: token, skip: 0, filters }) };
}
