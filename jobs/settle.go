package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/db"
	"github.com/giveathon/giveathon/metrics"
	"github.com/giveathon/giveathon/notify"
	"github.com/giveathon/giveathon/payments"
	"github.com/jackc/pgx/v5"
)

// Settler applies a charge's outcome to its donation: one conditional state move, and the
// e-mail job for a final outcome queued with it. The charge worker, the webhook, the
// reconciler and refreshDonation all settle through it, so a result that two of them learn
// is applied once.
type Settler struct {
	DB      *db.DB
	Gateway Gateway
	// Changes is told of every move after it commits; nil: nobody.
	Changes Publisher
	Logger  *slog.Logger
	jobs    *Jobs
	inTx    bool
}

// Apply moves the donation as the outcome says, if its current status allows, and queues the
// e-mail for a final outcome. It returns the donation as it is now and whether it moved.
func (s *Settler) Apply(ctx context.Context, donationID string, o payments.Outcome, paymentIntentID string) (*giveathon.Donation, bool, error) {
	return s.apply(ctx, donationID, o, paymentIntentID, nil)
}

// apply does Apply with an optional step before the move in the same transaction.
func (s *Settler) apply(ctx context.Context, donationID string, o payments.Outcome, paymentIntentID string, before func(tx pgx.Tx) (bool, error)) (*giveathon.Donation, bool, error) {
	var d *giveathon.Donation
	var moved bool
	if before == nil && o.Decided && !o.Status.Final() {
		// No e-mail follows (PROCESSING, REQUIRES_ACTION): one statement, no transaction.
		var err error
		d, moved, err = db.MoveDonation(ctx, s.DB.Pool, donationID, db.Move{To: o.Status, PaymentIntentID: paymentIntentID})
		if err != nil {
			return nil, false, err
		}
		s.moved(ctx, d, moved)
		return d, moved, nil
	}
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		d, moved = nil, false
		if before != nil {
			goOn, err := before(tx)
			if err != nil || !goOn {
				return err
			}
		}
		if !o.Decided {
			return nil
		}
		var err error
		d, moved, err = db.MoveDonation(ctx, tx, donationID, db.Move{To: o.Status, FailureCode: o.FailureCode,
			FailureMessage: o.FailureMessage, PaymentIntentID: paymentIntentID})
		if err != nil || !moved || !s.inTx {
			return err
		}
		return s.notifyTx(ctx, tx, d)
	})
	if err != nil {
		return nil, false, err
	}
	s.moved(ctx, d, moved)
	if moved && !s.inTx {
		if err := s.notifyTx(ctx, nil, d); err != nil {
			// The donation is settled; the e-mail job is what was lost. Log it loudly.
			s.Logger.ErrorContext(ctx, "queue donation e-mail", "donation", d.ID, "err", err)
		}
	}
	return d, moved, nil
}

// moved counts a committed move in the metrics, tells the live subscribers, and logs it but
// for the routine PENDING -> PROCESSING.
func (s *Settler) moved(ctx context.Context, d *giveathon.Donation, moved bool) {
	if !moved {
		return
	}
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

// notifyTx queues the e-mail of a final outcome (in tx when given).
func (s *Settler) notifyTx(ctx context.Context, tx pgx.Tx, d *giveathon.Donation) error {
	var kind string
	switch d.Status {
	case giveathon.StatusSucceeded:
		kind = notify.KindReceipt
	case giveathon.StatusFailed:
		kind = notify.KindFailure
	default:
		return nil
	}
	args := NotifyDonationArgs{DonationID: d.ID, Outcome: kind}
	var err error
	if tx != nil {
		_, err = s.jobs.Client.InsertTx(ctx, tx, args, nil)
	} else {
		_, err = s.jobs.Client.Insert(ctx, args, nil)
	}
	if err != nil {
		return fmt.Errorf("queue %s e-mail of %s: %w", kind, d.ID, err)
	}
	return nil
}

// HandlePaymentIntentEvent applies a provider event about a PaymentIntent, once per event id:
// the event is recorded in the same transaction as the move it causes.
func (s *Settler) HandlePaymentIntentEvent(ctx context.Context, eventID, eventType string, pi *payments.PaymentIntent) error {
	// The donation is found by the metadata the charge worker set, or by the PaymentIntent
	// id; an event about anything else (another application on the same Stripe account) is
	// recorded and ignored.
	var found *giveathon.Donation
	if d, err := s.DB.FindDonation(ctx, pi.Metadata["donation_id"]); err == nil {
		found = d
	} else if giveathon.ErrorCode(err) != giveathon.ENOTFOUND {
		return err
	} else if d, err := s.DB.FindDonationByPaymentIntent(ctx, pi.ID); err == nil {
		found = d
	} else if giveathon.ErrorCode(err) != giveathon.ENOTFOUND {
		return err
	}
	var donationID string
	if found != nil {
		donationID = found.ID
	}
	o := payments.OutcomeOf(pi)
	switch {
	case donationID == "":
		s.Logger.InfoContext(ctx, "webhook for a PaymentIntent that is not a donation", "event", eventID, "payment_intent", pi.ID)
		o = payments.Outcome{}
	case pi.Status == payments.PIStatusCanceled:
		// Giveathon cancels a PaymentIntent only on its way to failing the donation with the
		// real reason (the charge worker's last attempt, the 3-D Secure timeout): that move,
		// not this echo of it, settles the donation.
		o = payments.Outcome{}
	case !o.Decided || found.Status.Final() && !slices.Contains(o.Status.MovesInto(), found.Status):
		// Nothing to decide (payment_intent.created, processing), or settled already (usually
		// by the charge worker, from the same answer: a final status moves no further but to
		// REFUNDED): this event can change nothing. It is recorded in a statement of its own,
		// without the transaction a move needs.
		if _, err := db.RecordWebhookEvent(ctx, s.DB.Pool, eventID, eventType); err != nil {
			return fmt.Errorf("handle %s %s: %w", eventType, eventID, err)
		}
		return nil
	}
	_, moved, err := s.apply(ctx, donationID, o, pi.ID, func(tx pgx.Tx) (bool, error) {
		return db.RecordWebhookEvent(ctx, tx, eventID, eventType)
	})
	if err != nil {
		return fmt.Errorf("handle %s %s: %w", eventType, eventID, err)
	}
	if moved {
		s.Logger.InfoContext(ctx, "webhook settled a donation", "event", eventID, "type", eventType, "donation", donationID)
	}
	return nil
}

// Refresh reads a donation's PaymentIntent from the provider and applies what it says: after
// the donor completes 3-D Secure, say, without waiting for the webhook.
func (s *Settler) Refresh(ctx context.Context, d *giveathon.Donation) (*giveathon.Donation, error) {
	if d.PaymentIntentID == "" || d.Status.Final() {
		return d, nil
	}
	pi, err := s.Gateway.RetrievePaymentIntent(ctx, d.PaymentIntentID)
	if err != nil {
		if payments.IsRetryable(err) {
			return nil, giveathon.Errorf(giveathon.EUNAVAILABLE, "the payment provider is not answering: try again in a moment")
		}
		return nil, err
	}
	now, _, err := s.Apply(ctx, d.ID, payments.OutcomeOf(pi), pi.ID)
	if err != nil {
		return nil, err
	}
	if now == nil {
		return s.DB.FindDonation(ctx, d.ID)
	}
	return now, nil
}
