package sandbox_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stripe/stripe-go/v76"
)

// TestCardOutcomes charges each test card the way the charge worker does (confirmed, off
// session) and checks what stripe-go surfaces.
func TestCardOutcomes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		card        string
		wantStatus  int // 0: success
		wantCode    stripe.ErrorCode
		wantDecline stripe.DeclineCode
		wantMsg     string
	}{
		{card: "pm_card_visa"},
		{card: "pm_card_mastercard"},
		{card: "pm_card_amex"},
		{card: "pm_card_chargeDeclined", wantStatus: 402, wantCode: stripe.ErrorCodeCardDeclined, wantDecline: "generic_decline", wantMsg: "Your card was declined."},
		{card: "pm_card_chargeDeclinedInsufficientFunds", wantStatus: 402, wantCode: stripe.ErrorCodeCardDeclined, wantDecline: "insufficient_funds", wantMsg: "Your card was declined."},
		{card: "pm_card_chargeDeclinedProcessingError", wantStatus: 402, wantCode: stripe.ErrorCodeProcessingError, wantMsg: "An error occurred while processing your card. Try again in a little bit."},
		{card: "pm_card_authenticationRequired", wantStatus: 402, wantCode: stripe.ErrorCodeAuthenticationRequired, wantDecline: "authentication_required"},
	} {
		t.Run(tc.card, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			cus, pm := b.customerWithCard(t, tc.card)
			pi, err := b.api.PaymentIntents.New(chargeParams(cus.ID, pm.ID, "don-1", 4200))
			charges := b.sb.Charges()
			if tc.wantStatus == 0 {
				if err != nil {
					t.Fatalf("charge: %v", err)
				}
				if pi.Status != stripe.PaymentIntentStatusSucceeded || pi.AmountReceived != 4200 || pi.LatestCharge == nil ||
					!strings.HasPrefix(pi.LatestCharge.ID, "ch_") || pi.LastPaymentError != nil || pi.Metadata["donation_id"] != "don-1" ||
					pi.PaymentMethod == nil || pi.PaymentMethod.ID != pm.ID || pi.Customer == nil || pi.Customer.ID != cus.ID {
					t.Errorf("intent = %+v", pi)
				}
				if len(charges) != 1 || charges[0].ID != pi.LatestCharge.ID || charges[0].PaymentIntent != pi.ID || charges[0].Amount != 4200 {
					t.Errorf("ledger = %+v", charges)
				}
				ev := b.waitEvent(t, pi.ID, "payment_intent.succeeded")
				if ev.Request == nil || ev.Request.IdempotencyKey != "donation-don-1" {
					t.Errorf("event request = %+v", ev.Request)
				}
				return
			}
			se := stripeErr(t, err)
			if se.HTTPStatusCode != tc.wantStatus || se.Type != stripe.ErrorTypeCard || se.Code != tc.wantCode || se.DeclineCode != tc.wantDecline {
				t.Errorf("error = status %d type %s code %s decline %s", se.HTTPStatusCode, se.Type, se.Code, se.DeclineCode)
			}
			if tc.wantMsg != "" && se.Msg != tc.wantMsg {
				t.Errorf("message = %q, want %q", se.Msg, tc.wantMsg)
			}
			var cardErr *stripe.CardError
			if se.Err == nil || fmt.Sprintf("%T", se.Err) != fmt.Sprintf("%T", cardErr) {
				t.Errorf("typed error = %T, want *stripe.CardError", se.Err)
			}
			if se.LastResponse == nil || se.LastResponse.Header.Get("Stripe-Should-Retry") != "false" {
				t.Errorf("Stripe-Should-Retry missing on a 402")
			}
			if se.PaymentIntent == nil || se.PaymentIntent.Status != stripe.PaymentIntentStatusRequiresPaymentMethod ||
				se.PaymentIntent.LastPaymentError == nil || se.PaymentIntent.LastPaymentError.Code != tc.wantCode ||
				se.PaymentIntent.Metadata["donation_id"] != "don-1" {
				t.Errorf("error's intent = %+v", se.PaymentIntent)
			}
			if se.PaymentMethod == nil || se.PaymentMethod.ID != pm.ID {
				t.Errorf("error's payment method = %+v", se.PaymentMethod)
			}
			if len(charges) != 0 {
				t.Errorf("a failed charge is in the ledger: %+v", charges)
			}
			got, err := b.api.PaymentIntents.Get(se.PaymentIntent.ID, nil)
			if err != nil || got.Status != stripe.PaymentIntentStatusRequiresPaymentMethod || got.LastPaymentError == nil ||
				got.LastPaymentError.PaymentMethod == nil || got.LastPaymentError.PaymentMethod.ID != pm.ID || got.PaymentMethod != nil {
				t.Errorf("stored intent = %+v, %v", got, err)
			}
			b.waitEvent(t, se.PaymentIntent.ID, "payment_intent.payment_failed")
		})
	}
}

func TestAuthenticationRequiredOnSession(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cus, pm := b.customerWithCard(t, "pm_card_authenticationRequired")
	params := chargeParams(cus.ID, pm.ID, "don-3ds", 1500)
	params.OffSession = nil
	pi, err := b.api.PaymentIntents.New(params)
	if err != nil {
		t.Fatalf("charge on session: %v", err)
	}
	if pi.Status != stripe.PaymentIntentStatusRequiresAction || pi.NextAction == nil ||
		pi.NextAction.Type != stripe.PaymentIntentNextActionTypeUseStripeSDK || pi.NextAction.UseStripeSDK == nil {
		t.Fatalf("intent = %+v next_action %+v", pi, pi.NextAction)
	}
	b.waitEvent(t, pi.ID, "payment_intent.requires_action")
	if n := len(b.sb.Charges()); n != 0 {
		t.Errorf("%d charges before authentication", n)
	}
	// A confirmation off session cannot answer the challenge either.
	_, err = b.api.PaymentIntents.Confirm(pi.ID, &stripe.PaymentIntentConfirmParams{OffSession: stripe.Bool(true)})
	if se := stripeErr(t, err); se.Code != stripe.ErrorCodeAuthenticationRequired || se.HTTPStatusCode != 402 {
		t.Errorf("confirm off session: %+v", se)
	}
}

func TestConfirmRetryAndCancel(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cus, flaky := b.customerWithCard(t, "pm_card_chargeDeclinedProcessingError")
	visa, err := b.api.PaymentMethods.Attach("pm_card_visa", &stripe.PaymentMethodAttachParams{Customer: stripe.String(cus.ID)})
	if err != nil {
		t.Fatal(err)
	}

	// Created unconfirmed: requires_confirmation with a method, requires_payment_method without.
	p := &stripe.PaymentIntentParams{Amount: stripe.Int64(3000), Currency: stripe.String("usd"), Customer: stripe.String(cus.ID), PaymentMethod: stripe.String(flaky.ID)}
	pi, err := b.api.PaymentIntents.New(p)
	if err != nil || pi.Status != stripe.PaymentIntentStatusRequiresConfirmation {
		t.Fatalf("create: %+v, %v", pi, err)
	}
	// Every confirmation with the flaky card fails the same retryable way.
	for i := 0; i < 2; i++ {
		_, err = b.api.PaymentIntents.Confirm(pi.ID, &stripe.PaymentIntentConfirmParams{PaymentMethod: stripe.String(flaky.ID), OffSession: stripe.Bool(true)})
		if se := stripeErr(t, err); se.Code != stripe.ErrorCodeProcessingError || se.HTTPStatusCode != 402 {
			t.Fatalf("confirm %d: %+v", i, se)
		}
	}
	// After a failure the intent has no method: confirming without one is refused.
	_, err = b.api.PaymentIntents.Confirm(pi.ID, &stripe.PaymentIntentConfirmParams{OffSession: stripe.Bool(true)})
	if se := stripeErr(t, err); se.HTTPStatusCode != 400 || se.Code != stripe.ErrorCodePaymentIntentUnexpectedState {
		t.Errorf("confirm without a method: %+v", se)
	}
	ok, err := b.api.PaymentIntents.Confirm(pi.ID, &stripe.PaymentIntentConfirmParams{PaymentMethod: stripe.String(visa.ID), OffSession: stripe.Bool(true)})
	if err != nil || ok.Status != stripe.PaymentIntentStatusSucceeded || ok.AmountReceived != 3000 {
		t.Fatalf("confirm with a good card: %+v, %v", ok, err)
	}
	_, err = b.api.PaymentIntents.Confirm(pi.ID, &stripe.PaymentIntentConfirmParams{PaymentMethod: stripe.String(visa.ID)})
	se := stripeErr(t, err)
	if se.HTTPStatusCode != 400 || se.Code != stripe.ErrorCodePaymentIntentUnexpectedState || se.PaymentIntent == nil ||
		se.PaymentIntent.Status != stripe.PaymentIntentStatusSucceeded {
		t.Errorf("confirm a succeeded intent: %+v", se)
	}
	_, err = b.api.PaymentIntents.Cancel(pi.ID, nil)
	if se := stripeErr(t, err); se.HTTPStatusCode != 400 || se.Code != stripe.ErrorCodePaymentIntentUnexpectedState {
		t.Errorf("cancel a succeeded intent: %+v", se)
	}
	if n := len(b.sb.Charges()); n != 1 {
		t.Errorf("ledger has %d charges, want 1", n)
	}

	other, err := b.api.PaymentIntents.New(&stripe.PaymentIntentParams{Amount: stripe.Int64(700), Currency: stripe.String("usd"), Customer: stripe.String(cus.ID)})
	if err != nil {
		t.Fatal(err)
	}
	canceled, err := b.api.PaymentIntents.Cancel(other.ID, &stripe.PaymentIntentCancelParams{CancellationReason: stripe.String("abandoned")})
	if err != nil || canceled.Status != stripe.PaymentIntentStatusCanceled || canceled.CanceledAt == 0 || canceled.CancellationReason != "abandoned" {
		t.Fatalf("cancel: %+v, %v", canceled, err)
	}
	b.waitEvent(t, other.ID, "payment_intent.canceled")
	_, err = b.api.PaymentIntents.Confirm(other.ID, &stripe.PaymentIntentConfirmParams{PaymentMethod: stripe.String(visa.ID)})
	if se := stripeErr(t, err); se.Code != stripe.ErrorCodePaymentIntentUnexpectedState {
		t.Errorf("confirm a canceled intent: %+v", se)
	}
}

func TestListIntentsByCustomer(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cus, visa := b.customerWithCard(t, "pm_card_visa")
	other, otherVisa := b.customerWithCard(t, "pm_card_visa")
	var ids []string
	for i := 0; i < 5; i++ {
		pi, err := b.api.PaymentIntents.New(chargeParams(cus.ID, visa.ID, fmt.Sprintf("don-%d", i), 1000+int64(i)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, pi.ID)
	}
	if _, err := b.api.PaymentIntents.New(chargeParams(other.ID, otherVisa.ID, "other", 1000)); err != nil {
		t.Fatal(err)
	}

	// The first page, newest first, as the worker reads it to match metadata.
	lp := &stripe.PaymentIntentListParams{Customer: stripe.String(cus.ID)}
	lp.Limit = stripe.Int64(2)
	lp.Single = true
	it := b.api.PaymentIntents.List(lp)
	var page []string
	for it.Next() {
		pi := it.PaymentIntent()
		if pi.Metadata["donation_id"] == "" {
			t.Errorf("listed intent without metadata: %+v", pi)
		}
		page = append(page, pi.ID)
	}
	if it.Err() != nil || len(page) != 2 || page[0] != ids[4] || page[1] != ids[3] || !it.PaymentIntentList().HasMore ||
		it.PaymentIntentList().URL != "/v1/payment_intents" {
		t.Errorf("first page = %v (has_more %v), %v; want %v", page, it.PaymentIntentList().HasMore, it.Err(), []string{ids[4], ids[3]})
	}

	// All pages: stripe-go follows starting_after.
	lp = &stripe.PaymentIntentListParams{Customer: stripe.String(cus.ID)}
	lp.Limit = stripe.Int64(2)
	it = b.api.PaymentIntents.List(lp)
	var all []string
	for it.Next() {
		all = append(all, it.PaymentIntent().ID)
	}
	want := []string{ids[4], ids[3], ids[2], ids[1], ids[0]}
	if it.Err() != nil || fmt.Sprint(all) != fmt.Sprint(want) {
		t.Errorf("all pages = %v, %v; want %v", all, it.Err(), want)
	}

	// ending_before pages back towards the newest; Stripe answers the page newest first and
	// stripe-go walks it backwards.
	lp = &stripe.PaymentIntentListParams{Customer: stripe.String(cus.ID)}
	lp.Limit = stripe.Int64(2)
	lp.EndingBefore = stripe.String(ids[1])
	lp.Single = true
	it = b.api.PaymentIntents.List(lp)
	var back []string
	for it.Next() {
		back = append(back, it.PaymentIntent().ID)
	}
	if it.Err() != nil || fmt.Sprint(back) != fmt.Sprint([]string{ids[2], ids[3]}) || !it.PaymentIntentList().HasMore {
		t.Errorf("ending_before page = %v, %v; want %v", back, it.Err(), []string{ids[2], ids[3]})
	}
}

func TestExpand(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cus, visa := b.customerWithCard(t, "pm_card_visa")
	p := chargeParams(cus.ID, visa.ID, "don-x", 1200)
	p.AddExpand("latest_charge")
	p.AddExpand("payment_method")
	pi, err := b.api.PaymentIntents.New(p)
	if err != nil {
		t.Fatal(err)
	}
	if pi.LatestCharge == nil || pi.LatestCharge.Amount != 1200 || pi.LatestCharge.Status != stripe.ChargeStatusSucceeded || !pi.LatestCharge.Paid {
		t.Errorf("expanded charge = %+v", pi.LatestCharge)
	}
	if pi.PaymentMethod == nil || pi.PaymentMethod.Card == nil || pi.PaymentMethod.Card.Last4 != "4242" {
		t.Errorf("expanded method = %+v", pi.PaymentMethod)
	}
	ch, err := b.api.Charges.Get(pi.LatestCharge.ID, nil)
	if err != nil || ch.PaymentIntent == nil || ch.PaymentIntent.ID != pi.ID {
		t.Errorf("get charge: %+v, %v", ch, err)
	}
}
