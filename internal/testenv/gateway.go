package testenv

import (
	"context"
	"errors"
	"sync"

	"github.com/giveathon/giveathon/payments"
)

// Gateway is a double at the payments interface for tests below the whole program: each call
// answers what the test set (a call it did not set fails), and the calls are recorded.
type Gateway struct {
	Create   func(payments.ChargeRequest) (*payments.PaymentIntent, error)
	Cancel   func(id string) (*payments.PaymentIntent, error)
	Retrieve func(id string) (*payments.PaymentIntent, error)

	mu    sync.Mutex
	calls []string
}

// Calls returns the calls made so far, in order.
func (g *Gateway) Calls() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.calls...)
}

func (g *Gateway) record(op string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls = append(g.calls, op)
}

var errNotSet = errors.New("the test did not expect this call")

// CreatePaymentIntent implements the payments interface.
func (g *Gateway) CreatePaymentIntent(_ context.Context, r payments.ChargeRequest) (*payments.PaymentIntent, error) {
	g.record("create " + r.IdempotencyKey)
	if g.Create == nil {
		return nil, errNotSet
	}
	return g.Create(r)
}

// ConfirmPaymentIntent implements the payments interface.
func (g *Gateway) ConfirmPaymentIntent(context.Context, string, string, string) (*payments.PaymentIntent, error) {
	g.record("confirm")
	return nil, errNotSet
}

// RetrievePaymentIntent implements the payments interface.
func (g *Gateway) RetrievePaymentIntent(_ context.Context, id string) (*payments.PaymentIntent, error) {
	g.record("retrieve " + id)
	if g.Retrieve == nil {
		return nil, errNotSet
	}
	return g.Retrieve(id)
}

// CancelPaymentIntent implements the payments interface.
func (g *Gateway) CancelPaymentIntent(_ context.Context, id, _ string) (*payments.PaymentIntent, error) {
	g.record("cancel")
	if g.Cancel == nil {
		return nil, errNotSet
	}
	return g.Cancel(id)
}

// FindPaymentIntentForDonation implements the payments interface: nothing found.
func (g *Gateway) FindPaymentIntentForDonation(context.Context, string, string) (*payments.PaymentIntent, error) {
	g.record("find")
	return nil, nil
}
