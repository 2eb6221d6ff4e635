package payments

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"
)

// piRecorder keeps the PaymentIntent events it is handed.
type piRecorder struct {
	recordingHandler
	id, typ string
	pi      *PaymentIntent
}

func (h *piRecorder) HandlePaymentIntentEvent(_ context.Context, id, typ string, pi *PaymentIntent) error {
	h.events++
	h.id, h.typ, h.pi = id, typ, pi
	return nil
}

// postWebhook posts body to the endpoint, signed with fuzzSecret when sign is set.
func postWebhook(h EventHandler, body string, sign bool) *httptest.ResponseRecorder {
	srv := WebhookHandler(fuzzSecret, h, slog.New(slog.NewTextHandler(io.Discard, nil)))
	req := httptest.NewRequest(http.MethodPost, "/webhooks/stripe", strings.NewReader(body))
	if sign {
		signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: []byte(body), Secret: fuzzSecret, Timestamp: time.Now()})
		req.Header.Set("Stripe-Signature", signed.Header)
	} else {
		req.Header.Set("Stripe-Signature", "t=1,v1="+strings.Repeat("0", 64))
	}
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, req)
	return w
}

// TestWebhookHandsOnThePaymentIntentItSigned: the endpoint reads the event's envelope and its
// PaymentIntent (amount, currency, customer, card, metadata, last error) from one signed body,
// refuses an unsigned one and one without its data object, and refuses a signed event of
// another API version than stripe-go's types read, naming both versions.
func TestWebhookHandsOnThePaymentIntentItSigned(t *testing.T) {
	body := `{"id":"evt_1","object":"event","api_version":"` + stripe.APIVersion + `","type":"payment_intent.payment_failed",
		"data":{"object":{"id":"pi_1","object":"payment_intent","status":"requires_payment_method","amount":2500,"currency":"usd",
		"customer":"cus_1","payment_method":"pm_1","metadata":{"donation_id":"d1","user_id":"u1"},
		"last_payment_error":{"code":"card_declined","decline_code":"insufficient_funds","message":"Your card has insufficient funds."}}}}`
	h := &piRecorder{}
	if w := postWebhook(h, body, true); w.Code != http.StatusOK {
		t.Fatalf("a signed event got %d: %s", w.Code, w.Body)
	}
	want := PaymentIntent{ID: "pi_1", Status: "requires_payment_method", AmountCents: 2500, Currency: "usd", CustomerID: "cus_1",
		PaymentMethodID: "pm_1", LastErrorCode: "card_declined", LastErrorDeclineCode: "insufficient_funds",
		LastErrorMessage: "Your card has insufficient funds."}
	got := h.pi
	if h.events != 1 || h.id != "evt_1" || h.typ != "payment_intent.payment_failed" || got == nil {
		t.Fatalf("handed on %d events, last %q %q %+v", h.events, h.id, h.typ, got)
	}
	if got.Metadata["donation_id"] != "d1" || got.Metadata["user_id"] != "u1" {
		t.Errorf("metadata %v", got.Metadata)
	}
	got.Metadata = nil
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("PaymentIntent %+v, want %+v", *got, want)
	}

	h = &piRecorder{}
	if w := postWebhook(h, body, false); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "invalid signature") || h.events != 0 {
		t.Errorf("an unsigned event: %d %q, %d handed on", w.Code, w.Body, h.events)
	}
	bare := `{"id":"evt_2","object":"event","api_version":"` + stripe.APIVersion + `","type":"payment_intent.succeeded"}`
	if w := postWebhook(h, bare, true); w.Code != http.StatusBadRequest || h.events != 0 {
		t.Errorf("an event without its data object: %d %q, %d handed on", w.Code, w.Body, h.events)
	}
	old := strings.Replace(body, stripe.APIVersion, "2020-08-27", 1)
	w := postWebhook(h, old, true)
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "2020-08-27") ||
		!strings.Contains(w.Body.String(), stripe.APIVersion) || h.events != 0 {
		t.Errorf("an event of another API version: %d %q, %d handed on", w.Code, w.Body, h.events)
	}
}
