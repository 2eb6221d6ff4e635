package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/giveathon/giveathon/db"
	"github.com/giveathon/giveathon/webhooks"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// QueueWebhooks is the queue of webhook deliveries, with workers of its own so that slow
// partners never hold up charges.
const QueueWebhooks = "webhooks"

// webhookSweepLag is how late a pending delivery may be before the sweep queues it again.
const webhookSweepLag = time.Minute

// webhookJobAttempts bounds a delivery job's River attempts above the delivery's own bound
// (webhooks.MaxTries tries, counted by the delivery): attempts are also spent by crashes and
// database failures, which are no tries. A job River discards with its delivery still pending
// is queued again by the sweep.
const webhookJobAttempts = webhooks.MaxTries + 15

// webhookUniqueStates make a delivery's job unique while it is waiting or running; a
// finished job does not stop a redelivery.
var webhookUniqueStates = []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending,
	rivertype.JobStateRetryable, rivertype.JobStateRunning, rivertype.JobStateScheduled}

// WebhookDeliveryArgs sends one webhook delivery, with its retries. Unique by delivery: a
// delivery has one job at a time, however often it is queued (the dispatch, the sweep, a
// redelivery).
type WebhookDeliveryArgs struct {
	DeliveryID string `json:"delivery_id" river:"unique"`
}

// Kind implements river.JobArgs.
func (WebhookDeliveryArgs) Kind() string { return "webhook_delivery" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (WebhookDeliveryArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueWebhooks, MaxAttempts: webhookJobAttempts,
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: webhookUniqueStates}}
}

// WebhookDeliveryWorker makes one try of a delivery (webhooks.Sender) and tells River what it
// means: done, retry on the webhook schedule, or snooze for the endpoint's Retry-After.
type WebhookDeliveryWorker struct {
	river.WorkerDefaults[WebhookDeliveryArgs]
	Sender *webhooks.Sender
	// Scale multiplies the schedule (1 in production; smaller in tests).
	Scale float64
}

// Work implements river.Worker.
func (w *WebhookDeliveryWorker) Work(ctx context.Context, job *river.Job[WebhookDeliveryArgs]) error {
	// The delivery counts its own tries (a snooze gives River's attempt back; a crash spends
	// one without a try): the Sender decides which try is the last.
	out := w.Sender.Deliver(ctx, job.Args.DeliveryID, w.Scale)
	switch out.Verdict {
	case webhooks.Retry:
		return out.Err
	case webhooks.Snooze:
		return river.JobSnooze(out.Wait)
	}
	return nil
}

// NextRetry implements river.Worker: the webhook schedule, not the charges' backoff. River asks
// after a try that failed, and after it rescued the job of a process that died mid-try (whose
// try may not have been made, or may have been delivered): so the wait follows the tries the
// delivery recorded, not River's attempts, and a delivery that is done ends at once. Without
// the record (the database failing), the wait is the first step's: River's attempts count the
// database's failures too, which are no tries, and standing in for the tries they put a
// delivery with one try behind the second step (5 minutes) after a database restart. The
// next run counts the delivery's own tries again.
func (w *WebhookDeliveryWorker) NextRetry(job *river.Job[WebhookDeliveryArgs]) time.Time {
	try := 1
	if w.Sender != nil && w.Sender.DB != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if tries, pending, err := w.Sender.DB.WebhookDeliveryTries(ctx, job.Args.DeliveryID); err == nil {
			if !pending {
				return time.Now()
			}
			try = max(tries, 1)
		}
	}
	return time.Now().Add(webhooks.RetryDelay(try, w.Scale, job.Args.DeliveryID))
}

// Timeout implements river.Worker: a try, its recording, and a margin.
func (w *WebhookDeliveryWorker) Timeout(*river.Job[WebhookDeliveryArgs]) time.Duration {
	return webhooks.Timeout + 30*time.Second
}

// EnqueueWebhooksTx queues the deliveries' jobs in tx (webhooks.Dispatcher.EnqueueTx), when
// the jobs share the domain database.
func (j *Jobs) EnqueueWebhooksTx(ctx context.Context, tx pgx.Tx, deliveryIDs []string) error {
	if _, err := j.Client.InsertManyTx(ctx, tx, webhookJobs(deliveryIDs)); err != nil {
		return fmt.Errorf("queue %d webhook deliveries: %w", len(deliveryIDs), err)
	}
	return nil
}

// Redeliver runs a delivery's job now (webhooks.Queue): a new job, or the one waiting for its
// next try.
func (j *Jobs) Redeliver(ctx context.Context, deliveryID string) error {
	res, err := j.Client.Insert(ctx, WebhookDeliveryArgs{DeliveryID: deliveryID}, nil)
	if err != nil {
		return fmt.Errorf("queue webhook delivery %s: %w", deliveryID, err)
	}
	if res.UniqueSkippedAsDuplicate && res.Job.State != rivertype.JobStateRunning {
		if _, err := j.Client.JobRetry(ctx, res.Job.ID); err != nil {
			return fmt.Errorf("run webhook delivery %s now: %w", deliveryID, err)
		}
	}
	return nil
}

func webhookJobs(ids []string) []river.InsertManyParams {
	params := make([]river.InsertManyParams, len(ids))
	for i, id := range ids {
		params[i] = river.InsertManyParams{Args: WebhookDeliveryArgs{DeliveryID: id}}
	}
	return params
}

// WebhookSweepArgs queues the deliveries that are overdue (their job lost, or never queued
// because the jobs live in another database); a periodic job queues it every minute.
type WebhookSweepArgs struct{}

// Kind implements river.JobArgs.
func (WebhookSweepArgs) Kind() string { return "webhook_sweep" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (WebhookSweepArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueMaintenance, MaxAttempts: 1,
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{
			rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateScheduled}}}
}

// WebhookSweepWorker queues a job for each pending delivery more than a minute overdue; a
// delivery whose job still waits or runs keeps that one (the jobs are unique by delivery).
type WebhookSweepWorker struct {
	river.WorkerDefaults[WebhookSweepArgs]
	DB     *db.DB
	Logger *slog.Logger
}

// Work implements river.Worker.
func (w *WebhookSweepWorker) Work(ctx context.Context, _ *river.Job[WebhookSweepArgs]) error {
	ids, err := w.DB.FindOverdueWebhookDeliveries(ctx, time.Now().Add(-webhookSweepLag), 1000)
	if err != nil || len(ids) == 0 {
		return err
	}
	client, err := river.ClientFromContextSafely[pgx.Tx](ctx)
	if err != nil {
		return err
	}
	res, err := client.InsertMany(ctx, webhookJobs(ids))
	if err != nil {
		return fmt.Errorf("queue overdue webhook deliveries: %w", err)
	}
	queued := 0
	for _, r := range res {
		if !r.UniqueSkippedAsDuplicate {
			queued++
		}
	}
	w.Logger.InfoContext(ctx, "webhook sweep", "overdue", len(ids), "queued", queued)
	return nil
}
