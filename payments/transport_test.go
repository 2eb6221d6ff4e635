package payments_test

import (
	"context"
	"sync"
	"testing"

	"github.com/giveathon/giveathon/internal/testenv"
	"github.com/giveathon/giveathon/payments"
	"github.com/giveathon/giveathon/payments/sandbox"
)

// TestGatewayReusesConnections makes rounds of concurrent calls through the gateway to the
// sandbox: the calls of later rounds ride the connections the first opened. With Go's
// default transport (2 idle connections a host) each round opens most of its own again.
func TestGatewayReusesConnections(t *testing.T) {
	t.Parallel()
	sb := sandbox.New(sandbox.Config{})
	t.Cleanup(sb.Close)
	ts, opened := testenv.CountConns(t, sb)
	const workers, rounds = 16, 6
	g := payments.NewGateway(payments.Config{SecretKey: sandbox.SecretKey, APIBase: ts.URL, RateLimit: 100000, Conns: workers})
	ctx := context.Background()
	for range rounds {
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				if _, err := g.CreateCustomer(ctx, "5f0f6f7e-9a36-4c7d-8d0a-6d8f1a1b2c3d", "ada@example.org", "Ada"); err != nil {
					t.Errorf("create customer: %v", err)
				}
			})
		}
		wg.Wait()
	}
	// About one connection per call in flight at once, kept for the next rounds (and a few
	// more: a call may start before the connection a finished one used is back in the pool).
	if n := opened.Load(); n > 2*workers {
		t.Errorf("%d calls in %d rounds of %d opened %d connections, want at most %d", workers*rounds, rounds, workers, n, 2*workers)
	}
	t.Logf("%d calls opened %d connections", workers*rounds, opened.Load())
}
