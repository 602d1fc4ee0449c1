import { describe, expect, test } from '@jest/globals';
import { Problem } from '../http/problem.ts';
import { collectPage, decodeCursor, encodeCursor, filtersFingerprint, type Page } from './list-cursor.ts';

/** An apiserver stand-in: pages of `limit` over a fixed list, continue = the offset. */
function fakeList(all: number[]) {
  let calls = 0;
  return {
    get calls() { return calls; },
    fetchPage: async (token: string | undefined, limit: number): Promise<Page<number>> => {
      calls++;
      const start = token ? Number(token) : 0;
      const end = start + limit;
      return { items: all.slice(start, end), ...(end < all.length ? { continueToken: String(end) } : {}) };
    },
  };
}

async function readAll(all: number[], limit: number, matches: (n: number) => boolean, maxPages?: number) {
  const list = fakeList(all);
  const filters = filtersFingerprint({ limit });
  const pages: number[][] = [];
  let next: string | undefined;
  do {
    const cursor = next ? decodeCursor(next, filters) : undefined;
    const page = await collectPage({ cursor, filters, limit, fetchPage: list.fetchPage, matches, ...(maxPages ? { maxPages } : {}) });
    pages.push(page.items);
    next = page.next;
  } while (next && pages.length < 1000);
  return pages;
}

describe('collectPage', () => {
  const all = Array.from({ length: 23 }, (_v, i) => i);

  test.each([1, 2, 5, 7, 23, 50])('every item exactly once, in order, limit %d', async (limit) => {
    const pages = await readAll(all, limit, () => true);
    expect(pages.flat()).toEqual(all);
    expect(pages.every((page) => page.length <= limit)).toBe(true);
  });

  test.each([1, 3, 4, 10])('filtered: every match once, in order, limit %d', async (limit) => {
    const pages = await readAll(all, limit, (n) => n % 3 === 0);
    expect(pages.flat()).toEqual(all.filter((n) => n % 3 === 0));
  });

  test('sparse matches give short pages with a cursor rather than a long scan', async () => {
    const pages = await readAll(all, 1, (n) => n === 22, 5);
    expect(pages.flat()).toEqual([22]);
    expect(pages.length).toBeGreaterThan(1);
  });

  test('no items, no cursor', async () => {
    expect(await readAll([], 10, () => true)).toEqual([[]]);
  });
});

describe('cursor text', () => {
  test('round trip', () => {
    const cursor = { continueToken: 'abc', skip: 3, filters: 'f' };
    expect(decodeCursor(encodeCursor(cursor), 'f')).toEqual(cursor);
  });
  test.each(['', '!!!', Buffer.from('{"a":1}').toString('base64url'), Buffer.from('["a",-1,"f"]').toString('base64url'),
    Buffer.from('["a",1.5,"f"]').toString('base64url')])('not a cursor: %p', (text) => {
    expect(() => decodeCursor(text, 'f')).toThrow(Problem);
  });
  test('a cursor from other filters is refused', () => {
    expect(() => decodeCursor(encodeCursor({ continueToken: '', skip: 0, filters: filtersFingerprint({ phase: 'Running' }) }),
      filtersFingerprint({ phase: 'Pending' }))).toThrow(/other filters/);
  });
});
