package payments_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/giveathon/giveathon/internal/testenv"
	"github.com/giveathon/giveathon/payments"
)

// TestGatewayCallsMatchStripesSpec runs every call the gateway makes against stripe-mock,
// which answers 400 to any parameter or shape that Stripe's OpenAPI spec does not allow.
func TestGatewayCallsMatchStripesSpec(t *testing.T) {
	t.Parallel()
	base := testenv.StartStripeMock(t)
	g := payments.NewGateway(payments.Config{SecretKey: "sk_test_123", APIBase: base, RateLimit: 1000})
	ctx := context.Background()

	if _, err := g.FindCustomer(ctx, "5f0f6f7e-9a36-4c7d-8d0a-6d8f1a1b2c3d", "ada@example.org"); err != nil {
		t.Fatalf("list customers: %v", err)
	}
	cus, err := g.CreateCustomer(ctx, "5f0f6f7e-9a36-4c7d-8d0a-6d8f1a1b2c3d", "ada@example.org", "Ada Lovelace")
	if err != nil || cus == "" {
		t.Fatalf("create customer: %q, %v", cus, err)
	}
	secret, err := g.CreateSetupIntent(ctx, cus)
	if err != nil || secret == "" {
		t.Fatalf("create setup intent: %q, %v", secret, err)
	}
	card, err := g.AttachPaymentMethod(ctx, "pm_card_visa", cus)
	if err != nil || card.PaymentMethodID == "" || card.Last4 == "" || card.Brand == "" {
		t.Fatalf("attach payment method: %+v, %v", card, err)
	}
	pi, err := g.CreatePaymentIntent(ctx, payments.ChargeRequest{
		DonationID: "7c2b1d7e-1111-4c7d-8d0a-6d8f1a1b2c3d", UserID: "5f0f6f7e-9a36-4c7d-8d0a-6d8f1a1b2c3d",
		AmountCents: 2500, Currency: "USD", CustomerID: cus, PaymentMethodID: card.PaymentMethodID,
		Description: "Giveathon donation", IdempotencyKey: "donation-7c2b1d7e-a1",
	})
	if err != nil || pi.ID == "" {
		t.Fatalf("create payment intent: %+v, %v", pi, err)
	}
	if _, err := g.RetrievePaymentIntent(ctx, pi.ID); err != nil {
		t.Fatalf("retrieve payment intent: %v", err)
	}
	if _, err := g.ClientSecret(ctx, pi.ID); err != nil {
		t.Fatalf("client secret: %v", err)
	}
	if _, err := g.ConfirmPaymentIntent(ctx, pi.ID, card.PaymentMethodID, "donation-7c2b1d7e-confirm-a2"); err != nil {
		t.Fatalf("confirm payment intent: %v", err)
	}
	if _, err := g.CreateRefund(ctx, pi.ID, "the donor asked", "donation-7c2b1d7e-refund"); err != nil {
		t.Fatalf("create refund: %v", err)
	}
	if _, err := g.CancelPaymentIntent(ctx, pi.ID, "donation-7c2b1d7e-cancel1"); err != nil {
		t.Fatalf("cancel payment intent: %v", err)
	}
	if _, err := g.FindPaymentIntentForDonation(ctx, cus, "7c2b1d7e-1111-4c7d-8d0a-6d8f1a1b2c3d"); err != nil {
		t.Fatalf("list payment intents: %v", err)
	}
	if err := g.DetachPaymentMethod(ctx, card.PaymentMethodID); err != nil {
		t.Fatalf("detach payment method: %v", err)
	}
	if err := g.EraseCustomer(ctx, cus); err != nil {
		t.Fatalf("erase customer: %v", err)
	}
}

// TestGatewayClassifiesErrors feeds the gateway Stripe's error answers and checks what the
// charge worker is told to do with each.
func TestGatewayClassifiesErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		kind       payments.ErrorKind
		code       string
		retryAfter time.Duration
		hasPI      bool
	}{
		{"invalid request", 400, nil, `{"error":{"type":"invalid_request_error","code":"parameter_missing","param":"amount","message":"Missing required param: amount."}}`, payments.Permanent, "parameter_missing", 0, false},
		{"decline", 402, nil, `{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds","message":"Your card has insufficient funds.","payment_intent":{"id":"pi_1","object":"payment_intent","status":"requires_payment_method"}}}`, payments.Declined, "card_declined", 0, true},
		{"authentication", 402, nil, `{"error":{"type":"card_error","code":"authentication_required","decline_code":"authentication_required","message":"Authentication required."}}`, payments.AuthenticationRequired, "authentication_required", 0, false},
		{"processing error", 402, nil, `{"error":{"type":"card_error","code":"processing_error","message":"An error occurred while processing your card."}}`, payments.Retryable, "processing_error", 0, false},
		{"key in use", 409, nil, `{"error":{"type":"idempotency_error","code":"idempotency_key_in_use","message":"in progress"}}`, payments.Retryable, "idempotency_key_in_use", 0, false},
		{"rate limited", 429, map[string]string{"Retry-After": "3"}, `{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Too many requests."}}`, payments.Retryable, "rate_limit", 3 * time.Second, false},
		{"server error", 500, nil, `{"error":{"type":"api_error","message":"Something went wrong."}}`, payments.Retryable, "provider_unavailable", 0, false},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for k, v := range tc.header {
				w.Header().Set(k, v)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(tc.status)
			_, _ = w.Write([]byte(tc.body))
		}))
		g := payments.NewGateway(payments.Config{SecretKey: "sk_test_123", APIBase: srv.URL, RateLimit: 1000})
		_, err := g.CreatePaymentIntent(context.Background(), payments.ChargeRequest{AmountCents: 100, Currency: "usd",
			CustomerID: "cus_1", PaymentMethodID: "pm_1", IdempotencyKey: "k"})
		srv.Close()
		pe, ok := payments.AsError(err)
		if !ok || pe.Kind != tc.kind || pe.Code != tc.code || pe.RetryAfter != tc.retryAfter || (pe.PaymentIntent != nil) != tc.hasPI {
			t.Errorf("%s: got %+v (%v)", tc.name, pe, err)
		}
	}
	// No answer at all: retryable.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
	}))
	defer srv.Close()
	g := payments.NewGateway(payments.Config{SecretKey: "sk_test_123", APIBase: srv.URL, RateLimit: 1000})
	if _, err := g.RetrievePaymentIntent(context.Background(), "pi_1"); !payments.IsRetryable(err) {
		t.Errorf("dropped connection: %v", err)
	}
}
