package payments_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/payments"
)

// countingStripe answers every call with a small object and counts SetupIntents (donors'
// calls) and PaymentIntents (charges) apart.
type countingStripe struct {
	setups, charges atomic.Int64
	url             string
}

func newCountingStripe(t *testing.T) *countingStripe {
	cs := &countingStripe{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if strings.HasPrefix(r.URL.Path, "/v1/setup_intents") {
			cs.setups.Add(1)
			_, _ = w.Write([]byte(`{"id":"seti_1","object":"setup_intent","client_secret":"seti_1_secret_x"}`))
			return
		}
		cs.charges.Add(1)
		_, _ = w.Write([]byte(`{"id":"pi_1","object":"payment_intent","status":"succeeded"}`))
	}))
	t.Cleanup(srv.Close)
	cs.url = srv.URL
	return cs
}

// parallel runs n calls at once and returns how many succeeded, checking that each refusal
// is retryable, says when to try again, and came within the longest wait allowed.
func parallel(t *testing.T, n int, maxRefusalTime time.Duration, call func() error) int {
	t.Helper()
	var wg sync.WaitGroup
	var ok atomic.Int64
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			err := call()
			if err == nil {
				ok.Add(1)
				return
			}
			pe, isPE := payments.AsError(err)
			if !isPE || pe.Kind != payments.Retryable || pe.RetryAfter < time.Second {
				t.Errorf("refused call: want retryable with a RetryAfter, got %+v (%v)", pe, err)
			}
			if took := time.Since(start); took > maxRefusalTime {
				t.Errorf("a refused call took %s, more than %s", took, maxRefusalTime)
			}
		}()
	}
	wg.Wait()
	return int(ok.Load())
}

// TestDonorCallsUseOnlyTheirShareOfTheRateLimit: calls made while serving a donor (a user in
// the context) may use only their share of the rate, waiting at most a second for it; and
// while charges use the whole rate, donors' calls are refused at once rather than queued.
func TestDonorCallsUseOnlyTheirShareOfTheRateLimit(t *testing.T) {
	t.Parallel()
	donor := giveathon.NewContextWithUser(context.Background(), &giveathon.User{ID: "u1"})
	setup := func(g *payments.Gateway) func() error {
		return func() error { _, err := g.CreateSetupIntent(donor, "cus_1"); return err }
	}
	charge := func(g *payments.Gateway) func() error {
		return func() error {
			_, err := g.CreatePaymentIntent(context.Background(), payments.ChargeRequest{AmountCents: 100, Currency: "usd",
				CustomerID: "cus_1", PaymentMethodID: "pm_1", IdempotencyKey: "k"})
			return err
		}
	}

	// 20 calls/s, a quarter for donors: 5 at once, about 5 more within the second they may
	// wait; the other 20 of a burst of 30 are refused.
	t.Run("share", func(t *testing.T) {
		cs := newCountingStripe(t)
		g := payments.NewGateway(payments.Config{SecretKey: "sk_test_123", APIBase: cs.url, RateLimit: 20, DonorShare: 0.25})
		ok := parallel(t, 30, 1500*time.Millisecond, setup(g))
		t.Logf("30 donor calls at once: %d made, %d refused", ok, 30-ok)
		if ok < 5 || ok > 11 || int(cs.setups.Load()) != ok {
			t.Fatalf("%d donor calls of 30 were made (%d reached the provider), want 5 to 11", ok, cs.setups.Load())
		}

	})

	// Charges first: 40 charges take the whole bucket of 20/s (20 at once, 20 waiting); a
	// donor's call meanwhile is refused at once, and no charge waits behind it.
	t.Run("charges first", func(t *testing.T) {
		cs := newCountingStripe(t)
		g := payments.NewGateway(payments.Config{SecretKey: "sk_test_123", APIBase: cs.url, RateLimit: 20, DonorShare: 0.25})
		done := make(chan int)
		start := time.Now()
		go func() { done <- parallel(t, 40, 0, charge(g)) }()
		for cs.charges.Load() < 20 {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond) // the 20 others are waiting on the bucket by now
		if n := parallel(t, 5, 200*time.Millisecond, setup(g)); n != 0 || cs.setups.Load() != 0 {
			t.Fatalf("%d donor calls were made while charges used the whole rate", n)
		}
		if n := <-done; n != 40 {
			t.Fatalf("%d of 40 charges were made", n)
		}
		t.Logf("40 charges with donors' calls refused meanwhile: %s", time.Since(start).Round(time.Millisecond))
		if took := time.Since(start); took > 1500*time.Millisecond {
			t.Fatalf("40 charges at 20/s took %s", took)
		}
	})
}
