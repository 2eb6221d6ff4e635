// Adding a card: with the Stripe sandbox, a choice of Stripe's test cards by name; with a live
// key, Stripe's Payment Element (its code loaded only then).
import { useEffect, useState } from 'preact/hooks';
import type { ComponentType } from 'preact';
import { useQuery } from '@urql/preact';
import { client } from '../client';
import { AddPaymentMethodMutation, PaymentsConfigQuery } from '../operations';
import type { CardFragment } from '../gql/graphql';
import { formErrors } from '../lib/errors';
import { FieldError, FormAlert, Loading, Notice } from './ui';

type LiveForm = ComponentType<{ publishableKey: string; makeDefault: boolean; onAdded(card: CardFragment): void }>;

export function AddCard({ onAdded, hasCards, headingLevel = 2 }: { onAdded(card: CardFragment): void; hasCards: boolean; headingLevel?: 2 | 3 }) {
  const [cfg] = useQuery({ query: PaymentsConfigQuery });
  const config = cfg.data?.paymentsConfig;
  const [choice, setChoice] = useState('');
  const [makeDefault, setMakeDefault] = useState(false);
  const [busy, setBusy] = useState(false);
  const [fieldError, setFieldError] = useState<string | undefined>();
  const [messages, setMessages] = useState<string[]>([]);
  const [Live, setLive] = useState<LiveForm | null>(null);
  const [liveError, setLiveError] = useState('');
  const Heading = headingLevel === 2 ? 'h2' : 'h3';

  useEffect(() => {
    if (!config) return;
    if (config.sandbox) {
      if (!choice && config.testPaymentMethods.length) setChoice(config.testPaymentMethods[0].id);
      return;
    }
    import('./stripe-card')
      .then((m) => setLive(() => m.StripeCardForm))
      .catch(() => setLiveError('The card form could not be loaded. Reload the page to try again.'));
  }, [config]);

  async function addSandbox(ev: Event) {
    ev.preventDefault();
    if (busy) return;
    if (!choice) {
      setFieldError('Choose a test card.');
      return;
    }
    setBusy(true);
    setFieldError(undefined);
    setMessages([]);
    const r = await client
      .mutation(AddPaymentMethodMutation, { input: { providerPaymentMethodId: choice, makeDefault } })
      .toPromise();
    setBusy(false);
    const card = r.data?.addPaymentMethod;
    if (card) {
      onAdded(card);
      return;
    }
    const fe = formErrors(r.error, ['providerPaymentMethodId']);
    setFieldError(fe.fields.providerPaymentMethodId);
    setMessages(fe.form);
  }

  const makeDefaultBox = hasCards && (
    <div class="field check">
      <input id="card-default" type="checkbox" checked={makeDefault} onChange={(e) => setMakeDefault((e.currentTarget as HTMLInputElement).checked)} />
      <label for="card-default">Make it my default card</label>
    </div>
  );

  return (
    <section class="card add-card" aria-labelledby="add-card-title">
      <Heading id="add-card-title">Add a card</Heading>
      {cfg.fetching && !config && <Loading />}
      {cfg.error && !config && <Notice kind="error">Card settings could not be loaded. Reload the page to try again.</Notice>}
      {config?.sandbox && (
        <form onSubmit={addSandbox} noValidate>
          <p class="hint">
            This is a test deployment: no real card is charged. Choose one of Stripe’s test cards to see how each behaves.
          </p>
          <FormAlert messages={messages} />
          <fieldset class="radio-list" aria-describedby={fieldError ? 'test-card-error' : undefined}>
            <legend>Test card</legend>
            {config.testPaymentMethods.map((m) => (
              <div class="radio" key={m.id}>
                <input
                  type="radio"
                  name="test-card"
                  id={`test-card-${m.id}`}
                  value={m.id}
                  checked={choice === m.id}
                  onChange={() => setChoice(m.id)}
                />
                <label for={`test-card-${m.id}`}>
                  {m.label} <code>{m.id}</code>
                </label>
              </div>
            ))}
          </fieldset>
          <FieldError id="test-card-error" message={fieldError} />
          {makeDefaultBox}
          <button type="submit" class="button button-primary" disabled={busy}>
            {busy ? 'Adding card…' : 'Add card'}
          </button>
        </form>
      )}
      {config && !config.sandbox && (
        <>
          {makeDefaultBox}
          {liveError && <Notice kind="error">{liveError}</Notice>}
          {Live ? (
            <Live publishableKey={config.publishableKey} makeDefault={makeDefault} onAdded={onAdded} />
          ) : (
            !liveError && <Loading label="Loading the secure card form…" />
          )}
        </>
      )}
    </section>
  );
}
