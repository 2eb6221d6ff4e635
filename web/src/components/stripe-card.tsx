// The live card form: Stripe's Payment Element in a SetupIntent. Imported on demand only
// (when paymentsConfig.sandbox is false).
import { useEffect, useRef, useState } from 'preact/hooks';
import type { StripeElements, Stripe } from '@stripe/stripe-js';
import { client } from '../client';
import { AddPaymentMethodMutation, CreateSetupIntentMutation } from '../operations';
import { errorText, problems } from '../lib/errors';
import { getStripe, retrieveSetupIntent, setupPaymentMethodId } from '../lib/stripe';
import { FormAlert, Loading } from './ui';
import type { CardFragment } from '../gql/graphql';

interface Props {
  publishableKey: string;
  makeDefault: boolean;
  onAdded(card: CardFragment): void;
}

async function save(pmId: string, makeDefault: boolean): Promise<CardFragment | string> {
  const r = await client
    .mutation(AddPaymentMethodMutation, { input: { providerPaymentMethodId: pmId, makeDefault } })
    .toPromise();
  if (r.data?.addPaymentMethod) return r.data.addPaymentMethod;
  return (
    errorText(r.error) || 'The card could not be saved.'
  );
}

export function StripeCardForm({ publishableKey, makeDefault, onAdded }: Props) {
  const mount = useRef<HTMLDivElement>(null);
  const stripe = useRef<Stripe | null>(null);
  const elements = useRef<StripeElements | null>(null);
  const [ready, setReady] = useState(false);
  const [busy, setBusy] = useState(false);
  const [messages, setMessages] = useState<string[]>([]);

  useEffect(() => {
    let cancelled = false;
    let destroy: (() => void) | undefined;
    (async () => {
      const si = await client.mutation(CreateSetupIntentMutation, {}).toPromise();
      const secret = si.data?.createSetupIntent.clientSecret;
      if (!secret) {
        if (!cancelled) setMessages(problems(si.error).map((p) => p.message));
        return;
      }
      try {
        const s = await getStripe(si.data?.createSetupIntent.publishableKey || publishableKey);
        if (cancelled || !mount.current) return;
        const els = s.elements({
          clientSecret: secret,
          appearance: { theme: 'stripe', variables: { colorPrimary: '#0b5cad', borderRadius: '6px' } },
        });
        const pe = els.create('payment', { layout: 'tabs' });
        pe.on('ready', () => setReady(true));
        pe.mount(mount.current);
        stripe.current = s;
        elements.current = els;
        destroy = () => pe.destroy();
      } catch (e) {
        if (!cancelled) setMessages([(e as Error).message]);
      }
    })();
    return () => {
      cancelled = true;
      destroy?.();
    };
  }, [publishableKey]);

  async function submit() {
    if (busy || !stripe.current || !elements.current) return;
    setBusy(true);
    setMessages([]);
    const returnURL = `${location.origin}/cards?default=${makeDefault ? '1' : '0'}`;
    const { error, setupIntent } = await stripe.current.confirmSetup({
      elements: elements.current,
      redirect: 'if_required',
      confirmParams: { return_url: returnURL },
    });
    if (error) {
      setBusy(false);
      setMessages([error.message ?? 'The card was not accepted.']);
      return;
    }
    const pm = setupIntent && setupIntent.status === 'succeeded' ? setupPaymentMethodId(setupIntent) : null;
    if (!pm) {
      setBusy(false);
      setMessages(['The card is still being checked by its bank. Try again in a moment.']);
      return;
    }
    const saved = await save(pm, makeDefault);
    setBusy(false);
    if (typeof saved === 'string') setMessages([saved]);
    else onAdded(saved);
  }

  return (
    <div class="stripe-form">
      <FormAlert messages={messages} />
      {!ready && messages.length === 0 && <Loading label="Loading the secure card form…" />}
      <div ref={mount} class="payment-element" />
      <button type="button" class="button button-primary" disabled={!ready || busy} onClick={submit}>
        {busy ? 'Saving your card…' : 'Save card'}
      </button>
    </div>
  );
}

/**
 * Finishes a card whose bank sent the donor away and back (the return_url of confirmSetup):
 * resolves with the saved card, or a message.
 */
export async function finishRedirectedSetup(
  publishableKey: string,
  clientSecret: string,
  makeDefault: boolean,
): Promise<CardFragment | string> {
  try {
    const si = await retrieveSetupIntent(publishableKey, clientSecret);
    const pm = si.status === 'succeeded' ? setupPaymentMethodId(si) : null;
    if (!pm) return 'The card was not confirmed by its bank.';
    return await save(pm, makeDefault);
  } catch (e) {
    return (e as Error).message;
  }
}
