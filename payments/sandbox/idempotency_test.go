package sandbox_test

import (
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/giveathon/giveathon/payments/sandbox"
	"github.com/stripe/stripe-go/v76"
)

func replayed(r *stripe.APIResponse) bool {
	return r != nil && r.Header.Get("Idempotent-Replayed") == "true"
}

func TestIdempotentReplay(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cus, visa := b.customerWithCard(t, "pm_card_visa")
	declined, err := b.api.PaymentMethods.Attach("pm_card_chargeDeclined", &stripe.PaymentMethodAttachParams{Customer: stripe.String(cus.ID)})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("success", func(t *testing.T) {
		first, err := b.api.PaymentIntents.New(chargeParams(cus.ID, visa.ID, "ok", 1000))
		if err != nil {
			t.Fatal(err)
		}
		if replayed(first.LastResponse) {
			t.Error("first answer marked as replayed")
		}
		again, err := b.api.PaymentIntents.New(chargeParams(cus.ID, visa.ID, "ok", 1000))
		if err != nil || again.ID != first.ID || again.Status != stripe.PaymentIntentStatusSucceeded || !replayed(again.LastResponse) {
			t.Fatalf("replay = %+v, %v", again, err)
		}
		if c := b.sb.Charges(); len(c) != 1 {
			t.Errorf("ledger after a replay = %+v", c)
		}
	})

	t.Run("decline", func(t *testing.T) {
		_, err1 := b.api.PaymentIntents.New(chargeParams(cus.ID, declined.ID, "no", 1000))
		_, err2 := b.api.PaymentIntents.New(chargeParams(cus.ID, declined.ID, "no", 1000))
		se1, se2 := stripeErr(t, err1), stripeErr(t, err2)
		if se2.HTTPStatusCode != 402 || se2.DeclineCode != "generic_decline" || se1.PaymentIntent.ID != se2.PaymentIntent.ID ||
			!replayed(se2.LastResponse) {
			t.Errorf("replayed decline = %+v", se2)
		}
	})

	t.Run("different parameters", func(t *testing.T) {
		_, err := b.api.PaymentIntents.New(chargeParams(cus.ID, visa.ID, "ok", 1001))
		se := stripeErr(t, err)
		if se.HTTPStatusCode != 400 || se.Type != stripe.ErrorTypeIdempotency {
			t.Errorf("key reused with another amount: %+v", se)
		}
		var ie *stripe.IdempotencyError
		if !errors.As(err, &ie) {
			t.Errorf("typed error = %T, want *stripe.IdempotencyError", se.Err)
		}
	})

	t.Run("injected 500", func(t *testing.T) {
		b.sb.Script(sandbox.ScriptedFault{Method: "POST", PathPrefix: "/v1/payment_intents", Fault: sandbox.FaultError500})
		_, err1 := b.api.PaymentIntents.New(chargeParams(cus.ID, visa.ID, "five", 1000))
		se := stripeErr(t, err1)
		if se.HTTPStatusCode != 500 || se.Type != stripe.ErrorTypeAPI {
			t.Fatalf("injected 500 = %+v", se)
		}
		// Stripe saved the 500 for the key: the same key gets it again, and nothing was charged.
		_, err2 := b.api.PaymentIntents.New(chargeParams(cus.ID, visa.ID, "five", 1000))
		if se := stripeErr(t, err2); se.HTTPStatusCode != 500 || !replayed(se.LastResponse) {
			t.Errorf("replayed 500 = %+v", se)
		}
		for _, c := range b.sb.Charges() {
			if c.Metadata["donation_id"] == "five" {
				t.Errorf("the 500 charged: %+v", c)
			}
		}
		// A fresh key executes.
		p := chargeParams(cus.ID, visa.ID, "five", 1000)
		p.SetIdempotencyKey("donation-five-attempt-2")
		if pi, err := b.api.PaymentIntents.New(p); err != nil || pi.Status != stripe.PaymentIntentStatusSucceeded {
			t.Errorf("fresh key: %+v, %v", pi, err)
		}
	})

	t.Run("validation errors are not saved", func(t *testing.T) {
		p := chargeParams(cus.ID, "pm_missing", "fix", 1000)
		_, err := b.api.PaymentIntents.New(p)
		if se := stripeErr(t, err); se.HTTPStatusCode != 400 || se.Param != "payment_method" {
			t.Fatalf("unknown method: %+v", se)
		}
		// The corrected request may reuse the key.
		if pi, err := b.api.PaymentIntents.New(chargeParams(cus.ID, visa.ID, "fix", 1000)); err != nil || pi.Status != stripe.PaymentIntentStatusSucceeded {
			t.Errorf("corrected request: %+v, %v", pi, err)
		}
	})
}

// TestConcurrentSameKey sends one charge eight times at once: exactly one PaymentIntent and
// one charge result; every other answer is a replay or a 409.
func TestConcurrentSameKey(t *testing.T) {
	t.Parallel()
	// Latency keeps the first request in flight while the others arrive.
	b := setup(t, options{faults: sandbox.Faults{LatencyMedian: 40 * time.Millisecond, LatencyP99: 41 * time.Millisecond, Seed: 7}})
	cus, visa := b.customerWithCard(t, "pm_card_visa")

	const n = 8
	var wg sync.WaitGroup
	ids := make([]string, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			pi, err := b.api.PaymentIntents.New(chargeParams(cus.ID, visa.ID, "race", 5000))
			errs[i] = err
			if err == nil {
				ids[i] = pi.ID
			}
		}(i)
	}
	close(start)
	wg.Wait()

	var okID string
	conflicts := 0
	for i := 0; i < n; i++ {
		if errs[i] != nil {
			se := stripeErr(t, errs[i])
			if se.HTTPStatusCode != http.StatusConflict || se.Code != stripe.ErrorCodeIdempotencyKeyInUse || se.Type != stripe.ErrorTypeIdempotency {
				t.Errorf("concurrent request %d: %+v", i, se)
			}
			conflicts++
			continue
		}
		if okID != "" && ids[i] != okID {
			t.Errorf("two intents for one key: %s and %s", okID, ids[i])
		}
		okID = ids[i]
	}
	if okID == "" || conflicts == 0 {
		t.Errorf("successes with id %q, %d conflicts: want one intent and some 409s", okID, conflicts)
	}
	lp := &stripe.PaymentIntentListParams{Customer: stripe.String(cus.ID)}
	it := b.api.PaymentIntents.List(lp)
	count := 0
	for it.Next() {
		count++
	}
	if count != 1 || len(b.sb.Charges()) != 1 {
		t.Errorf("%d intents and %d charges for one key, want 1 and 1", count, len(b.sb.Charges()))
	}
	// Once the first has finished, the key replays.
	pi, err := b.api.PaymentIntents.New(chargeParams(cus.ID, visa.ID, "race", 5000))
	if err != nil || pi.ID != okID || !replayed(pi.LastResponse) {
		t.Errorf("after the race: %+v, %v", pi, err)
	}
}
