// Package settlement owns a donation's life once a donor asks for it: taking the gift,
// charging it, and applying every answer about it (the charge worker's, the provider's
// webhooks, the reconciler's, the donor's refresh) as a move of the state table
// (giveathon.States), whose consequences (settled_at, the event's totals, the e-mail's outbox
// row) the move writes in the same statement. River's workers, the webhook handler and the
// resolvers call it and hold no rules of their own.
package settlement

import (
	"context"
	"log/slog"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/auth"
	"github.com/giveathon/giveathon/metrics"
	"github.com/giveathon/giveathon/payments"
)

// Store is what settlement needs of storage (db.DB).
type Store interface {
	SubmitDonation(ctx context.Context, userID string, in giveathon.SubmitDonationInput, hash string, decide giveathon.SubmitDecider) (*giveathon.SubmitResult, error)
	FindDonation(ctx context.Context, userID, id string) (*giveathon.Donation, error)
	FindDonationByID(ctx context.Context, userID, id string) (*giveathon.Donation, error)
	FindDonations(ctx context.Context, f giveathon.DonationFilter) ([]*giveathon.Donation, []string, int, error)
	FindPaymentAttempts(ctx context.Context, donationID string) ([]*giveathon.PaymentAttempt, error)
	FindDonationByPaymentIntent(ctx context.Context, paymentIntentID string) (*giveathon.Donation, error)
	FindChargeContext(ctx context.Context, userID, donationID string) (*giveathon.ChargeContext, error)
	MoveDonation(ctx context.Context, m giveathon.Move) (*giveathon.Donation, bool, error)
	SetPaymentIntentID(ctx context.Context, userID, donationID, paymentIntentID string) error
	ClaimCharge(ctx context.Context, userID, donationID, keyPrefix string) (*giveathon.ChargeClaim, error)
	FinishAttempt(ctx context.Context, donationID string, a giveathon.AttemptEnd) error
	RecordProviderEvent(ctx context.Context, e giveathon.ProviderEvent) (bool, error)
	FindStaleDonations(ctx context.Context, status giveathon.DonationStatus, olderThan time.Duration, limit int) ([]*giveathon.Donation, error)
	FindDisagreeingDonations(ctx context.Context, limit int) ([]*giveathon.Donation, error)
	CloseAbandonedAttempts(ctx context.Context, olderThan time.Duration) (int64, error)
	PruneExpired(ctx context.Context) (int64, error)
	ReconcileEventTotals(ctx context.Context) ([]giveathon.TotalsCorrection, error)
	SaveDispute(ctx context.Context, d giveathon.Dispute) error
	FindDispute(ctx context.Context, userID, donationID string) (*giveathon.Dispute, error)
}

// Gateway is what settlement needs of the payment provider (payments.Gateway).
type Gateway interface {
	CreatePaymentIntent(ctx context.Context, r payments.ChargeRequest) (*payments.PaymentIntent, error)
	ConfirmPaymentIntent(ctx context.Context, id, paymentMethodID, idempotencyKey string) (*payments.PaymentIntent, error)
	RetrievePaymentIntent(ctx context.Context, id string) (*payments.PaymentIntent, error)
	CancelPaymentIntent(ctx context.Context, id, idempotencyKey string) (*payments.PaymentIntent, error)
	FindPaymentIntentForDonation(ctx context.Context, customerID, donationID string) (*payments.PaymentIntent, error)
}

// Queue queues donations' charges in one statement (jobs.Jobs): unique by donation, so
// queuing one that is queued already does nothing; it reports how many it queued.
type Queue interface {
	Enqueue(ctx context.Context, donations ...*giveathon.Donation) (int, error)
}

// Publisher tells subscribers, in every API instance, that a donation or the event's totals
// changed (db.Changes).
type Publisher interface {
	DonationChanged(ctx context.Context, d *giveathon.Donation) error
	TotalsChanged(ctx context.Context) error
}

// Config tunes the rules' clocks. Zero values take the defaults.
type Config struct {
	// Limits bound what a donation may be.
	Limits giveathon.DonationLimits
	// Event, when set, takes new gifts only inside its window.
	Event *giveathon.Event
	// StalePending is how long a donation may wait in PENDING before the reconciler queues it.
	StalePending time.Duration
	// StaleProcessing is how long a donation may sit in PROCESSING before the reconciler
	// reads its PaymentIntent.
	StaleProcessing time.Duration
	// RequiresActionTimeout is how long a donor has to complete 3-D Secure.
	RequiresActionTimeout time.Duration
	// CardTesting is the card-testing limit a donor's new gift is checked against, with its
	// other facts (auth.CardTesting); off when zero. A partner's gift is not checked.
	CardTesting auth.Limit
	// AttemptTimeout is the longest a charge attempt runs (the jobs' JOB_TIMEOUT): a provider
	// event about a donation whose attempt started less long ago is left to that attempt.
	AttemptTimeout time.Duration
}

// Service is the settlement of donations.
type Service struct {
	Store   Store
	Gateway Gateway
	Queue   Queue
	// Changes is told of every move after it commits; nil: nobody.
	Changes Publisher
	// Alerts tells the organisers of disputes; nil: the log only.
	Alerts Alerts
	Logger *slog.Logger
	Config Config
}

// New returns the service with the config's defaults filled in.
func New(store Store, gateway Gateway, queue Queue, changes Publisher, logger *slog.Logger, cfg Config) *Service {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.StalePending, time.Minute)
	def(&cfg.StaleProcessing, 5*time.Minute)
	def(&cfg.RequiresActionTimeout, 24*time.Hour)
	def(&cfg.AttemptTimeout, time.Minute)
	if cfg.Limits == (giveathon.DonationLimits{}) {
		cfg.Limits = giveathon.DefaultDonationLimits
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Service{Store: store, Gateway: gateway, Queue: queue, Changes: changes, Logger: logger, Config: cfg}
}

var _ giveathon.DonationService = (*Service)(nil)

// Apply moves the donation d as the outcome says, if its current status allows; the move
// writes its consequences with it. It returns the donation as it is now and whether it moved.
func (s *Service) Apply(ctx context.Context, d *giveathon.Donation, o Outcome, paymentIntentID string) (*giveathon.Donation, bool, error) {
	if !o.Decided {
		now, err := s.Store.FindDonation(ctx, d.UserID, d.ID)
		return now, false, err
	}
	return s.move(ctx, o.move(d, paymentIntentID))
}

// move applies m and, once it has committed, counts it, tells the live subscribers and logs it.
func (s *Service) move(ctx context.Context, m giveathon.Move) (*giveathon.Donation, bool, error) {
	d, moved, err := s.Store.MoveDonation(ctx, m)
	if err != nil || !moved {
		return d, moved, err
	}
	s.moved(ctx, d)
	return d, true, nil
}

// moved counts a move that has committed, tells the live subscribers and logs it.
func (s *Service) moved(ctx context.Context, d *giveathon.Donation) {
	metrics.Donations.WithLabelValues(string(d.Status)).Inc()
	if s.Changes != nil {
		if err := s.Changes.DonationChanged(ctx, d); err != nil {
			// Subscribers re-read on a timer too: a lost notice only delays them.
			s.Logger.WarnContext(ctx, "publish donation change", "donation", d.ID, "err", err)
		}
	}
	if d.Status != giveathon.StatusProcessing {
		s.Logger.InfoContext(ctx, "donation settled", "donation", d.ID, "status", d.Status, "failure_code", d.FailureCode)
	}
}

// move is the state move an outcome asks for.
func (o Outcome) move(d *giveathon.Donation, paymentIntentID string) giveathon.Move {
	return giveathon.Move{UserID: d.UserID, DonationID: d.ID, To: o.Status, FailureCode: o.FailureCode,
		FailureMessage: o.FailureMessage, PaymentIntentID: paymentIntentID}
}

// FindDonationByID implements giveathon.DonationService.
func (s *Service) FindDonationByID(ctx context.Context, userID, id string) (*giveathon.Donation, error) {
	return s.Store.FindDonationByID(ctx, userID, id)
}

// FindDonations implements giveathon.DonationService.
func (s *Service) FindDonations(ctx context.Context, f giveathon.DonationFilter) ([]*giveathon.Donation, []string, int, error) {
	return s.Store.FindDonations(ctx, f)
}

// FindPaymentAttempts implements giveathon.DonationService.
func (s *Service) FindPaymentAttempts(ctx context.Context, donationID string) ([]*giveathon.PaymentAttempt, error) {
	return s.Store.FindPaymentAttempts(ctx, donationID)
}
