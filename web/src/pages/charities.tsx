import { useEffect, useState } from 'preact/hooks';
import { client } from '../client';
import { CharitiesQuery } from '../operations';
import type { CharitiesQuery as CharitiesData } from '../gql/graphql';
import { errorText } from '../lib/errors';
import { pageOf, usePagedList } from '../lib/paging';
import { Loading, Notice, useTitle } from '../components/ui';

type Charity = CharitiesData['charities']['edges'][number]['node'];

const PAGE = 20;

export function Charities() {
  useTitle('Charities');
  const [search, setSearch] = useState('');
  const [debounced, setDebounced] = useState('');

  useEffect(() => {
    const t = setTimeout(() => setDebounced(search.trim()), 300);
    return () => clearTimeout(t);
  }, [search]);

  const { items, total, hasMore, loading, error, loadMore } = usePagedList<Charity, HTMLElement>(async (after) => {
    const r = await client.query(CharitiesQuery, { first: PAGE, after, search: debounced || null }).toPromise();
    const c = r.data?.charities;
    return { error: r.error, page: c && pageOf(c, c.edges.map((e) => e.node)) };
  }, [debounced]);

  return (
    <section aria-labelledby="charities-title">
      <h1 id="charities-title">Charities</h1>
      <p class="lede">Every charity taking part in the event. Pick one and give: the whole gift goes to it.</p>
      <form class="search" role="search" onSubmit={(e) => e.preventDefault()}>
        <label for="charity-search">Search charities</label>
        <input
          id="charity-search"
          type="search"
          value={search}
          placeholder="Food, animals, books…"
          autocomplete="off"
          onInput={(e) => setSearch((e.currentTarget as HTMLInputElement).value)}
        />
      </form>
      <p class="result-count" role="status" aria-live="polite">
        {total === null
          ? ''
          : debounced
            ? `${total} ${total === 1 ? 'charity matches' : 'charities match'} “${debounced}”.`
            : `${total} ${total === 1 ? 'charity' : 'charities'}.`}
      </p>
      {error && (
        <Notice kind="error">
          {errorText(error)}
        </Notice>
      )}
      <ul class="charity-list">
        {items.map((c) => (
          <li key={c.id} class="card charity">
            <h2 class="charity-name">{c.name}</h2>
            <p>{c.description}</p>
            {c.active ? (
              <a class="button button-primary" href={`/give?charity=${encodeURIComponent(c.id)}`} aria-label={`Give to ${c.name}`}>
                Give
              </a>
            ) : (
              <p class="muted">Not taking donations right now.</p>
            )}
          </li>
        ))}
      </ul>
      {loading && <Loading />}
      {!loading && total === 0 && <p>No charity matches that search. Try fewer or other words.</p>}
      {hasMore && !loading && (
        <p>
          <button type="button" class="button" onClick={loadMore}>
            Load more charities
          </button>
        </p>
      )}
    </section>
  );
}
