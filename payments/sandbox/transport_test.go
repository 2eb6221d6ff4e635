package sandbox_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/giveathon/giveathon/internal/testenv"
	"github.com/giveathon/giveathon/payments/sandbox"
	"github.com/stripe/stripe-go/v76"
)

// TestWebhookSenderReusesConnections charges in rounds of concurrent payments and counts the
// connections the sandbox opens to the webhook receiver: later rounds' events ride the
// connections the first opened. With Go's default transport (2 idle connections a host)
// each round opens most of its own again.
func TestWebhookSenderReusesConnections(t *testing.T) {
	t.Parallel()
	var delivered atomic.Int64
	hooks, opened := testenv.CountConns(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		delivered.Add(1)
	}))
	sb := sandbox.New(sandbox.Config{WebhookURL: hooks.URL, WebhookSecret: testWebhookSecret})
	ts := httptest.NewServer(sb)
	t.Cleanup(func() { ts.Close(); sb.Close() })
	api := newClient(ts, 0)
	cus, err := api.Customers.New(&stripe.CustomerParams{})
	if err != nil {
		t.Fatal(err)
	}
	// Customers send no events: only the rounds' payment intents do, two each.
	time.Sleep(100 * time.Millisecond)
	base := delivered.Load()
	const payers, rounds = 12, 8
	for round := range rounds {
		var wg sync.WaitGroup
		for range payers {
			wg.Go(func() {
				if _, err := api.PaymentIntents.New(&stripe.PaymentIntentParams{Amount: stripe.Int64(500), Currency: stripe.String("usd"),
					Customer: stripe.String(cus.ID), PaymentMethod: stripe.String("pm_card_visa"), Confirm: stripe.Bool(true)}); err != nil {
					t.Errorf("charge: %v", err)
				}
			})
		}
		wg.Wait()
		want := base + int64(2*payers*(round+1))
		deadline := time.Now().Add(10 * time.Second)
		for delivered.Load() < want && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if got := delivered.Load(); got < want {
			t.Fatalf("round %d: %d webhooks delivered, want %d", round, got, want)
		}
	}
	// About one connection per delivery in flight at once (a round's events, 2 per payer),
	// kept for the next rounds, and a few more: a delivery may start before the connection a
	// finished one used is back in the pool.
	if n := opened.Load(); n > 3*payers {
		t.Errorf("%d webhooks in %d rounds opened %d connections, want at most %d", 2*payers*rounds, rounds, n, 3*payers)
	}
	t.Logf("%d webhooks opened %d connections", 2*payers*rounds, opened.Load())
}
