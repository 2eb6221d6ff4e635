package jobs

import (
	"context"

	"github.com/giveathon/giveathon/settlement"
	"github.com/riverqueue/river"
)

// ChargeDonationArgs charges one donation. Unique by donation: however often it is queued
// (the submit, the reconciler), one job runs it. The donor's id names the donation's partition
// (empty in jobs queued before the partitioning: the donor is looked up then).
type ChargeDonationArgs struct {
	DonationID string `json:"donation_id" river:"unique"`
	UserID     string `json:"user_id,omitempty"`
}

// Kind implements river.JobArgs.
func (ChargeDonationArgs) Kind() string { return "charge_donation" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (ChargeDonationArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueuePayments, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// ChargeDonationWorker runs one charge attempt through the settlement and tells River what
// its verdict means: done, retry with backoff, snooze, or cancel.
type ChargeDonationWorker struct {
	river.WorkerDefaults[ChargeDonationArgs]
	deps Deps
}

// Work implements river.Worker.
func (w *ChargeDonationWorker) Work(ctx context.Context, job *river.Job[ChargeDonationArgs]) error {
	v := w.deps.Settlement.Charge(ctx, job.Args.UserID, job.Args.DonationID, job.Attempt, job.MaxAttempts)
	switch v.Kind {
	case settlement.Retry:
		return v.Err
	case settlement.Snooze:
		return river.JobSnooze(v.Wait)
	case settlement.Cancel:
		return river.JobCancel(v.Err)
	}
	return nil
}

// NewChargeDonationWorker returns the charge worker over a settlement.
func NewChargeDonationWorker(s *settlement.Service) *ChargeDonationWorker {
	return &ChargeDonationWorker{deps: Deps{Settlement: s}}
}
