import { client } from '../client';
import { HistoryQuery } from '../operations';
import type { HistoryQuery as HistoryData } from '../gql/graphql';
import { formatDateTime, money } from '../lib/format';
import { errorText } from '../lib/errors';
import { useSessionExpiry } from '../auth';
import { pageOf, usePagedList } from '../lib/paging';
import { Loading, Notice, StatusBadge, useTitle } from '../components/ui';

type Gift = NonNullable<HistoryData['me']>['donations']['edges'][number]['node'];

const PAGE = 10;

export function History() {
  useTitle('Your gifts');
  const { items: gifts, total, hasMore, loading, error, firstNew, focusIndex, loadMore } = usePagedList<Gift, HTMLAnchorElement>(async (after) => {
    const r = await client.query(HistoryQuery, { first: PAGE, after }).toPromise();
    const conn = r.data?.me?.donations;
    return { error: r.error, page: conn && pageOf(conn, conn.edges.map((e) => e.node)) };
  });
  useSessionExpiry(error);

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
                <a href={`/donations/${encodeURIComponent(g.id)}`} ref={i === focusIndex ? firstNew : undefined}>
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
          <button type="button" class="button" onClick={loadMore}>
            Load more gifts
          </button>
        </p>
      )}
    </section>
  );
}
