package settlement

import (
	"context"
	"errors"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/payments"
)

// reconcileBatch bounds the donations one run looks at per kind of fix.
const reconcileBatch = 500

// Report counts what one reconciler run did.
type Report struct {
	Requeued, Settled, Expired, Fixed, AttemptsClosed, TotalsFixed, Errors int
}

// Reconcile is the safety net, run periodically: it queues donations whose job was lost,
// finishes donations stuck in PROCESSING from the provider's own record, fails 3-D Secure that
// was never completed, fixes donations whose attempts disagree with them, and books any
// difference between the event's counters and the donations.
func (s *Service) Reconcile(ctx context.Context) (Report, error) {
	var r Report
	var errs []error
	fail := func(err error) {
		r.Errors++
		errs = append(errs, err)
	}
	// Queued in one statement: when the charges back up (the provider down, or more gifts than
	// the workers settle), every PENDING gift is stale, and queuing 500 one by one took the
	// whole run's time (JOB_TIMEOUT), so the checks after it never ran.
	requeue := func(ds []*giveathon.Donation) {
		if queued, err := s.Queue.Enqueue(ctx, ds...); err != nil {
			fail(err)
		} else {
			r.Requeued += queued
		}
	}

	// PENDING without progress: the job was lost (enqueue after commit failed, or a crash).
	// Queuing is unique by donation, so a job that exists is left alone.
	pending, err := s.Store.FindStaleDonations(ctx, giveathon.StatusPending, s.Config.StalePending, reconcileBatch)
	if err != nil {
		return r, err
	}
	requeue(pending)

	// PROCESSING too long: ask the provider; if it has no answer, run the charge again (it
	// re-reads the PaymentIntent first).
	processing, err := s.Store.FindStaleDonations(ctx, giveathon.StatusProcessing, s.Config.StaleProcessing, reconcileBatch)
	if err != nil {
		return r, err
	}
	var again []*giveathon.Donation
	for _, d := range processing {
		if settled, err := s.settleFromProvider(ctx, d); err != nil {
			fail(err)
		} else if settled {
			r.Settled++
		} else {
			again = append(again, d)
		}
	}
	requeue(again)

	// REQUIRES_ACTION past its time: the donor did not authenticate.
	waiting, err := s.Store.FindStaleDonations(ctx, giveathon.StatusRequiresAction, s.Config.RequiresActionTimeout, reconcileBatch)
	if err != nil {
		return r, err
	}
	for _, d := range waiting {
		if expired, err := s.expire(ctx, d); err != nil {
			fail(err)
		} else if expired {
			r.Expired++
		}
	}

	// Attempts that say the charge succeeded while the donation does not.
	disagreeing, err := s.Store.FindDisagreeingDonations(ctx, reconcileBatch)
	if err != nil {
		return r, err
	}
	for _, d := range disagreeing {
		if settled, err := s.settleFromProvider(ctx, d); err != nil {
			fail(err)
		} else if settled {
			r.Fixed++
		}
	}
	closed, err := s.Store.CloseAbandonedAttempts(ctx, s.Config.StaleProcessing)
	if err != nil {
		fail(err)
	}
	r.AttemptsClosed = int(closed)
	if _, err := s.Store.PruneExpired(ctx); err != nil {
		fail(err)
	}

	// The event's counters against the donations they count.
	if fixes, err := s.Store.ReconcileEventTotals(ctx); err != nil {
		fail(err)
	} else if len(fixes) > 0 {
		r.TotalsFixed = len(fixes)
		for _, f := range fixes {
			s.Logger.WarnContext(ctx, "event totals disagreed with the donations: corrected",
				"charity", f.CharityID, "cents", f.Cents, "donations", f.Donations)
		}
		if s.Changes != nil {
			if err := s.Changes.TotalsChanged(ctx); err != nil {
				s.Logger.WarnContext(ctx, "publish totals change", "err", err)
			}
		}
	}
	return r, errors.Join(errs...)
}

// settleFromProvider reads the donation's PaymentIntent and applies it if it is decided.
func (s *Service) settleFromProvider(ctx context.Context, d *giveathon.Donation) (bool, error) {
	var pi *payments.PaymentIntent
	var err error
	if d.PaymentIntentID != "" {
		pi, err = s.Gateway.RetrievePaymentIntent(ctx, d.PaymentIntentID)
	} else {
		cc, cerr := s.Store.FindChargeContext(ctx, d.UserID, d.ID)
		if cerr != nil {
			return false, cerr
		}
		pi, err = s.Gateway.FindPaymentIntentForDonation(ctx, cc.ProviderCustomerID, d.ID)
	}
	if err != nil || pi == nil {
		return false, err
	}
	o := OutcomeOf(pi)
	if !o.Decided || o.Status == d.Status {
		return false, nil
	}
	_, moved, err := s.Apply(ctx, d, o, pi.ID)
	return moved, err
}

// expire fails a donation whose 3-D Secure was never completed, unless it succeeded after all;
// its PaymentIntent is canceled so it cannot succeed later.
func (s *Service) expire(ctx context.Context, d *giveathon.Donation) (bool, error) {
	if d.PaymentIntentID != "" {
		pi, err := s.Gateway.RetrievePaymentIntent(ctx, d.PaymentIntentID)
		if err != nil {
			return false, err
		}
		if pi.Status == payments.PIStatusSucceeded {
			_, moved, err := s.Apply(ctx, d, OutcomeOf(pi), pi.ID)
			return moved, err
		}
		if pi.Status != payments.PIStatusCanceled {
			// A key of this run: a key the provider saved a failure for would replay it.
			key := requestKey(d.ID, "expire-", int(time.Now().UnixMilli()))
			if _, err := s.Gateway.CancelPaymentIntent(ctx, pi.ID, key); err != nil {
				return false, err
			}
		}
	}
	_, moved, err := s.Apply(ctx, d, Failed("authentication_timeout", "", ""), d.PaymentIntentID)
	return moved, err
}
