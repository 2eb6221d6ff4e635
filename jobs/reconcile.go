package jobs

import (
	"context"
	"errors"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/payments"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// ReconcileArgs runs the reconciler once; a periodic job queues it every ReconcileInterval.
type ReconcileArgs struct{}

// Kind implements river.JobArgs.
func (ReconcileArgs) Kind() string { return "reconcile" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (ReconcileArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueMaintenance, MaxAttempts: 1,
		// One run at a time; a finished run does not block the next.
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{
			rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateScheduled}}}
}

// ReconcileWorker is the safety net: it queues donations whose job was lost, finishes
// donations stuck in PROCESSING from the provider's own record, fails 3-D Secure that was
// never completed, and fixes donations whose attempts disagree with them.
type ReconcileWorker struct {
	river.WorkerDefaults[ReconcileArgs]
	deps    Deps
	settler *Settler
	jobs    *Jobs
	cfg     Config
}

// batch bounds the donations one run looks at per kind of fix.
const batch = 500

// Report counts what one reconciler run did.
type Report struct {
	Requeued, Settled, Expired, Fixed, AttemptsClosed, TotalsFixed, Errors int
}

// Work implements river.Worker.
func (w *ReconcileWorker) Work(ctx context.Context, _ *river.Job[ReconcileArgs]) error {
	r, err := w.Run(ctx)
	w.deps.Logger.InfoContext(ctx, "reconciled", "requeued", r.Requeued, "settled", r.Settled, "expired", r.Expired,
		"fixed", r.Fixed, "attempts_closed", r.AttemptsClosed, "totals_fixed", r.TotalsFixed, "errors", r.Errors)
	return err
}

// Run reconciles once and reports what it did.
func (w *ReconcileWorker) Run(ctx context.Context) (Report, error) {
	var r Report
	var errs []error
	fail := func(err error) {
		r.Errors++
		errs = append(errs, err)
	}

	// PENDING without progress: the job was lost (enqueue after commit failed, or a crash).
	// Queuing is unique by donation, so a job that exists is left alone.
	pending, err := w.deps.DB.FindStaleDonations(ctx, giveathon.StatusPending, w.cfg.StalePending, batch)
	if err != nil {
		return r, err
	}
	for _, d := range pending {
		res, err := w.jobs.Client.Insert(ctx, ChargeDonationArgs{DonationID: d.ID}, &river.InsertOpts{MaxAttempts: w.cfg.ChargeMaxAttempts})
		if err != nil {
			fail(err)
		} else if !res.UniqueSkippedAsDuplicate {
			r.Requeued++
		}
	}

	// PROCESSING too long: ask the provider; if it has no answer, run the charge again (it
	// re-reads the PaymentIntent first).
	processing, err := w.deps.DB.FindStaleDonations(ctx, giveathon.StatusProcessing, w.cfg.StaleProcessing, batch)
	if err != nil {
		return r, err
	}
	for _, d := range processing {
		settled, err := w.settleFromProvider(ctx, d)
		if err != nil {
			fail(err)
			continue
		}
		if settled {
			r.Settled++
			continue
		}
		res, err := w.jobs.Client.Insert(ctx, ChargeDonationArgs{DonationID: d.ID}, &river.InsertOpts{MaxAttempts: w.cfg.ChargeMaxAttempts})
		if err != nil {
			fail(err)
		} else if !res.UniqueSkippedAsDuplicate {
			r.Requeued++
		}
	}

	// REQUIRES_ACTION past its time: the donor did not authenticate.
	waiting, err := w.deps.DB.FindStaleDonations(ctx, giveathon.StatusRequiresAction, w.cfg.RequiresActionTimeout, batch)
	if err != nil {
		return r, err
	}
	for _, d := range waiting {
		expired, err := w.expire(ctx, d)
		if err != nil {
			fail(err)
		} else if expired {
			r.Expired++
		}
	}

	// Attempts that say the charge succeeded while the donation does not.
	disagreeing, err := w.deps.DB.FindDisagreeingDonations(ctx, batch)
	if err != nil {
		return r, err
	}
	for _, d := range disagreeing {
		settled, err := w.settleFromProvider(ctx, d)
		if err != nil {
			fail(err)
		} else if settled {
			r.Fixed++
		}
	}
	closed, err := w.deps.DB.CloseAbandonedAttempts(ctx, w.cfg.StaleProcessing)
	if err != nil {
		fail(err)
	}
	r.AttemptsClosed = int(closed)
	if _, err := w.deps.DB.PruneRateLimits(ctx); err != nil {
		fail(err)
	}

	// The event's counters against the donations they count.
	if fixes, err := w.deps.DB.ReconcileEventTotals(ctx); err != nil {
		fail(err)
	} else if len(fixes) > 0 {
		r.TotalsFixed = len(fixes)
		for _, f := range fixes {
			w.deps.Logger.WarnContext(ctx, "event totals disagreed with the donations: corrected",
				"charity", f.CharityID, "cents", f.Cents, "donations", f.Donations)
		}
		if w.deps.Changes != nil {
			if err := w.deps.Changes.TotalsChanged(ctx); err != nil {
				w.deps.Logger.WarnContext(ctx, "publish totals change", "err", err)
			}
		}
	}
	return r, errors.Join(errs...)
}

// settleFromProvider reads the donation's PaymentIntent and applies it if it is decided.
func (w *ReconcileWorker) settleFromProvider(ctx context.Context, d *giveathon.Donation) (bool, error) {
	var pi *payments.PaymentIntent
	var err error
	if d.PaymentIntentID != "" {
		pi, err = w.deps.Gateway.RetrievePaymentIntent(ctx, d.PaymentIntentID)
	} else {
		cc, cerr := w.deps.DB.FindChargeContext(ctx, d.ID)
		if cerr != nil {
			return false, cerr
		}
		pi, err = w.deps.Gateway.FindPaymentIntentForDonation(ctx, cc.ProviderCustomerID, d.ID)
	}
	if err != nil || pi == nil {
		return false, err
	}
	o := payments.OutcomeOf(pi)
	if !o.Decided || o.Status == d.Status {
		return false, nil
	}
	_, moved, err := w.settler.Apply(ctx, d.ID, o, pi.ID)
	return moved, err
}

// expire fails a donation whose 3-D Secure was never completed, unless it succeeded after all;
// its PaymentIntent is canceled so it cannot succeed later.
func (w *ReconcileWorker) expire(ctx context.Context, d *giveathon.Donation) (bool, error) {
	if d.PaymentIntentID != "" {
		pi, err := w.deps.Gateway.RetrievePaymentIntent(ctx, d.PaymentIntentID)
		if err != nil {
			return false, err
		}
		if pi.Status == payments.PIStatusSucceeded {
			_, moved, err := w.settler.Apply(ctx, d.ID, payments.OutcomeOf(pi), pi.ID)
			return moved, err
		}
		if pi.Status != payments.PIStatusCanceled {
			if _, err := w.deps.Gateway.CancelPaymentIntent(ctx, pi.ID, requestKey(d.ID, "expire", 1)); err != nil {
				return false, err
			}
		}
	}
	_, moved, err := w.settler.Apply(ctx, d.ID, payments.Failed("authentication_timeout", "", ""), d.PaymentIntentID)
	return moved, err
}
