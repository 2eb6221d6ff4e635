import { useQuery, useSubscription } from '@urql/preact';
import { useLocation } from 'preact-iso';
import { EventSummaryQuery, EventTotalsSubscription } from '../operations';
import { formatDateTime, money, moneyShort } from '../lib/format';
import { GoalProgress, Loading, Notice, ThreeDSecureReturn, useTitle } from '../components/ui';

export function Home() {
  useTitle('');
  const { query } = useLocation();
  const [res] = useQuery({ query: EventSummaryQuery });
  // Keep the total moving while the page is open.
  const [live] = useSubscription({ query: EventTotalsSubscription });
  const event = live.data?.eventTotals ?? res.data?.event;

  // An older return address of the 3-D Secure page (the home page) lands here.
  const returned = query.redirect_status;

  return (
    <>
      <ThreeDSecureReturn status={returned} />
      <section class="hero" aria-labelledby="hero-title">
        <p class="eyebrow">{event ? (event.open ? 'Live now' : 'Charity event') : 'Charity event'}</p>
        <h1 id="hero-title">{event?.name ?? 'Giveathon'}</h1>
        <p class="lede">
          Giveathon is a charity drive: for its duration, donors give to the charities they choose, and every gift counts
          toward one shared goal you can watch grow live.
        </p>
        {res.fetching && !event && <Loading />}
        {res.error && !event && <Notice kind="error">The event’s totals could not be loaded just now.</Notice>}
        {event && (
          <>
            <p class="hero-total">
              <span class="hero-amount" data-testid="event-total">
                {money(event.totalCents)}
              </span>{' '}
              <span class="hero-sub">
                raised of {moneyShort(event.goalCents)} from {event.donationCount.toLocaleString('en-US')}{' '}
                {event.donationCount === 1 ? 'gift' : 'gifts'}
              </span>
            </p>
            <GoalProgress totalCents={event.totalCents} goalCents={event.goalCents} label="Raised toward the goal" />
            <p class="when">
              {event.open ? 'Donations are open until ' : 'The event runs from '}
              {event.open ? (
                <time dateTime={event.endsAt}>{formatDateTime(event.endsAt)}</time>
              ) : (
                <>
                  <time dateTime={event.startsAt}>{formatDateTime(event.startsAt)}</time> to{' '}
                  <time dateTime={event.endsAt}>{formatDateTime(event.endsAt)}</time>
                </>
              )}
              .
            </p>
          </>
        )}
        <p class="actions">
          <a class="button button-primary button-large" href="/give">
            Give now
          </a>
          <a class="button button-large" href="/live">
            Watch live
          </a>
        </p>
      </section>
      <section class="steps" aria-labelledby="how-title">
        <h2 id="how-title">How it works</h2>
        <ol>
          <li>
            <strong>Pick a charity.</strong> <a href="/charities">Browse the charities</a> taking part.
          </li>
          <li>
            <strong>Save a card.</strong> Your card is kept by our payment provider; we only keep its last four digits.
          </li>
          <li>
            <strong>Give.</strong> Follow your gift until it goes through, and find every gift in your history.
          </li>
        </ol>
      </section>
    </>
  );
}
