import { useEffect, useRef, useState } from 'preact/hooks';
import type { CombinedError } from '@urql/core';
import { client } from '../client';
import { CharitiesQuery } from '../operations';
import type { CharitiesQuery as CharitiesData } from '../gql/graphql';
import { errorText } from '../lib/errors';
import { Loading, Notice, useTitle } from '../components/ui';

type Charity = CharitiesData['charities']['edges'][number]['node'];

const PAGE = 20;

export function Charities() {
  useTitle('Charities');
  const [search, setSearch] = useState('');
  const [debounced, setDebounced] = useState('');
  const [items, setItems] = useState<Charity[]>([]);
  const [total, setTotal] = useState<number | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [hasMore, setHasMore] = useState(false);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<CombinedError | null>(null);
  const generation = useRef(0);

  useEffect(() => {
    const t = setTimeout(() => setDebounced(search.trim()), 300);
    return () => clearTimeout(t);
  }, [search]);

  async function load(after: string | null) {
    const gen = after ? generation.current : ++generation.current;
    setLoading(true);
    const r = await client
      .query(CharitiesQuery, { first: PAGE, after, search: debounced || null })
      .toPromise();
    if (gen !== generation.current) return; // a newer search answered first
    setLoading(false);
    setError(r.error ?? null);
    const c = r.data?.charities;
    if (!c) return;
    const page = c.edges.map((e) => e.node);
    setItems((prev) => (after ? [...prev, ...page] : page));
    setTotal(c.totalCount);
    setCursor(c.pageInfo.endCursor ?? null);
    setHasMore(c.pageInfo.hasNextPage);
  }

  useEffect(() => {
    void load(null);
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
          <button type="button" class="button" onClick={() => load(cursor)}>
            Load more charities
          </button>
        </p>
      )}
    </section>
  );
}
