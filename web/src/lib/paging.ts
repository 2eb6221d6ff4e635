import { useEffect, useRef, useState } from 'preact/hooks';
import type { CombinedError } from '@urql/core';

/** One page of a Relay connection, as a list page needs it. */
export interface Page<T> {
  items: T[];
  total: number;
  endCursor: string | null;
  hasNextPage: boolean;
}

/** What fetchPage answers: the page, or the error, or neither (nothing to show). */
export interface PageAnswer<T> {
  page?: Page<T>;
  error?: CombinedError | null;
}

/**
 * usePagedList keeps a list read a page at a time ("Load more"): the items so far, the total,
 * the cursor and whether more follow. It reads the first page when any of deps changes (a new
 * search), drops an answer that a newer search overtook, and after "Load more" moves the
 * keyboard's focus to the first item that came in: give `firstNew` to that item's element, on
 * the item whose index is `focusIndex`.
 */
export function usePagedList<T, E extends HTMLElement>(fetchPage: (after: string | null) => Promise<PageAnswer<T>>, deps: unknown[] = []) {
  const [items, setItems] = useState<T[]>([]);
  const [total, setTotal] = useState<number | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [hasMore, setHasMore] = useState(false);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<CombinedError | null>(null);
  const generation = useRef(0);
  const firstNew = useRef<E>(null);
  const focusIndex = useRef(-1);

  async function load(after: string | null) {
    const gen = after ? generation.current : ++generation.current;
    setLoading(true);
    const r = await fetchPage(after);
    if (gen !== generation.current) return; // a newer search answered first
    setLoading(false);
    setError(r.error ?? null);
    const page = r.page;
    if (!page) return;
    setItems((prev) => {
      focusIndex.current = after ? prev.length : -1;
      return after ? [...prev, ...page.items] : page.items;
    });
    setTotal(page.total);
    setCursor(page.endCursor);
    setHasMore(page.hasNextPage);
  }

  useEffect(() => {
    void load(null);
  }, deps);
  useEffect(() => {
    if (focusIndex.current >= 0) {
      firstNew.current?.focus();
      focusIndex.current = -1;
    }
  }, [items]);

  return { items, setItems, total, setTotal, hasMore, loading, error, firstNew, focusIndex: focusIndex.current, loadMore: () => load(cursor) };
}

/** pageOf makes a Page of a connection's items. */
export function pageOf<T>(conn: { totalCount: number; pageInfo: { endCursor?: string | null; hasNextPage: boolean } }, items: T[]): Page<T> {
  return { items, total: conn.totalCount, endCursor: conn.pageInfo.endCursor ?? null, hasNextPage: conn.pageInfo.hasNextPage };
}
