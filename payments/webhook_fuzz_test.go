package payments

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

type recordingHandler struct{ events int }

func (h *recordingHandler) HandlePaymentIntentEvent(context.Context, string, string, *PaymentIntent) error {
	h.events++
	return nil
}

func (h *recordingHandler) HandleChargeEvent(context.Context, string, string, *Charge) error {
	h.events++
	return nil
}

func (h *recordingHandler) HandleDisputeEvent(context.Context, string, string, *Dispute) error {
	h.events++
	return nil
}

const fuzzSecret = "whsec_fuzz"

// FuzzWebhook throws bodies and signatures at the webhook endpoint: it must never fail on its
// own (5xx) or panic, must refuse what is not signed with the secret, and must hand on only
// signed PaymentIntent events.
func FuzzWebhook(f *testing.F) {
	event := `{"id":"evt_1","object":"event","api_version":"2023-10-16","type":"payment_intent.succeeded","data":{"object":{"id":"pi_1","object":"payment_intent","status":"succeeded","metadata":{"donation_id":"d"}}}}`
	f.Add(event, true)
	f.Add(event, false)
	f.Add(`{"id":"evt_2","object":"event","api_version":"2023-10-16","type":"charge.succeeded","data":{"object":{}}}`, true)
	f.Add(`{"id":"evt_3","object":"event","api_version":"2020-08-27","type":"payment_intent.succeeded","data":{"object":{"id":"pi_1"}}}`, true)
	f.Add(`not json`, true)
	f.Add(``, false)
	f.Fuzz(func(t *testing.T, body string, sign bool) {
		h := &recordingHandler{}
		w := postWebhook(h, body, sign)
		switch {
		case w.Code >= 500:
			t.Fatalf("status %d for %q", w.Code, body)
		case !sign && w.Code != http.StatusBadRequest:
			t.Fatalf("an unsigned body got %d", w.Code)
		case h.events > 0 && (!sign || !strings.Contains(body, "payment_intent.")):
			t.Fatalf("a %v event was handed on: %q", sign, body)
		}
	})
}
