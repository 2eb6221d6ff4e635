// A gift's page: its status live over the donationUpdated subscription (no reload), what to do
// when the bank asks for 3-D Secure, and why it failed when it did.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { useQuery, useSubscription } from '@urql/preact';
import { useLocation, useRoute } from 'preact-iso';
import { client } from '../client';
import { DonationQuery, DonationUpdatedSubscription, PaymentsConfigQuery, RefreshDonationMutation } from '../operations';
import type { DonationDetailFragment } from '../gql/graphql';
import { cardLabel, formatDateTime, money } from '../lib/format';
import { errorText, hasCode, problems } from '../lib/errors';
import { useSessionExpiry } from '../auth';
import { FormAlert, Loading, Notice, StatusBadge, ThreeDSecureReturn, useTitle } from '../components/ui';

const FINAL = new Set(['SUCCEEDED', 'FAILED', 'REFUNDED']);

function explain(d: DonationDetailFragment): string {
  const gift = `${money(d.amountCents)} to ${d.charity.name}`;
  switch (d.status) {
    case 'PENDING':
      return `We have your gift of ${gift} and are sending it to your card’s bank.`;
    case 'PROCESSING':
      return `Your card is being charged for your gift of ${gift}…`;
    case 'SUCCEEDED':
      return `Thank you! Your gift of ${gift} went through. A receipt is on its way to your e-mail.`;
    case 'FAILED':
      return `Your gift of ${gift} did not go through, and your card was not charged.`;
    case 'REQUIRES_ACTION':
      return `Your bank asks you to confirm this payment of ${gift} (3-D Secure) before it goes through.`;
    case 'REFUNDED':
      return `Your gift of ${gift} was refunded to your card.`;
    default:
      return '';
  }
}

/** Whether a is at least as recent as b (a later answer wins a tie). */
function newer(a: DonationDetailFragment, b: DonationDetailFragment | null): boolean {
  return !b || Date.parse(a.updatedAt) >= Date.parse(b.updatedAt);
}

export function DonationPage() {
  const { params } = useRoute();
  const { query } = useLocation();
  const id = params.id ?? '';
  const [res, refetch] = useQuery({ query: DonationQuery, variables: { id } });
  const [sub] = useSubscription({ query: DonationUpdatedSubscription, variables: { id } });
  const [refreshed, setRefreshed] = useState<DonationDetailFragment | null>(null);
  const [checking, setChecking] = useState(false);
  const [messages, setMessages] = useState<string[]>([]);
  const [authBusy, setAuthBusy] = useState(false);
  useSessionExpiry(res.error);

  // The newest of what the query, the subscription and "Check again" said, computed while
  // rendering (no effect in between, so a push shows at once even in a background tab).
  const donation = useMemo(() => {
    let best: DonationDetailFragment | null = null;
    for (const d of [res.data?.donation, sub.data?.donationUpdated, refreshed]) {
      if (d && d.id === id && newer(d, best)) best = d;
    }
    return best;
  }, [res.data, sub.data, refreshed, id]);
  useTitle(donation ? `Your gift to ${donation.charity.name}` : 'Your gift');

  const final = donation ? FINAL.has(donation.status) : false;

  // Should the live updates fail, ask every few seconds instead until the gift settles.
  useEffect(() => {
    if (!sub.error || final) return;
    const t = setInterval(() => refetch(), 4000);
    return () => clearInterval(t);
  }, [sub.error, final]);

  // Coming back to this tab (after 3-D Secure in another): make sure it is current.
  useEffect(() => {
    const onVisible = () => {
      if (document.visibilityState === 'visible' && !final) refetch();
    };
    document.addEventListener('visibilitychange', onVisible);
    return () => document.removeEventListener('visibilitychange', onVisible);
  }, [final]);

  const needsStripe = donation?.status === 'REQUIRES_ACTION' && donation.nextAction && !donation.nextAction.url;
  const [cfg] = useQuery({ query: PaymentsConfigQuery, pause: !needsStripe });

  async function checkAgain() {
    if (checking) return;
    setChecking(true);
    setMessages([]);
    const r = await client.mutation(RefreshDonationMutation, { id }).toPromise();
    setChecking(false);
    if (r.data?.refreshDonation) setRefreshed(r.data.refreshDonation);
    else setMessages(problems(r.error).map((p) => p.message));
  }

  async function authenticateWithStripe() {
    const key = cfg.data?.paymentsConfig.publishableKey;
    const secret = donation?.nextAction?.clientSecret;
    if (!key || !secret || authBusy) return;
    setAuthBusy(true);
    setMessages([]);
    try {
      const stripe = await import('../lib/stripe');
      const err = await stripe.handleNextAction(key, secret);
      if (err) setMessages([err]);
    } catch (e) {
      setMessages([(e as Error).message]);
    }
    setAuthBusy(false);
    await checkAgain();
  }

  if (!donation) {
    if (res.fetching || (!res.data && !res.error)) return <Loading />;
    return (
      <section>
        <h1>Gift not found</h1>
        <Notice kind="error">
          {hasCode(res.error, 'NOT_FOUND') || (res.data && !res.data.donation)
            ? 'There is no gift of yours at this address.'
            : errorText(res.error) || 'The gift could not be loaded.'}
        </Notice>
        <p>
          <a href="/history">See all your gifts</a>
        </p>
      </section>
    );
  }

  const d = donation;
  return (
    <section aria-labelledby="gift-title">
      <h1 id="gift-title">Your gift to {d.charity.name}</h1>
      {/* The sandbox's 3-D Secure page sends the donor back here, in its own tab. */}
      <ThreeDSecureReturn status={query.redirect_status} />

      <div class={`card status-panel status-${d.status.toLowerCase()}`} role="status" aria-live="polite" aria-atomic="true">
        <p class="status-line">
          Status: <StatusBadge status={d.status} testid="donation-status" />
        </p>
        <p>{explain(d)}</p>
        {d.status === 'FAILED' && (
          <p class="failure" data-testid="failure-reason">
            <strong>Reason:</strong> {d.failureMessage || 'The payment was declined.'}
            {d.failureCode && (
              <>
                {' '}
                <span class="muted">
                  (code: <code>{d.failureCode}</code>)
                </span>
              </>
            )}
          </p>
        )}
      </div>

      <FormAlert messages={messages} />

      <div class="actions">
        {d.status === 'REQUIRES_ACTION' && d.nextAction?.url && (
          <a class="button button-primary" href={d.nextAction.url} target="_blank" rel="noopener">
            Complete 3-D Secure<span class="visually-hidden"> (opens in a new tab)</span>
          </a>
        )}
        {needsStripe && (
          <button type="button" class="button button-primary" onClick={authenticateWithStripe} disabled={authBusy || !cfg.data}>
            {authBusy ? 'Waiting for your bank…' : 'Complete 3-D Secure'}
          </button>
        )}
        {!final && (
          <button type="button" class="button" onClick={checkAgain} disabled={checking}>
            {checking ? 'Checking…' : 'Check again'}
          </button>
        )}
        {d.status === 'FAILED' && (
          <a class="button button-primary" href={`/give?charity=${encodeURIComponent(d.charity.id)}`}>
            Try again
          </a>
        )}
        {d.status === 'SUCCEEDED' && (
          <a class="button" href="/live">
            See the live total
          </a>
        )}
      </div>
      {d.status === 'REQUIRES_ACTION' && d.nextAction?.url && (
        <p class="hint">This page updates by itself once your bank has answered.</p>
      )}

      <h2>Details</h2>
      <dl class="details card">
        <dt>Charity</dt>
        <dd>{d.charity.name}</dd>
        <dt>Amount</dt>
        <dd data-testid="donation-amount">{money(d.amountCents)}</dd>
        <dt>Card</dt>
        <dd>{d.paymentMethod ? cardLabel(d.paymentMethod) : 'Removed card'}</dd>
        <dt>Given</dt>
        <dd>
          <time dateTime={d.createdAt}>{formatDateTime(d.createdAt)}</time>
        </dd>
        {d.settledAt && (
          <>
            <dt>{d.status === 'FAILED' ? 'Failed' : 'Settled'}</dt>
            <dd>
              <time dateTime={d.settledAt}>{formatDateTime(d.settledAt)}</time>
            </dd>
          </>
        )}
        <dt>Shown as</dt>
        <dd>{d.anonymous ? 'Anonymous' : 'Your name'}</dd>
        {d.message && (
          <>
            <dt>Message</dt>
            <dd class="message">{d.message}</dd>
          </>
        )}
      </dl>
      <p>
        <a href="/history">All your gifts</a>
      </p>
    </section>
  );
}
