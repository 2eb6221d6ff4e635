package sandbox_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/giveathon/giveathon/payments/sandbox"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"
)

func TestWebhookEvents(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cus, visa := b.customerWithCard(t, "pm_card_visa")
	pi, err := b.api.PaymentIntents.New(chargeParams(cus.ID, visa.ID, "hook", 1800))
	if err != nil {
		t.Fatal(err)
	}
	created := b.waitEvent(t, pi.ID, "payment_intent.created")
	ev := b.waitEvent(t, pi.ID, "payment_intent.succeeded")
	if ev.APIVersion != stripe.APIVersion || ev.Livemode || ev.Object != "event" || ev.PendingWebhooks != 1 ||
		ev.Request == nil || ev.Request.ID == "" || ev.Request.IdempotencyKey != "donation-hook" || ev.ID == created.ID {
		t.Errorf("event = %+v", ev)
	}
	var obj stripe.PaymentIntent
	if err := json.Unmarshal(ev.Data.Raw, &obj); err != nil {
		t.Fatal(err)
	}
	if obj.ID != pi.ID || obj.Status != stripe.PaymentIntentStatusSucceeded || obj.Metadata["donation_id"] != "hook" || obj.AmountReceived != 1800 {
		t.Errorf("event object = %+v", obj)
	}
	// The created event shows the intent as it was then, not as it is now.
	if created.Data.Object["status"] == "succeeded" {
		t.Errorf("created event shows a later state")
	}
}

// TestWebhookEnabledEvents delivers only the event types the endpoint enabled, as Stripe does:
// a charge's payment_intent.created stays home, its payment_intent.succeeded comes.
func TestWebhookEnabledEvents(t *testing.T) {
	t.Parallel()
	b := setup(t, options{hookEvents: []string{"payment_intent.succeeded"}})
	cus, visa := b.customerWithCard(t, "pm_card_visa")
	pi, err := b.api.PaymentIntents.New(chargeParams(cus.ID, visa.ID, "enabled", 1900))
	if err != nil {
		t.Fatal(err)
	}
	b.waitEvent(t, pi.ID, "payment_intent.succeeded")
	// Deliveries run in the background: give a stray one time to arrive.
	time.Sleep(200 * time.Millisecond)
	for _, ev := range b.seen {
		t.Errorf("delivered %s, which the endpoint did not enable", ev.Type)
	}
	for len(b.events) > 0 {
		t.Errorf("delivered %s, which the endpoint did not enable", (<-b.events).Type)
	}
}

func TestWebhookDuplicatesAndRetries(t *testing.T) {
	t.Parallel()
	// The receiver fails its first answer: the sandbox tries again.
	var calls atomic.Int32
	b := setup(t, options{faults: sandbox.Faults{WebhookDuplicateRate: 1}, hookStatus: func() int {
		if calls.Add(1) == 1 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}})
	cus, err := b.api.Customers.New(&stripe.CustomerParams{})
	if err != nil {
		t.Fatal(err)
	}
	pi, err := b.api.PaymentIntents.New(&stripe.PaymentIntentParams{Amount: stripe.Int64(900), Currency: stripe.String("usd"), Customer: stripe.String(cus.ID)})
	if err != nil {
		t.Fatal(err)
	}
	first := b.waitEvent(t, pi.ID, "payment_intent.created")
	second := b.waitEvent(t, pi.ID, "payment_intent.created")
	if first.ID != second.ID {
		t.Errorf("duplicate delivery has another id: %s, %s", first.ID, second.ID)
	}
	if calls.Load() < 3 {
		t.Errorf("%d deliveries, want a failed one and two good ones", calls.Load())
	}
}

func TestWebhookSignatureAndClose(t *testing.T) {
	t.Parallel()
	payload := []byte(`{"id":"evt_1","object":"event","api_version":"` + stripe.APIVersion + `","type":"payment_intent.created","data":{"object":{}}}`)
	header := sandbox.Signature(time.Now(), payload, "whsec_x")
	if _, err := webhook.ConstructEvent(payload, header, "whsec_x"); err != nil {
		t.Errorf("ConstructEvent refused Signature: %v", err)
	}
	if _, err := webhook.ConstructEvent(payload, header, "whsec_other"); err == nil {
		t.Error("ConstructEvent accepted another secret")
	}

	// Close drops a delayed delivery at once instead of waiting for it.
	got := make(chan struct{}, 8)
	hooks := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { got <- struct{}{} }))
	defer hooks.Close()
	sb := sandbox.New(sandbox.Config{WebhookURL: hooks.URL, WebhookSecret: "whsec_x",
		Faults: sandbox.Faults{WebhookDelayRate: 1, WebhookDelay: time.Hour}})
	ts := httptest.NewServer(sb)
	defer ts.Close()
	api := newClient(ts, 0)
	if _, err := api.PaymentIntents.New(&stripe.PaymentIntentParams{Amount: stripe.Int64(900), Currency: stripe.String("usd")}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	sb.Close()
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Close took %v", took)
	}
	if len(got) != 0 {
		t.Errorf("a delayed event was delivered before its time")
	}
}
