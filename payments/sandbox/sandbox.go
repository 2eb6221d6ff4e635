// Package sandbox is a stateful, Stripe-compatible fake of the part of Stripe's API that
// Giveathon uses: customers, setup intents, payment methods with Stripe's test cards,
// payment intents, idempotency keys, signed webhooks, a 3-D Secure page, injected faults and
// a ledger of every successful charge.
//
// It exists so that the same stripe-go code runs in development, in tests and in production:
// stripe-mock checks the shape of each call but keeps no state and plays no outcome, while the
// sandbox remembers what was charged and can decline, ask for authentication, time out or
// fail on purpose. Stripe's OpenAPI spec and fixtures (shipped with stripe-mock) are the
// authority for the object and error shapes it answers with.
package sandbox

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/giveathon/giveathon/payments"
)

// PublishableKey is the publishable key to hand to browsers in development; the sandbox
// itself serves no publishable-key endpoint.
const PublishableKey = "pk_test_sandbox"

// SecretKey is a secret key the sandbox accepts. Any bearer key starting with sk_test_ (or
// rk_test_) is accepted, so a test may use its own to tell its requests apart in logs.
const SecretKey = "sk_test_sandbox"

// APIVersion is the Stripe API version the sandbox speaks and stamps on its events; it is
// stripe-go v76's, which refuses webhook events of any other version.
const APIVersion = "2023-10-16"

// Config configures a Server.
type Config struct {
	// WebhookURL is where events are POSTed; empty: no webhooks.
	WebhookURL string
	// WebhookSecret (whsec_...) signs the Stripe-Signature header of each delivery.
	WebhookSecret string
	// WebhookEvents are the event types delivered, as a Stripe webhook endpoint's
	// enabled_events; empty: every event.
	WebhookEvents []string
	// Faults are the random faults injected from the start.
	Faults Faults
	// Logger receives one line per request and per webhook delivery problem; nil: discard.
	Logger *slog.Logger
}

// Charge is one successful charge in the sandbox's ledger: what a card was actually charged.
type Charge struct {
	ID            string            `json:"id"`
	PaymentIntent string            `json:"payment_intent"`
	Customer      string            `json:"customer"`
	Currency      string            `json:"currency"`
	Amount        int64             `json:"amount"`
	Metadata      map[string]string `json:"metadata"`
	Created       int64             `json:"created"`
	// Refunds counts the refunds of the charge, and AmountRefunded what they gave back.
	Refunds        int   `json:"refunds"`
	AmountRefunded int64 `json:"amount_refunded"`
	// Dispute is the id of the charge's dispute, if the card holder opened one.
	Dispute string `json:"dispute,omitempty"`
}

// Server is the sandbox: an http.Handler serving Stripe's /v1 API subset and the sandbox's own
// /_sandbox endpoints. It is safe for concurrent use. Create it with New and stop its webhook
// deliveries with Close.
type Server struct {
	log *slog.Logger

	// mu guards the Stripe state below. It is never held while sleeping or sending.
	mu         sync.Mutex
	customers  map[string]*customer
	methods    map[string]*paymentMethod
	setups     map[string]*setupIntent
	intents    map[string]*paymentIntent
	intentList []*paymentIntent // creation order, for lists
	charges    map[string]*charge
	refunds    map[string]*refund
	disputes   map[string]*dispute
	ledger     []Charge
	idem       map[string]*idemEntry

	// fmu guards faults, the random source, the script and the webhook settings. Lock order:
	// mu before fmu, though no code path needs both at once today.
	fmu     sync.Mutex
	faults  Faults
	rng     *rand.Rand
	script  []ScriptedFault
	hookURL string
	hookKey string
	// hookEvents are the event types delivered; nil: all.
	hookEvents map[string]bool
	closed     bool
	wg         sync.WaitGroup
	hookHTTP   *http.Client

	// ctx is canceled by Close: it ends waits, retries and webhook requests in flight.
	ctx    context.Context
	cancel context.CancelFunc
}

// hookConns is how many idle connections to the webhook receiver the sandbox keeps: every
// event is sent from a goroutine of its own, so a burst of charges sends that many at once.
const hookConns = 64

// New returns a sandbox configured by cfg. It starts no goroutine until there is a webhook to
// deliver.
func New(cfg Config) *Server {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		log:       logger,
		customers: map[string]*customer{},
		methods:   map[string]*paymentMethod{},
		setups:    map[string]*setupIntent{},
		intents:   map[string]*paymentIntent{},
		charges:   map[string]*charge{},
		refunds:   map[string]*refund{},
		disputes:  map[string]*dispute{},
		idem:      map[string]*idemEntry{},
		hookURL:   cfg.WebhookURL,
		hookKey:   cfg.WebhookSecret,
		// A webhook receiver that hangs must not hold a delivery goroutine for long.
		// Pooled keep-alive connections: Go's default keeps 2 idle ones per host, so a burst
		// would open (and leave in TIME_WAIT) one per event.
		hookHTTP: &http.Client{Timeout: 10 * time.Second, Transport: payments.NewTransport(hookConns)},
	}
	if len(cfg.WebhookEvents) > 0 {
		s.hookEvents = map[string]bool{}
		for _, typ := range cfg.WebhookEvents {
			s.hookEvents[typ] = true
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.SetFaults(cfg.Faults)
	return s
}

// ServeHTTP serves Stripe's API under /v1 and the sandbox's own endpoints under /_sandbox.
// It may be mounted under a path prefix with http.StripPrefix.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := newID("req_", 14)
	w.Header().Set("Request-Id", reqID)
	switch {
	case r.URL.Path == "/v1" || strings.HasPrefix(r.URL.Path, "/v1/"):
		s.serveAPI(w, r, reqID)
	case strings.HasPrefix(r.URL.Path, "/_sandbox/"):
		s.serveSandbox(w, r)
	default:
		writeError(w, &stripeError{
			status:  http.StatusNotFound,
			Type:    typeInvalidRequest,
			Message: "Unrecognized request URL (" + r.Method + ": " + r.URL.Path + ").",
		})
	}
}

// SetWebhook changes where events are delivered and the secret that signs them; an empty url
// turns webhooks off. Events already queued keep the settings they were queued with.
func (s *Server) SetWebhook(url, secret string) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.hookURL, s.hookKey = url, secret
}

// Charges returns the ledger: every successful charge, oldest first.
func (s *Server) Charges() []Charge {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Charge, len(s.ledger))
	for i, c := range s.ledger {
		c.Metadata = cloneMap(c.Metadata)
		out[i] = c
	}
	return out
}

// ledgerLine is a successful charge's line in the ledger (nil for a failed charge). The caller
// holds s.mu.
func (s *Server) ledgerLine(ch *charge) *Charge {
	if ch.inLedger == 0 {
		return nil
	}
	return &s.ledger[ch.inLedger-1]
}

// Close stops pending webhook deliveries (delayed ones are dropped, retries end) and waits for
// the sandbox's goroutines. Requests held by a timeout fault are released. The sandbox still
// answers API requests afterwards, but sends no more webhooks.
func (s *Server) Close() {
	s.fmu.Lock()
	s.closed = true
	s.fmu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// sleep waits for d, or until the sandbox is closed or done is closed; it reports whether the
// full duration passed.
func (s *Server) sleep(d time.Duration, done <-chan struct{}) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.ctx.Done():
		return false
	case <-done:
		return false
	}
}

func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

const idAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// newID returns prefix followed by n random characters, in the style of Stripe's ids. The
// global source is used (not the seeded one) so that a fault seed replays the same faults
// however many objects are created.
func newID(prefix string, n int) string {
	b := make([]byte, len(prefix)+n)
	copy(b, prefix)
	for i := len(prefix); i < len(b); i++ {
		b[i] = idAlphabet[rand.IntN(len(idAlphabet))]
	}
	return string(b)
}
