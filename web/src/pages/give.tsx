// The give form. One idempotency key per gift: made when the form is shown and kept for
// retries and double clicks, so one gift is never charged twice; a new one only when the gift
// itself changes after the server has seen it, or when the donor confirms a duplicate.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { useQuery } from '@urql/preact';
import { useLocation } from 'preact-iso';
import { client } from '../client';
import { CharityOptionsQuery, CharityQuery, GiveFormQuery, SubmitDonationMutation } from '../operations';
import type { SubmitDonationMutation as SubmitData } from '../gql/graphql';
import { cardLabel, formatTime, money, moneyShort, parseDollars, formatDateTime } from '../lib/format';
import { formErrors } from '../lib/errors';
import { newIdempotencyKey } from '../lib/ids';
import { useSessionExpiry } from '../auth';
import { AddCard } from '../components/add-card';
import { FieldError, FormAlert, Loading, Notice, useTitle } from '../components/ui';

const PRESETS = [1000, 2500, 5000, 10000];
const MIN_CENTS = 100;
const MAX_CENTS = 10_000_000;
const MAX_MESSAGE = 500;

type Field = 'charityId' | 'amountCents' | 'paymentMethodId' | 'message';
const FIELDS: Field[] = ['charityId', 'amountCents', 'paymentMethodId', 'message'];

type Duplicate = NonNullable<SubmitData['submitDonation']['duplicateOf']>;

export function Give() {
  useTitle('Give');
  const { query, route } = useLocation();
  const [form, refetchForm] = useQuery({ query: GiveFormQuery });
  const fixedCharity = query.charity || '';
  const [charityRes] = useQuery({ query: CharityQuery, variables: { id: fixedCharity }, pause: !fixedCharity });
  const [listRes] = useQuery({ query: CharityOptionsQuery, pause: !!fixedCharity });
  useSessionExpiry(form.error);

  const [charityId, setCharityId] = useState(fixedCharity);
  const [preset, setPreset] = useState<number | 'custom'>(2500);
  const [custom, setCustom] = useState('');
  const [cardId, setCardId] = useState('');
  const [message, setMessage] = useState('');
  const [anonymous, setAnonymous] = useState(false);
  const [errors, setErrors] = useState<Partial<Record<Field, string>>>({});
  const [formMessages, setFormMessages] = useState<string[]>([]);
  const [submitting, setSubmitting] = useState(false);
  const [duplicate, setDuplicate] = useState<Duplicate | null>(null);
  const [cardNotice, setCardNotice] = useState('');

  // The gift's key, and whether the server has seen it with the form as it is now.
  const key = useRef(newIdempotencyKey());
  const keySent = useRef(false);
  const confirmDuplicate = useRef(false);
  const inFlight = useRef(false);
  const refs = useRef<Partial<Record<Field, HTMLElement | null>>>({});

  const event = form.data?.event;
  const cards = form.data?.me?.paymentMethods ?? [];
  const charity = fixedCharity ? charityRes.data?.charity : listRes.data?.charities.edges.find((e) => e.node.id === charityId)?.node;
  const charities = useMemo(() => (listRes.data?.charities.edges ?? []).map((e) => e.node).filter((c) => c.active), [listRes.data]);

  useEffect(() => setCharityId(fixedCharity), [fixedCharity]);
  // Default to the donor's default card.
  useEffect(() => {
    if (!cards.length) return;
    if (!cards.some((c) => c.id === cardId)) setCardId((cards.find((c) => c.isDefault) ?? cards[0]).id);
  }, [form.data]);

  /** The gift changed: once the server has seen the key, the next submit is a new request. */
  function changed() {
    if (keySent.current) {
      key.current = newIdempotencyKey();
      keySent.current = false;
    }
    confirmDuplicate.current = false;
    setDuplicate(null);
  }

  const amountCents = preset === 'custom' ? parseDollars(custom) : preset;

  function validate(): Partial<Record<Field, string>> {
    const e: Partial<Record<Field, string>> = {};
    if (!charityId) e.charityId = 'Choose a charity.';
    if (preset === 'custom') {
      if (!custom.trim()) e.amountCents = 'Enter an amount in dollars, from $1 to $100,000.';
      else if (amountCents === null) e.amountCents = 'Enter the amount in dollars and cents, like 25 or 25.50.';
      else if (amountCents < MIN_CENTS) e.amountCents = 'The smallest gift is $1.';
      else if (amountCents > MAX_CENTS) e.amountCents = 'The largest gift is $100,000.';
    }
    if (!cardId) e.paymentMethodId = 'Choose a card.';
    if (message.length > MAX_MESSAGE) e.message = `Keep the message to ${MAX_MESSAGE} characters.`;
    return e;
  }

  function focusFirst(e: Partial<Record<Field, string>>) {
    const f = FIELDS.find((k) => e[k]);
    if (f) refs.current[f]?.focus();
  }

  async function submit(confirm: boolean) {
    // A second click (or Enter) while the first is on its way does nothing.
    if (inFlight.current || (event && !event.open)) return;
    const e = validate();
    setErrors(e);
    setFormMessages([]);
    if (Object.keys(e).length) {
      focusFirst(e);
      return;
    }
    if (confirm && !confirmDuplicate.current) {
      // Confirming is another request (its hash differs): it takes a key of its own.
      key.current = newIdempotencyKey();
      keySent.current = false;
      confirmDuplicate.current = true;
    }
    inFlight.current = true;
    setSubmitting(true);
    const input = {
      charityId,
      amountCents: amountCents!,
      paymentMethodId: cardId,
      idempotencyKey: key.current,
      message: message.trim() || null,
      anonymous,
      confirmDuplicate: confirmDuplicate.current,
    };
    const r = await client.mutation(SubmitDonationMutation, { input }).toPromise();
    inFlight.current = false;
    const answer = r.data?.submitDonation;
    // An answer (or a refusal) means the server has seen this key; a network failure may not:
    // either way a retry of the same gift reuses it, which is safe.
    if (answer || (r.error && r.error.graphQLErrors.length)) keySent.current = true;
    if (answer?.donation) {
      route(`/donations/${encodeURIComponent(answer.donation.id)}`);
      return;
    }
    setSubmitting(false);
    if (answer?.needsConfirmation) {
      setDuplicate(answer.duplicateOf ?? null);
      return;
    }
    const fe = formErrors(r.error, FIELDS);
    setErrors(fe.fields);
    setFormMessages(fe.form.length || Object.keys(fe.fields).length ? fe.form : ['The gift could not be sent. Please try again.']);
    focusFirst(fe.fields);
  }

  if (form.fetching && !form.data) return <Loading />;
  if (!form.data) {
    return (
      <section>
        <h1>Give</h1>
        <Notice kind="error">The give form could not be loaded. Reload the page to try again.</Notice>
      </section>
    );
  }

  const closed = event && !event.open;
  const describe = (f: Field, extra?: string) => [errors[f] ? `${f}-error` : '', extra ?? ''].filter(Boolean).join(' ') || undefined;

  return (
    <section aria-labelledby="give-title">
      <h1 id="give-title">{charity ? `Give to ${charity.name}` : 'Give'}</h1>
      {closed && (
        <Notice kind="warning">
          <p role="status">
            Donations are closed: {event.name} takes gifts from <time dateTime={event.startsAt}>{formatDateTime(event.startsAt)}</time> to{' '}
            <time dateTime={event.endsAt}>{formatDateTime(event.endsAt)}</time>.
          </p>
        </Notice>
      )}
      <p class="sr-status" role="status">
        {cardNotice}
      </p>
      {cards.length === 0 ? (
        <>
          <p class="lede">Add a card first: you can give as soon as it is saved.</p>
          <AddCard
            hasCards={false}
            onAdded={(c) => {
              setCardNotice(`${cardLabel(c)} saved. You can give now.`);
              refetchForm();
            }}
          />
        </>
      ) : (
        <form
          class="card form give-form"
          noValidate
          onSubmit={(ev) => {
            ev.preventDefault();
            void submit(false);
          }}
        >
          <FormAlert messages={formMessages} />

          <div class="field">
            {fixedCharity ? (
              <>
                <p class="label" id="charity-label">
                  Charity
                </p>
                {((charityRes.data && !charity) || (charityRes.error && !charityRes.data)) && (
                  <p class="field-error">
                    That charity was not found. <a href="/charities">Choose a charity</a>
                  </p>
                )}
                {charity && (
                  <p class="fixed-charity" aria-labelledby="charity-label">
                    <strong>{charity.name}</strong> <a href="/charities">Choose another</a>
                  </p>
                )}
                {charity && !charity.active && <p class="field-error">{charity.name} is not taking donations right now.</p>}
              </>
            ) : (
              <>
                <label for="charityId">Charity</label>
                <select
                  id="charityId"
                  ref={(el) => {
                    refs.current.charityId = el;
                  }}
                  value={charityId}
                  aria-invalid={errors.charityId ? true : undefined}
                  aria-describedby={describe('charityId')}
                  onChange={(ev) => {
                    setCharityId((ev.currentTarget as HTMLSelectElement).value);
                    changed();
                  }}
                >
                  <option value="">Choose a charity…</option>
                  {charities.map((c) => (
                    <option key={c.id} value={c.id}>
                      {c.name}
                    </option>
                  ))}
                </select>
              </>
            )}
            <FieldError id="charityId-error" message={errors.charityId} />
          </div>

          <fieldset class="field amounts" aria-describedby={describe('amountCents')}>
            <legend>Amount</legend>
            <div class="presets">
              {PRESETS.map((c) => (
                <div class="preset" key={c}>
                  <input
                    type="radio"
                    name="amount"
                    id={`amount-${c}`}
                    value={String(c)}
                    checked={preset === c}
                    onChange={() => {
                      setPreset(c);
                      changed();
                    }}
                  />
                  <label for={`amount-${c}`}>{moneyShort(c)}</label>
                </div>
              ))}
              <div class="preset">
                <input
                  type="radio"
                  name="amount"
                  id="amount-custom"
                  value="custom"
                  checked={preset === 'custom'}
                  onChange={() => {
                    setPreset('custom');
                    changed();
                    setTimeout(() => refs.current.amountCents?.focus());
                  }}
                />
                <label for="amount-custom">Other</label>
              </div>
            </div>
            <div class="custom-amount">
              <label for="custom-amount">Other amount in dollars</label>
              <span class="input-prefix">
                <span aria-hidden="true">$</span>
                <input
                  id="custom-amount"
                  ref={(el) => {
                    refs.current.amountCents = el;
                  }}
                  type="text"
                  inputMode="decimal"
                  autocomplete="off"
                  value={custom}
                  aria-invalid={errors.amountCents ? true : undefined}
                  aria-describedby={describe('amountCents', 'amount-hint')}
                  onInput={(ev) => {
                    setCustom((ev.currentTarget as HTMLInputElement).value);
                    if (preset !== 'custom') setPreset('custom');
                    changed();
                  }}
                />
              </span>
              <p class="hint" id="amount-hint">
                From $1 to $100,000.
              </p>
            </div>
            <FieldError id="amountCents-error" message={errors.amountCents} />
          </fieldset>

          <fieldset class="field radio-list" aria-describedby={describe('paymentMethodId')}>
            <legend>Card</legend>
            {cards.map((c) => (
              <div class="radio" key={c.id}>
                <input
                  type="radio"
                  name="card"
                  id={`card-${c.id}`}
                  value={c.id}
                  checked={cardId === c.id}
                  ref={(el) => {
                    if (cardId === c.id || !refs.current.paymentMethodId) refs.current.paymentMethodId = el;
                  }}
                  onChange={() => {
                    setCardId(c.id);
                    changed();
                  }}
                />
                <label for={`card-${c.id}`}>
                  {cardLabel(c)}
                  {c.isDefault ? ' (default)' : ''}
                </label>
              </div>
            ))}
            <p class="hint">
              <a href="/cards">Add or remove cards</a>
            </p>
            <FieldError id="paymentMethodId-error" message={errors.paymentMethodId} />
          </fieldset>

          <div class="field">
            <label for="message">Message to the charity (optional)</label>
            <textarea
              id="message"
              ref={(el) => {
                refs.current.message = el;
              }}
              rows={3}
              maxLength={MAX_MESSAGE}
              value={message}
              aria-invalid={errors.message ? true : undefined}
              aria-describedby={describe('message', 'message-hint')}
              onInput={(ev) => {
                setMessage((ev.currentTarget as HTMLTextAreaElement).value);
                changed();
              }}
            />
            <p class="hint" id="message-hint">
              Up to {MAX_MESSAGE} characters ({MAX_MESSAGE - message.length} left).
            </p>
            <FieldError id="message-error" message={errors.message} />
          </div>

          <div class="field check">
            <input
              id="anonymous"
              type="checkbox"
              checked={anonymous}
              onChange={(ev) => {
                setAnonymous((ev.currentTarget as HTMLInputElement).checked);
                changed();
              }}
            />
            <label for="anonymous">Give anonymously (your name is not shown on the live page)</label>
          </div>

          <div role="alert">
            {duplicate && (
              <div class="notice notice-warning duplicate">
                <p>
                  You gave the same amount to {duplicate.charity.name} less than a minute ago (
                  <a href={`/donations/${encodeURIComponent(duplicate.id)}`}>
                    {money(duplicate.amountCents)} at {formatTime(duplicate.createdAt)}
                  </a>
                  ). Give again anyway?
                </p>
                <p class="actions">
                  <button type="button" class="button button-primary" disabled={submitting} onClick={() => submit(true)}>
                    {submitting ? 'Giving…' : 'Yes, give again'}
                  </button>
                  <a class="button" href={`/donations/${encodeURIComponent(duplicate.id)}`}>
                    See the earlier gift
                  </a>
                </p>
              </div>
            )}
          </div>

          {!duplicate && (
            <button type="submit" class="button button-primary button-large" disabled={submitting || !!closed}>
              {submitting ? 'Giving…' : amountCents && amountCents >= MIN_CENTS ? `Give ${money(amountCents)}` : 'Give'}
            </button>
          )}
        </form>
      )}
    </section>
  );
}
