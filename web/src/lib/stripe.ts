// Live Stripe (a real publishable key): loaded only through dynamic import(), so with the
// sandbox neither this module nor Stripe.js is ever fetched. @stripe/stripe-js loads Stripe.js
// itself; our server never sees a card number.
import { loadStripe, type Stripe, type SetupIntent } from '@stripe/stripe-js';

let loaded: { key: string; stripe: Promise<Stripe | null> } | undefined;

/** Stripe.js for this publishable key, loaded once. */
export async function getStripe(publishableKey: string): Promise<Stripe> {
  if (!loaded || loaded.key !== publishableKey) {
    loaded = { key: publishableKey, stripe: loadStripe(publishableKey) };
  }
  const stripe = await loaded.stripe.catch(() => null);
  if (!stripe) {
    loaded = undefined;
    throw new Error('The card form could not be loaded. Check your connection and try again.');
  }
  return stripe;
}

/** The saved card's payment method id (pm_...) of a confirmed SetupIntent. */
export function setupPaymentMethodId(si: SetupIntent): string | null {
  const pm = si.payment_method;
  if (!pm) return null;
  return typeof pm === 'string' ? pm : pm.id;
}

/**
 * Runs the donor's next step for a payment that needs it (3-D Secure) in Stripe's own dialog.
 * Resolves with an error message for the donor, or null when Stripe is done (succeeded or not:
 * the caller asks our server for the outcome).
 */
export async function handleNextAction(publishableKey: string, clientSecret: string): Promise<string | null> {
  const stripe = await getStripe(publishableKey);
  const result = await stripe.handleNextAction({ clientSecret });
  if (result.error) return result.error.message ?? 'The card issuer did not confirm this payment.';
  return null;
}

/** After a redirect back from a bank's page, the SetupIntent that came back with it. */
export async function retrieveSetupIntent(publishableKey: string, clientSecret: string): Promise<SetupIntent> {
  const stripe = await getStripe(publishableKey);
  const r = await stripe.retrieveSetupIntent(clientSecret);
  if (r.error || !r.setupIntent) throw new Error(r.error?.message ?? 'The card could not be confirmed.');
  return r.setupIntent;
}
