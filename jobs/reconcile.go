package jobs

import (
	"context"

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

// ReconcileWorker runs the settlement's reconciler (the safety net) and logs what it did.
type ReconcileWorker struct {
	river.WorkerDefaults[ReconcileArgs]
	deps Deps
}

// Work implements river.Worker.
func (w *ReconcileWorker) Work(ctx context.Context, _ *river.Job[ReconcileArgs]) error {
	r, err := w.deps.Settlement.Reconcile(ctx)
	w.deps.Logger.InfoContext(ctx, "reconciled", "requeued", r.Requeued, "settled", r.Settled, "expired", r.Expired,
		"fixed", r.Fixed, "attempts_closed", r.AttemptsClosed, "totals_fixed", r.TotalsFixed, "errors", r.Errors)
	return err
}
