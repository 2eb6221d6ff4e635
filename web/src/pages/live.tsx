// The event live: total against goal, top charities and the latest gifts, pushed by the
// eventTotals subscription. The console's overview shows the same parts.
import { useEffect } from 'preact/hooks';
import { useQuery, useSubscription } from '@urql/preact';
import { EventLiveQuery, EventTotalsSubscription } from '../operations';
import type { EventLiveFragment } from '../gql/graphql';
import { formatDateTime, formatTime, money, moneyShort } from '../lib/format';
import { GoalProgress, Loading, Notice, useTitle } from '../components/ui';

export interface LiveEvent {
  /** The latest numbers, undefined until the first answer. */
  event: EventLiveFragment | undefined;
  /** False while the subscription is down (then the query is asked every 10 seconds). */
  live: boolean;
  /** True when neither the query nor the subscription answered. */
  failed: boolean;
}

/** The event's numbers: the query's answer, then every push of the eventTotals subscription. */
export function useLiveEvent(): LiveEvent {
  const [res, refetch] = useQuery({ query: EventLiveQuery });
  const [sub] = useSubscription({ query: EventTotalsSubscription });
  // The subscription's latest push; the query's answer until the first one, or while the
  // subscription is down (then it is asked again every few seconds).
  const event: EventLiveFragment | undefined = sub.error
    ? (res.data?.event ?? sub.data?.eventTotals)
    : (sub.data?.eventTotals ?? res.data?.event);
  // Without live updates, ask again every 10 seconds.
  useEffect(() => {
    if (!sub.error) return;
    const t = setInterval(() => refetch(), 10_000);
    return () => clearInterval(t);
  }, [sub.error]);
  return { event, live: !sub.error, failed: !event && !!res.error };
}

export function LiveState({ e, live }: { e: EventLiveFragment; live: boolean }) {
  return (
    <p class="live-state">
      <span class={`dot ${live ? 'dot-on' : 'dot-off'}`} aria-hidden="true" />{' '}
      {live ? 'Updates live as gifts come in.' : 'Live updates paused: refreshing every 10 seconds.'}{' '}
      {e.open ? (
        <>
          Open until <time dateTime={e.endsAt}>{formatDateTime(e.endsAt)}</time>.
        </>
      ) : (
        <>
          Runs from <time dateTime={e.startsAt}>{formatDateTime(e.startsAt)}</time> to{' '}
          <time dateTime={e.endsAt}>{formatDateTime(e.endsAt)}</time>.
        </>
      )}
    </p>
  );
}

/** The total raised against the goal, and how many gifts. */
export function LiveTotal({ e, giveLink = false }: { e: EventLiveFragment; giveLink?: boolean }) {
  return (
    <div class="card live-total">
      <p class="hero-total">
        <span class="hero-amount" data-testid="event-total">
          {money(e.totalCents)}
        </span>{' '}
        <span class="hero-sub">
          raised of {moneyShort(e.goalCents)} from <span data-testid="event-count">{e.donationCount.toLocaleString('en-US')}</span>{' '}
          {e.donationCount === 1 ? 'gift' : 'gifts'}
        </span>
      </p>
      <GoalProgress totalCents={e.totalCents} goalCents={e.goalCents} label="Raised toward the goal" />
      {giveLink && e.open && (
        <p>
          <a class="button button-primary" href="/give">
            Give now
          </a>
        </p>
      )}
    </div>
  );
}

/** Top charities and the latest gifts, side by side on wide screens. */
export function LiveLists({ e }: { e: EventLiveFragment }) {
  return (
    <div class="live-grid">
      <section aria-labelledby="top-title" class="card">
        <h2 id="top-title">Top charities</h2>
        {e.charityTotals.length === 0 ? (
          <p>No gifts yet: be the first!</p>
        ) : (
          <ol class="top-list">
            {e.charityTotals.map((t) => (
              <li key={t.charity.id}>
                <span class="top-name">{t.charity.name}</span>
                <span class="top-amount">
                  {money(t.totalCents)}{' '}
                  <span class="muted">
                    ({t.donationCount} {t.donationCount === 1 ? 'gift' : 'gifts'})
                  </span>
                </span>
              </li>
            ))}
          </ol>
        )}
      </section>
      <section aria-labelledby="recent-title" class="card">
        <h2 id="recent-title">Latest gifts</h2>
        {e.recentDonations.length === 0 ? (
          <p>No gifts yet.</p>
        ) : (
          <ul class="recent-list" data-testid="recent-gifts">
            {e.recentDonations.map((r, i) => (
              <li key={`${r.settledAt}-${i}`}>
                <span>
                  <strong>{r.donorName}</strong> gave {money(r.amountCents)} to {r.charity.name}
                </span>
                <time class="muted" dateTime={r.settledAt}>
                  {formatTime(r.settledAt)}
                </time>
              </li>
            ))}
          </ul>
        )}
      </section>
    </div>
  );
}

export function Live() {
  useTitle('Live');
  const { event: e, live, failed } = useLiveEvent();
  if (!e) {
    if (failed) return <Notice kind="error">The event’s totals could not be loaded. Reload the page to try again.</Notice>;
    return <Loading />;
  }
  return (
    <section aria-labelledby="live-title" class="live">
      <h1 id="live-title">{e.name}: live</h1>
      <LiveState e={e} live={live} />
      <LiveTotal e={e} giveLink />
      <LiveLists e={e} />
    </section>
  );
}
