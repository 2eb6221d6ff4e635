import { useEffect, useRef, useState } from 'preact/hooks';
import type { CombinedError } from '@urql/core';
import { client } from '../client';
import { HistoryQuery } from '../operations';
import type { HistoryQuery as HistoryData } from '../gql/graphql';
import { formatDateTime, money } from '../lib/format';
import { errorText } from '../lib/errors';
import { useSessionExpiry } from '../auth';
import { Loading, Notice, StatusBadge, useTitle } from '../components/ui';

type Gift = NonNullable<HistoryData['me']>['donations']['edges'][number]['node'];

const PAGE = 10;

export function History() {
  useTitle('Your gifts');
  const [gifts, setGifts] = useState<Gift[]>([]);
  const [total, setTotal] = useState<number | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [hasMore, setHasMore] = useState(false);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<CombinedError | null>(null);
  const firstNew = useRef<HTMLAnchorElement>(null);
  const focusIndex = useRef(-1);
  useSessionExpiry(error);

  async function load(after: string | null) {
    setLoading(true);
    const r = await client.query(HistoryQuery, { first: PAGE, after }).toPromise();
    setLoading(false);
    setError(r.error ?? null);
    const conn = r.data?.me?.donations;
    if (!conn) return;
    const page = conn.edges.map((e) => e.node);
    setGifts((prev) => {
      focusIndex.current = after ? prev.length : -1;
      return after ? [...prev, ...page] : page;
    });
    setTotal(conn.totalCount);
    setCursor(conn.pageInfo.endCursor ?? null);
    setHasMore(conn.pageInfo.hasNextPage);
  }

  useEffect(() => {
    void load(null);
  }, []);
  // After "Load more", the keyboard goes on from the first gift that came in.
  useEffect(() => {
    if (focusIndex.current >= 0) {
      firstNew.current?.focus();
      focusIndex.current = -1;
    }
  }, [gifts]);

  return (
    <section aria-labelledby="history-title">
      <h1 id="history-title">Your gifts</h1>
      <p class="result-count" role="status" data-testid="history-count">
        {total === null ? '' : total === 0 ? 'You have not given yet.' : `${total} ${total === 1 ? 'gift' : 'gifts'} in all.`}
      </p>
      {error && (
        <Notice kind="error">
          {errorText(error)}
        </Notice>
      )}
      {gifts.length > 0 && (
        <ul class="gift-list">
          {gifts.map((g, i) => (
            <li key={g.id} class="card gift">
              <div class="gift-main">
                <a href={`/donations/${encodeURIComponent(g.id)}`} ref={i === focusIndex.current ? firstNew : undefined}>
                  {money(g.amountCents)} to {g.charity.name}
                </a>
                <span class="muted">
                  <time dateTime={g.createdAt}>{formatDateTime(g.createdAt)}</time>
                </span>
              </div>
              <StatusBadge status={g.status} />
            </li>
          ))}
        </ul>
      )}
      {loading && <Loading />}
      {total === 0 && (
        <p>
          <a class="button button-primary" href="/give">
            Make your first gift
          </a>
        </p>
      )}
      {hasMore && !loading && (
        <p>
          <button type="button" class="button" onClick={() => load(cursor)}>
            Load more gifts
          </button>
        </p>
      )}
    </section>
  );
}
