import { useEffect, useState } from 'preact/hooks';
import { useQuery } from '@urql/preact';
import { useLocation } from 'preact-iso';
import { client } from '../client';
import { MyCardsQuery, PaymentsConfigQuery, RemovePaymentMethodMutation } from '../operations';
import type { CardFragment } from '../gql/graphql';
import { cardLabel } from '../lib/format';
import { problems } from '../lib/errors';
import { useSessionExpiry } from '../auth';
import { AddCard } from '../components/add-card';
import { FormAlert, Loading, useTitle } from '../components/ui';

function expiry(c: CardFragment): string {
  return `${String(c.expMonth).padStart(2, '0')}/${c.expYear}`;
}

export function Cards() {
  useTitle('Your cards');
  const { query, route } = useLocation();
  const [res, refetch] = useQuery({ query: MyCardsQuery });
  const [cfg] = useQuery({ query: PaymentsConfigQuery });
  const [status, setStatus] = useState('');
  const [messages, setMessages] = useState<string[]>([]);
  const [removing, setRemoving] = useState('');
  useSessionExpiry(res.error);
  const cards = res.data?.me?.paymentMethods ?? [];

  // Back from a bank's page while saving a card with live Stripe (confirmSetup's return_url).
  const redirectSecret = query.setup_intent_client_secret;
  const config = cfg.data?.paymentsConfig;
  useEffect(() => {
    if (!redirectSecret || !config || config.sandbox) return;
    import('../components/stripe-card').then(async (m) => {
      const r = await m.finishRedirectedSetup(config.publishableKey, redirectSecret, query.default === '1');
      route('/cards', true);
      if (typeof r === 'string') setMessages([r]);
      else {
        setStatus(`${cardLabel(r)} saved.`);
        refetch();
      }
    });
  }, [redirectSecret, config]);

  async function remove(c: CardFragment) {
    if (removing) return;
    setRemoving(c.id);
    setMessages([]);
    const r = await client.mutation(RemovePaymentMethodMutation, { id: c.id }).toPromise();
    setRemoving('');
    if (r.data?.removePaymentMethod) {
      setStatus(`${cardLabel(c)} removed.`);
      refetch();
    } else setMessages(problems(r.error).map((p) => p.message));
  }

  return (
    <section aria-labelledby="cards-title">
      <h1 id="cards-title">Your cards</h1>
      <p class="lede">Cards you can give with. Our payment provider keeps them; we only keep the brand and last four digits.</p>
      <p class="sr-status" role="status">
        {status}
      </p>
      <FormAlert messages={messages} />
      {res.fetching && !res.data && <Loading />}
      {res.data &&
        (cards.length ? (
          <ul class="card-list" aria-label="Saved cards">
            {cards.map((c) => (
              <li key={c.id} class="card saved-card">
                <div>
                  <p class="card-name">
                    {cardLabel(c)} {c.isDefault && <span class="badge badge-default">Default</span>}
                  </p>
                  <p class="muted">Expires {expiry(c)}</p>
                </div>
                <button
                  type="button"
                  class="button button-danger"
                  onClick={() => remove(c)}
                  disabled={removing === c.id}
                  aria-label={`Remove ${cardLabel(c)}`}
                >
                  {removing === c.id ? 'Removing…' : 'Remove'}
                </button>
              </li>
            ))}
          </ul>
        ) : (
          <p>You have no saved card yet.</p>
        ))}
      <AddCard
        hasCards={cards.length > 0}
        onAdded={(c) => {
          setStatus(`${cardLabel(c)} saved.`);
          refetch();
        }}
      />
      {cards.length > 0 && (
        <p>
          <a class="button button-primary" href="/give">
            Give now
          </a>
        </p>
      )}
    </section>
  );
}
