// The console's donations search: any donor's gifts, newest first, filtered by status, donor
// e-mail and charity, a page at a time; a SUCCEEDED gift can be refunded after a confirmation.
import type { Ref } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { useQuery } from '@urql/preact';
import { client } from '../client';
import { AdminDonationsQuery, CharityOptionsQuery, RefundDonationMutation } from '../operations';
import type { AdminDonationFilter, AdminDonationRowFragment, AdminDonationsQuery as AdminDonationsData, DonationStatus } from '../gql/graphql';
import { errorText, hasCode } from '../lib/errors';
import { formatDateTime, money } from '../lib/format';
import { useSessionExpiry } from '../auth';
import { pageOf, usePagedList } from '../lib/paging';
import { FormAlert, Loading, Notice, StatusBadge, statusLabel, useTitle } from '../components/ui';
import { ConsoleRefused } from './console';

type Row = AdminDonationsData['adminDonations']['edges'][number];

const PAGE = 20;
const STATUSES: DonationStatus[] = ['PENDING', 'PROCESSING', 'SUCCEEDED', 'FAILED', 'REQUIRES_ACTION', 'REFUNDED'];

interface Filter {
  status: string;
  email: string;
  charityId: string;
}

function toInput(f: Filter): AdminDonationFilter {
  const out: AdminDonationFilter = {};
  if (f.status) out.status = f.status as DonationStatus;
  if (f.email.trim()) out.email = f.email.trim();
  if (f.charityId) out.charityId = f.charityId;
  return out;
}

export function ConsoleDonations() {
  useTitle('Donations · Console');
  const [draft, setDraft] = useState<Filter>({ status: '', email: '', charityId: '' });
  const [filter, setFilter] = useState<Filter>(draft);
  const [charities] = useQuery({ query: CharityOptionsQuery });
  const { items: rows, setItems: setRows, total, hasMore, loading, error, firstNew, focusIndex, loadMore } = usePagedList<Row, HTMLHeadingElement>(
    async (after) => {
      const r = await client.query(AdminDonationsQuery, { filter: toInput(filter), first: PAGE, after }).toPromise();
      const conn = r.data?.adminDonations;
      return { error: r.error, page: conn && pageOf(conn, conn.edges) };
    },
    [filter],
  );
  useSessionExpiry(error);

  if (hasCode(error, 'FORBIDDEN')) return <ConsoleRefused />;

  function onSubmit(e: Event) {
    e.preventDefault();
    setFilter({ ...draft });
  }
  function reset() {
    const empty = { status: '', email: '', charityId: '' };
    setDraft(empty);
    setFilter(empty);
  }
  function replace(node: AdminDonationRowFragment) {
    setRows((prev) => prev.map((r) => (r.node.id === node.id ? { ...r, node } : r)));
  }

  const options = charities.data?.charities.edges.map((e) => e.node) ?? [];
  const filtered = !!(filter.status || filter.email.trim() || filter.charityId);
  return (
    <section aria-labelledby="donations-title">
      <h1 id="donations-title">Donations</h1>
      <form class="card filters" role="search" aria-label="Find donations" onSubmit={onSubmit}>
        <div class="field">
          <label for="filter-status">Status</label>
          <select id="filter-status" value={draft.status} onChange={(e) => setDraft({ ...draft, status: e.currentTarget.value })}>
            <option value="">Any status</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {statusLabel(s)}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="filter-email">Donor e-mail</label>
          <input
            id="filter-email"
            type="email"
            value={draft.email}
            autocomplete="off"
            placeholder="ada@example.org"
            onInput={(e) => setDraft({ ...draft, email: e.currentTarget.value })}
          />
        </div>
        <div class="field">
          <label for="filter-charity">Charity</label>
          <select id="filter-charity" value={draft.charityId} onChange={(e) => setDraft({ ...draft, charityId: e.currentTarget.value })}>
            <option value="">Any charity</option>
            {options.map((c) => (
              <option key={c.id} value={c.id}>
                {c.name}
              </option>
            ))}
          </select>
        </div>
        <div class="filter-actions">
          <button type="submit" class="button-primary">
            Search
          </button>
          <button type="button" onClick={reset}>
            Clear
          </button>
        </div>
      </form>
      <p class="result-count" role="status" aria-live="polite" data-testid="donations-count">
        {total === null
          ? ''
          : `${total} ${total === 1 ? 'donation' : 'donations'}${filtered ? ' match' : ''}${total === 1 && filtered ? 'es' : ''}, newest first.`}
      </p>
      {error && <Notice kind="error">{errorText(error)}</Notice>}
      {rows.length > 0 && (
        <ul class="admin-list" aria-label="Donations">
          {rows.map((r, i) => (
            <DonationRow key={r.node.id} row={r} headingRef={i === focusIndex ? firstNew : undefined} onChange={replace} />
          ))}
        </ul>
      )}
      {loading && <Loading />}
      {!loading && total === 0 && <p>No donation matches. Try another status, e-mail or charity.</p>}
      {hasMore && !loading && (
        <p>
          <button type="button" onClick={loadMore}>
            Load more donations
          </button>
        </p>
      )}
    </section>
  );
}

function DonationRow({
  row,
  headingRef,
  onChange,
}: {
  row: Row;
  headingRef?: Ref<HTMLHeadingElement>;
  onChange(node: AdminDonationRowFragment): void;
}) {
  const d = row.node;
  const [confirming, setConfirming] = useState(false);
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string[]>([]);
  const [done, setDone] = useState('');
  const refundButton = useRef<HTMLButtonElement>(null);
  const reasonInput = useRef<HTMLTextAreaElement>(null);
  const titleId = `donation-${d.id}`;
  const label = `${money(d.amountCents)} to ${d.charity.name}`;

  useEffect(() => {
    if (confirming) reasonInput.current?.focus();
  }, [confirming]);

  function cancel() {
    setConfirming(false);
    setProblem([]);
    // Back to where the admin was, after Preact has put the button back.
    setTimeout(() => refundButton.current?.focus(), 0);
  }

  async function refund(e: Event) {
    e.preventDefault();
    setBusy(true);
    setProblem([]);
    const r = await client.mutation(RefundDonationMutation, { input: { donationId: d.id, reason: reason.trim() || null } }).toPromise();
    setBusy(false);
    const after = r.data?.refundDonation;
    if (!after) {
      setProblem([errorText(r.error) || 'The refund was not made. Please try again.']);
      return;
    }
    setConfirming(false);
    setDone(
      after.status === 'REFUNDED'
        ? `Refunded ${label}.`
        : `Refund asked: the gift is ${statusLabel(after.status).toLowerCase()} until the payment provider confirms it.`,
    );
    onChange(after);
  }

  const failedAttempts = d.attempts.filter((a) => a.status !== 'succeeded' && a.status !== 'started').length;
  return (
    <li class="card admin-item" data-testid="admin-donation" data-id={d.id}>
      <div class="admin-item-head">
        <h2 class="admin-item-title" id={titleId} tabIndex={-1} ref={headingRef}>
          {label}
        </h2>
        <StatusBadge status={d.status} testid="donation-status" />
      </div>
      <dl class="details details-compact">
        <dt>Donor</dt>
        <dd>
          {row.donor.name || <span class="muted">(erased)</span>}
          {row.donor.email && <span class="muted"> · {row.donor.email}</span>}
          {d.anonymous && <span class="muted"> · anonymous</span>}
        </dd>
        <dt>Made</dt>
        <dd>
          <time dateTime={d.createdAt}>{formatDateTime(d.createdAt)}</time>
          {d.settledAt && (
            <span class="muted">
              {' '}
              · settled <time dateTime={d.settledAt}>{formatDateTime(d.settledAt)}</time>
            </span>
          )}
        </dd>
        <dt>Attempts</dt>
        <dd>
          {d.attempts.length}
          {failedAttempts > 0 && <span class="muted"> ({failedAttempts} not succeeded)</span>}
          {d.failureCode && <span class="failure"> · {d.failureCode}</span>}
        </dd>
        {d.dispute && (
          <>
            <dt>Dispute</dt>
            <dd class="failure">
              {d.dispute.status} ({d.dispute.reason})
            </dd>
          </>
        )}
        <dt>ID</dt>
        <dd>
          <code>{d.id}</code>
        </dd>
      </dl>
      <p class="sr-status" role="status">
        {done}
      </p>
      {d.status === 'SUCCEEDED' && !confirming && (
        <p class="admin-item-actions">
          <button type="button" class="button-danger button-small" ref={refundButton} onClick={() => setConfirming(true)} aria-describedby={titleId}>
            Refund
          </button>
        </p>
      )}
      {confirming && (
        <form class="confirm" onSubmit={refund} aria-labelledby={`${titleId}-confirm`}>
          <p class="confirm-title" id={`${titleId}-confirm`}>
            Refund {row.donor.name ? `${row.donor.name}’s` : 'this'} gift of {money(d.amountCents)} to {d.charity.name} in full?
          </p>
          <p class="hint">The card is refunded through Stripe, the totals go down and the donor gets one e-mail. This cannot be undone.</p>
          <div class="field">
            <label for={`${titleId}-reason`}>Reason (optional)</label>
            <textarea
              id={`${titleId}-reason`}
              ref={reasonInput}
              rows={2}
              maxLength={500}
              value={reason}
              onInput={(e) => setReason(e.currentTarget.value)}
            />
          </div>
          <FormAlert messages={problem} />
          <div class="actions">
            <button type="submit" class="button-danger" disabled={busy}>
              {busy ? 'Refunding…' : 'Confirm refund'}
            </button>
            <button type="button" onClick={cancel} disabled={busy}>
              Cancel
            </button>
          </div>
        </form>
      )}
    </li>
  );
}
