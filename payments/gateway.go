// Package payments is Giveathon's payment provider adapter: a Stripe gateway over stripe-go
// with its own client (no global key), a process-wide rate limit, errors classified for the
// charge worker, and the webhook endpoint. The Stripe sandbox lives beside it in
// payments/sandbox.
package payments

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/metrics"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
	"golang.org/x/time/rate"
)

// Config says how to reach the provider.
type Config struct {
	SecretKey string
	// APIBase is the API's base URL (the sandbox's, stripe-mock's); empty: Stripe's own.
	APIBase string
	// RateLimit is the most calls per second this process makes; 0: 80 for live keys, 20 for
	// test keys (Stripe allows about 100 and 25).
	RateLimit float64
	// DonorShare is the fraction of RateLimit that calls made while serving a donor's request
	// may use; 0: DefaultDonorShare. The rest is kept for the charge workers.
	DonorShare float64
	// Timeout bounds one call.
	Timeout time.Duration
	// Conns is how many idle keep-alive connections to the provider the client keeps: one per
	// charge worker and a few for donors' calls; 0: DefaultConns.
	Conns  int
	Logger *slog.Logger
}

// DefaultConns is the size of the provider connection pool when none is set.
const DefaultConns = 64

// NewTransport returns a pooled keep-alive transport that keeps up to conns idle connections
// per host: Go's default keeps 2, so that under concurrent calls most of them open (and TLS
// handshake) a new connection and leave it in TIME_WAIT.
func NewTransport(conns int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost = max(conns, t.MaxIdleConns), conns
	return t
}

// DefaultDonorShare is the share of the rate limit donors' requests may use when none is set.
const DefaultDonorShare = 0.25

// maxDonorWait is the longest a call made for a donor's request waits for its share of the
// rate limit before it is refused as retryable: the donor is waiting on the answer.
const maxDonorWait = time.Second

// Gateway makes the Stripe calls Giveathon needs.
//
// Every call takes a token from one process-wide bucket of RateLimit calls per second. The
// charge workers (and the reconciler and webhooks: any call without a signed-in user in its
// context) wait for theirs. A call made while serving a donor's request (a user in the
// context: customer, SetupIntent, attach, detach, refreshDonation's retrieve) first needs a
// token of the donors' share (DonorShare of the rate, waiting at most maxDonorWait), and then
// takes one from the process-wide bucket only if one is free at once: it never waits there,
// so it never queues ahead of a charge, and while charges use the whole rate (their waits
// hold every coming token) donors' calls are refused at once with a retryable error whose
// RetryAfter says when to try again.
type Gateway struct {
	api     *client.API
	limiter *rate.Limiter
	// donors bounds the calls made for donors' requests to their share of the rate.
	donors *rate.Limiter
	logger *slog.Logger
}

// NewGateway returns a gateway with its own Stripe client. It makes no call.
func NewGateway(cfg Config) *Gateway {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.RateLimit <= 0 {
		cfg.RateLimit = DefaultRateLimit(cfg.SecretKey)
	}
	if cfg.Conns <= 0 {
		cfg.Conns = DefaultConns
	}
	bc := &stripe.BackendConfig{
		HTTPClient: &http.Client{Timeout: cfg.Timeout, Transport: NewTransport(cfg.Conns)},
		// Retries belong to the charge job, which re-reads state before each.
		MaxNetworkRetries: stripe.Int64(0),
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
	}
	if cfg.APIBase != "" {
		bc.URL = stripe.String(strings.TrimRight(cfg.APIBase, "/"))
	}
	backends := &stripe.Backends{
		API:     stripe.GetBackendWithConfig(stripe.APIBackend, bc),
		Connect: stripe.GetBackendWithConfig(stripe.ConnectBackend, bc),
		Uploads: stripe.GetBackendWithConfig(stripe.UploadsBackend, bc),
	}
	if cfg.DonorShare <= 0 || cfg.DonorShare > 1 {
		cfg.DonorShare = DefaultDonorShare
	}
	donorRate := cfg.RateLimit * cfg.DonorShare
	return &Gateway{
		api:     client.New(cfg.SecretKey, backends),
		limiter: rate.NewLimiter(rate.Limit(cfg.RateLimit), max(1, int(cfg.RateLimit))),
		donors:  rate.NewLimiter(rate.Limit(donorRate), max(1, int(donorRate))),
		logger:  cfg.Logger,
	}
}

// DefaultRateLimit is the call rate used for a key when none is configured.
func DefaultRateLimit(key string) float64 {
	if LiveKey(key) {
		return 80
	}
	return 20
}

// LiveKey reports whether a Stripe secret key is a live-mode key (not a test key, nor the
// sandbox's).
func LiveKey(key string) bool {
	return strings.HasPrefix(key, "sk_live_") || strings.HasPrefix(key, "rk_live_")
}

// wait takes a token for a call: from the process-wide bucket, or for a call made while
// serving a donor, from the donors' share first (see Gateway).
func (g *Gateway) wait(ctx context.Context) error {
	start := time.Now()
	defer func() { metrics.StripeRateLimitWait.Observe(metrics.Since(start)) }()
	if giveathon.UserFromContext(ctx) != nil {
		return g.waitForDonor(ctx)
	}
	if err := g.limiter.Wait(ctx); err != nil {
		return errClientRateLimit(err.Error(), 0, err)
	}
	return nil
}

// waitForDonor takes a token of the donors' share, waiting at most maxDonorWait, then one of
// the process-wide bucket only if it is free now.
func (g *Gateway) waitForDonor(ctx context.Context) error {
	now := time.Now()
	r := g.donors.ReserveN(now, 1)
	if d := r.DelayFrom(now); !r.OK() || d > maxDonorWait {
		r.CancelAt(now)
		return errClientRateLimit("donors' share of the provider rate limit is spent", d, nil)
	} else if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			r.Cancel()
			return errClientRateLimit(ctx.Err().Error(), 0, ctx.Err())
		}
	}
	if !g.limiter.Allow() {
		return errClientRateLimit("the provider rate limit is in use by charges", 0, nil)
	}
	return nil
}

// codeClientRateLimit is the code of a call our own rate limit refused.
const codeClientRateLimit = "client_rate_limit"

// errClientRateLimit is the retryable error of a call refused by our own rate limit, before
// it reached the provider.
func errClientRateLimit(msg string, retryAfter time.Duration, err error) *Error {
	return &Error{Kind: Retryable, Code: codeClientRateLimit, Message: "waiting for the provider rate limit: " + msg,
		RetryAfter: max(retryAfter.Round(time.Second), time.Second), Err: err}
}

// ErrorKind classifies a provider failure by what the caller should do.
type ErrorKind int

// Error kinds.
const (
	// Permanent is our bug (an invalid request): retrying the same call will not help.
	Permanent ErrorKind = iota
	// Declined is a card the issuer refused: retrying is pointless.
	Declined
	// AuthenticationRequired needs the donor to complete 3-D Secure in the browser.
	AuthenticationRequired
	// Retryable is a network error, timeout, 5xx, 429, a lock on the idempotency key or a
	// processing error: try again later.
	Retryable
)

func (k ErrorKind) String() string {
	return [...]string{"permanent", "declined", "authentication_required", "retryable"}[k]
}

// Error is a classified provider failure.
type Error struct {
	Kind        ErrorKind
	Code        string
	DeclineCode string
	Message     string
	HTTPStatus  int
	// RetryAfter is the provider's hint for when to try again, if any.
	RetryAfter time.Duration
	// Replayed is set when the provider answered from its saved response for the idempotency key.
	Replayed bool
	// Type is the provider's error type (api_error, card_error, idempotency_error, ...), when
	// it answered with one.
	Type string
	// PaymentIntent is the PaymentIntent the error is about, when the provider sent it.
	PaymentIntent *PaymentIntent
	Err           error
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("payment provider: %s", e.Kind)
	if e.Code != "" {
		msg += " (" + e.Code
		if e.DeclineCode != "" && e.DeclineCode != e.Code {
			msg += "/" + e.DeclineCode
		}
		msg += ")"
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// AsError returns err's classification, if it has one.
func AsError(err error) (*Error, bool) {
	var pe *Error
	ok := errors.As(err, &pe)
	return pe, ok
}

// IsRetryable reports whether err is worth trying again.
func IsRetryable(err error) bool {
	pe, ok := AsError(err)
	return ok && pe.Kind == Retryable
}

// retryableCardCodes are card errors that a later try may get past.
var retryableCardCodes = map[string]bool{"processing_error": true, "issuer_not_available": true, "try_again_later": true}

// observe records a call's latency and outcome.
func observe(op string, start time.Time, err error) {
	outcome := "ok"
	if pe, ok := AsError(err); ok {
		outcome = pe.Kind.String()
	} else if err != nil {
		outcome = "error"
	}
	metrics.StripeCalls.WithLabelValues(op, outcome).Inc()
	metrics.StripeDuration.WithLabelValues(op).Observe(metrics.Since(start))
}

// call makes one provider call: it takes a token from the rate limit, runs do, classifies
// its error and records its latency and outcome under op.
func call[T any](ctx context.Context, g *Gateway, op string, do func() (T, error)) (T, error) {
	var zero T
	if err := g.wait(ctx); err != nil {
		return zero, err
	}
	start := time.Now()
	v, err := do()
	err = g.classify(op, err)
	observe(op, start, err)
	if err != nil {
		return zero, err
	}
	return v, nil
}

// classify turns a stripe-go error into an *Error.
func (g *Gateway) classify(op string, err error) error {
	if err == nil {
		return nil
	}
	var se *stripe.Error
	if !errors.As(err, &se) {
		// No answer: network error or timeout. The call may or may not have executed.
		var netErr net.Error
		if errors.As(err, &netErr) && netErr.Timeout() {
			return &Error{Kind: Retryable, Code: "timeout", Message: op + ": no answer in time", Err: err}
		}
		return &Error{Kind: Retryable, Code: "network_error", Message: op + ": " + err.Error(), Err: err}
	}
	pe := &Error{Code: string(se.Code), DeclineCode: string(se.DeclineCode), Message: se.Msg, HTTPStatus: se.HTTPStatusCode, Type: string(se.Type), Err: err}
	if se.LastResponse != nil {
		pe.Replayed = se.LastResponse.Header.Get("Idempotent-Replayed") == "true"
		if s, perr := strconv.Atoi(se.LastResponse.Header.Get("Retry-After")); perr == nil && s > 0 {
			pe.RetryAfter = time.Duration(s) * time.Second
		}
	}
	if se.PaymentIntent != nil {
		pe.PaymentIntent = fromStripe(se.PaymentIntent)
	}
	switch {
	case se.HTTPStatusCode == http.StatusTooManyRequests || se.HTTPStatusCode >= 500:
		pe.Kind = Retryable
		if pe.Code == "" {
			pe.Code = "provider_unavailable"
		}
	case se.HTTPStatusCode == http.StatusConflict || se.Code == "idempotency_key_in_use" || se.Code == stripe.ErrorCodeLockTimeout:
		pe.Kind = Retryable
	case se.Type == stripe.ErrorTypeCard && (se.Code == "authentication_required" || se.DeclineCode == "authentication_required"):
		pe.Kind = AuthenticationRequired
	case se.Type == stripe.ErrorTypeCard && retryableCardCodes[string(se.Code)]:
		pe.Kind = Retryable
	case se.Code == stripe.ErrorCodeChargeAlreadyRefunded || se.Code == stripe.ErrorCodeChargeDisputed:
		// A refund asked again (another instance, a retry after a crash), or of a charge its
		// card holder disputes: the caller's answer.
		pe.Kind = Permanent
		return pe
	case se.HTTPStatusCode == http.StatusNotFound:
		// Asked about an object the provider does not have (a forged event's PaymentIntent):
		// the caller's answer, not a bug here.
		pe.Kind = Permanent
		return pe
	case se.Type == stripe.ErrorTypeCard:
		pe.Kind = Declined
	default:
		pe.Kind = Permanent
		g.logger.Error("payment provider refused a request: this is a bug in Giveathon", "op", op,
			"status", se.HTTPStatusCode, "type", se.Type, "code", se.Code, "param", se.Param, "message", se.Msg, "request_id", se.RequestID)
	}
	return pe
}

// PaymentIntent is the part of a Stripe PaymentIntent Giveathon acts on.
type PaymentIntent struct {
	ID              string
	Status          string
	AmountCents     int64
	Currency        string
	CustomerID      string
	PaymentMethodID string
	ClientSecret    string
	Metadata        map[string]string
	// LastErrorCode and friends describe the last failed confirmation.
	LastErrorCode        string
	LastErrorDeclineCode string
	LastErrorMessage     string
}

// PaymentIntent statuses (Stripe's).
const (
	PIStatusSucceeded             = "succeeded"
	PIStatusRequiresAction        = "requires_action"
	PIStatusRequiresPaymentMethod = "requires_payment_method"
	PIStatusRequiresConfirmation  = "requires_confirmation"
	PIStatusProcessing            = "processing"
	PIStatusCanceled              = "canceled"
)

// Card is what Giveathon keeps of a card: never its number or CVC.
type Card struct {
	PaymentMethodID string
	CustomerID      string
	Brand           string
	Last4           string
	ExpMonth        int
	ExpYear         int
}

// FindCustomer returns the provider customer made earlier for a donor, found by the user id
// in its metadata among the customers with the donor's e-mail address, or "": how a customer
// whose creation answer was lost is found again. It lists rather than searches, because
// Stripe's search sees a new customer only after a delay (up to a minute).
func (g *Gateway) FindCustomer(ctx context.Context, userID, email string) (string, error) {
	return call(ctx, g, "list customers", func() (string, error) {
		p := &stripe.CustomerListParams{Email: stripe.String(email)}
		p.Context = ctx
		p.Limit = stripe.Int64(100)
		c, err := findByMetadata(g.api.Customers.List(p), "user_id", userID, func(c *stripe.Customer) map[string]string { return c.Metadata })
		if err != nil || c == nil {
			return "", err
		}
		return c.ID, nil
	})
}

// listIter is what findByMetadata needs of a stripe-go list iterator.
type listIter interface {
	Next() bool
	Current() interface{}
	Err() error
}

// findByMetadata pages through a list and returns the first item whose metadata has key set
// to value, or the zero T.
func findByMetadata[T any](it listIter, key, value string, metadata func(T) map[string]string) (T, error) {
	for it.Next() {
		if v, ok := it.Current().(T); ok && metadata(v)[key] == value {
			return v, nil
		}
	}
	var zero T
	return zero, it.Err()
}

// CreateCustomer creates the provider customer of a donor, with the user id in its metadata.
// Each call sends a fresh idempotency key: Stripe saves an error (a 500) for its key and
// replays it for a day, so a key derived from the user would keep a donor whose first try met
// one failure from ever saving a card. Look for an earlier customer first (FindCustomer).
func (g *Gateway) CreateCustomer(ctx context.Context, userID, email, name string) (string, error) {
	return call(ctx, g, "create customer", func() (string, error) {
		p := &stripe.CustomerParams{Email: stripe.String(email), Name: stripe.String(name)}
		p.Context = ctx
		p.AddMetadata("user_id", userID)
		p.SetIdempotencyKey("customer-" + userID + "-" + rand.Text())
		c, err := g.api.Customers.New(p)
		if err != nil {
			return "", err
		}
		return c.ID, nil
	})
}

// EraseCustomer erases the e-mail address and name a customer was created with, for the
// erasure of the donor's account; the customer and its payments stay, for refunds and the
// provider's own records. Erasing an erased customer changes nothing.
func (g *Gateway) EraseCustomer(ctx context.Context, customerID string) error {
	_, err := call(ctx, g, "erase customer", func() (*stripe.Customer, error) {
		p := &stripe.CustomerParams{Email: stripe.String(""), Name: stripe.String("")}
		p.Context = ctx
		return g.api.Customers.Update(customerID, p)
	})
	return err
}

// CreateSetupIntent starts saving a card for off-session use and returns its client secret.
func (g *Gateway) CreateSetupIntent(ctx context.Context, customerID string) (string, error) {
	return call(ctx, g, "create setup intent", func() (string, error) {
		p := &stripe.SetupIntentParams{Customer: stripe.String(customerID), Usage: stripe.String(string(stripe.SetupIntentUsageOffSession))}
		p.Context = ctx
		p.PaymentMethodTypes = []*string{stripe.String("card")}
		si, err := g.api.SetupIntents.New(p)
		if err != nil {
			return "", err
		}
		return si.ClientSecret, nil
	})
}

// AttachPaymentMethod attaches a payment method to the donor's customer and returns its card.
// With a test key, Stripe's test names (pm_card_visa) attach as a new pm_ of the donor's own.
func (g *Gateway) AttachPaymentMethod(ctx context.Context, paymentMethodID, customerID string) (*Card, error) {
	pm, err := call(ctx, g, "attach payment method", func() (*stripe.PaymentMethod, error) {
		p := &stripe.PaymentMethodAttachParams{Customer: stripe.String(customerID)}
		p.Context = ctx
		return g.api.PaymentMethods.Attach(paymentMethodID, p)
	})
	if err != nil {
		return nil, err
	}
	if pm.Card == nil {
		return nil, &Error{Kind: Permanent, Code: "not_a_card", Message: "the payment method is not a card"}
	}
	return &Card{PaymentMethodID: pm.ID, CustomerID: customerID, Brand: string(pm.Card.Brand), Last4: pm.Card.Last4,
		ExpMonth: int(pm.Card.ExpMonth), ExpYear: int(pm.Card.ExpYear)}, nil
}

// DetachPaymentMethod detaches a payment method from its customer.
func (g *Gateway) DetachPaymentMethod(ctx context.Context, paymentMethodID string) error {
	_, err := call(ctx, g, "detach payment method", func() (*stripe.PaymentMethod, error) {
		p := &stripe.PaymentMethodDetachParams{}
		p.Context = ctx
		return g.api.PaymentMethods.Detach(paymentMethodID, p)
	})
	return err
}

// ChargeRequest asks for one donation's PaymentIntent, confirmed off-session in the same call.
type ChargeRequest struct {
	DonationID      string
	UserID          string
	AmountCents     int64
	Currency        string
	CustomerID      string
	PaymentMethodID string
	Description     string
	// IdempotencyKey is derived from the donation id (and the attempt).
	IdempotencyKey string
}

// paymentIntentCall makes one call that answers a PaymentIntent.
// do makes the call through stripe-go's backend (as its paymentintent client does) into
// paymentIntentObject.
func (g *Gateway) paymentIntentCall(ctx context.Context, op string, do func(pi *paymentIntentObject) error) (*PaymentIntent, error) {
	pi, err := call(ctx, g, op, func() (*paymentIntentObject, error) {
		pi := &paymentIntentObject{}
		return pi, do(pi)
	})
	if err != nil {
		return nil, err
	}
	return pi.answer(), nil
}

// CreatePaymentIntent creates and confirms the donation's PaymentIntent: one Stripe call on
// the happy path. A decline comes back as an *Error that carries the PaymentIntent.
func (g *Gateway) CreatePaymentIntent(ctx context.Context, r ChargeRequest) (*PaymentIntent, error) {
	return g.paymentIntentCall(ctx, "create payment intent", func(pi *paymentIntentObject) error {
		p := &stripe.PaymentIntentParams{
			Amount:        stripe.Int64(r.AmountCents),
			Currency:      stripe.String(strings.ToLower(r.Currency)),
			Customer:      stripe.String(r.CustomerID),
			PaymentMethod: stripe.String(r.PaymentMethodID),
			Confirm:       stripe.Bool(true),
			OffSession:    stripe.Bool(true),
			Description:   stripe.String(r.Description),
		}
		p.PaymentMethodTypes = []*string{stripe.String("card")}
		p.Context = ctx
		p.AddMetadata("donation_id", r.DonationID)
		p.AddMetadata("user_id", r.UserID)
		p.SetIdempotencyKey(r.IdempotencyKey)
		return g.api.PaymentIntents.B.Call(http.MethodPost, "/v1/payment_intents", g.api.PaymentIntents.Key, p, pi)
	})
}

// ConfirmPaymentIntent confirms an existing PaymentIntent again, off-session.
func (g *Gateway) ConfirmPaymentIntent(ctx context.Context, id, paymentMethodID, idempotencyKey string) (*PaymentIntent, error) {
	return g.paymentIntentCall(ctx, "confirm payment intent", func(pi *paymentIntentObject) error {
		p := &stripe.PaymentIntentConfirmParams{PaymentMethod: stripe.String(paymentMethodID), OffSession: stripe.Bool(true)}
		p.Context = ctx
		p.SetIdempotencyKey(idempotencyKey)
		return g.api.PaymentIntents.B.Call(http.MethodPost, stripe.FormatURLPath("/v1/payment_intents/%s/confirm", id), g.api.PaymentIntents.Key, p, pi)
	})
}

// RetrievePaymentIntent reads a PaymentIntent.
func (g *Gateway) RetrievePaymentIntent(ctx context.Context, id string) (*PaymentIntent, error) {
	return g.paymentIntentCall(ctx, "retrieve payment intent", func(pi *paymentIntentObject) error {
		p := &stripe.PaymentIntentParams{}
		p.Context = ctx
		return g.api.PaymentIntents.B.Call(http.MethodGet, stripe.FormatURLPath("/v1/payment_intents/%s", id), g.api.PaymentIntents.Key, p, pi)
	})
}

// CancelPaymentIntent cancels a PaymentIntent that has not succeeded, so it never can.
func (g *Gateway) CancelPaymentIntent(ctx context.Context, id, idempotencyKey string) (*PaymentIntent, error) {
	return g.paymentIntentCall(ctx, "cancel payment intent", func(pi *paymentIntentObject) error {
		p := &stripe.PaymentIntentCancelParams{}
		p.Context = ctx
		p.SetIdempotencyKey(idempotencyKey)
		return g.api.PaymentIntents.B.Call(http.MethodPost, stripe.FormatURLPath("/v1/payment_intents/%s/cancel", id), g.api.PaymentIntents.Key, p, pi)
	})
}

// FindPaymentIntentForDonation lists the customer's PaymentIntents and returns the one whose
// metadata names the donation, or nil: how a charge whose answer was lost is found again.
func (g *Gateway) FindPaymentIntentForDonation(ctx context.Context, customerID, donationID string) (*PaymentIntent, error) {
	pi, err := call(ctx, g, "list payment intents", func() (*stripe.PaymentIntent, error) {
		p := &stripe.PaymentIntentListParams{Customer: stripe.String(customerID)}
		p.Context = ctx
		p.Limit = stripe.Int64(100)
		return findByMetadata(g.api.PaymentIntents.List(p), "donation_id", donationID, func(pi *stripe.PaymentIntent) map[string]string { return pi.Metadata })
	})
	if err != nil || pi == nil {
		return nil, err
	}
	return fromStripe(pi), nil
}

// ClientSecret returns a PaymentIntent's client secret, which the donor's browser needs to
// complete 3-D Secure. It is read when asked for, never stored.
func (g *Gateway) ClientSecret(ctx context.Context, paymentIntentID string) (string, error) {
	pi, err := g.RetrievePaymentIntent(ctx, paymentIntentID)
	if err != nil {
		return "", ProviderError(err)
	}
	return pi.ClientSecret, nil
}

// Refund is the part of a Stripe Refund Giveathon acts on.
type Refund struct {
	ID              string
	Status          string
	AmountCents     int64
	PaymentIntentID string
}

// Refund statuses (Stripe's).
const (
	RefundSucceeded = "succeeded"
	RefundPending   = "pending"
	RefundFailed    = "failed"
	RefundCanceled  = "canceled"
)

// CreateRefund refunds a PaymentIntent's charge in full under idempotencyKey (derived from
// the donation, so that asking twice refunds once); reason is kept in the refund's metadata.
func (g *Gateway) CreateRefund(ctx context.Context, paymentIntentID, reason, idempotencyKey string) (*Refund, error) {
	return call(ctx, g, "create refund", func() (*Refund, error) {
		p := &stripe.RefundParams{PaymentIntent: stripe.String(paymentIntentID), Reason: stripe.String(string(stripe.RefundReasonRequestedByCustomer))}
		p.Context = ctx
		p.SetIdempotencyKey(idempotencyKey)
		if reason != "" {
			p.AddMetadata("reason", reason)
		}
		re, err := g.api.Refunds.New(p)
		if err != nil {
			return nil, err
		}
		out := &Refund{ID: re.ID, Status: string(re.Status), AmountCents: re.Amount}
		if re.PaymentIntent != nil {
			out.PaymentIntentID = re.PaymentIntent.ID
		}
		return out, nil
	})
}

// IsDisputed reports whether err is the provider refusing a refund of a charge its card holder
// disputes (the bank takes the money back through the dispute).
func IsDisputed(err error) bool {
	pe, ok := AsError(err)
	return ok && pe.Code == string(stripe.ErrorCodeChargeDisputed)
}

// IsAlreadyRefunded reports whether err is the provider refusing a refund of a charge that is
// refunded in full already.
func IsAlreadyRefunded(err error) bool {
	pe, ok := AsError(err)
	return ok && pe.Code == string(stripe.ErrorCodeChargeAlreadyRefunded)
}
