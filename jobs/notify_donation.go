package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/db"
	"github.com/giveathon/giveathon/notify"
	"github.com/riverqueue/river"
)

// NotifyDonationArgs sends the e-mail of one donation's outcome (Outcome is the e-mail kind:
// notify.KindReceipt or notify.KindFailure). Unique by donation and outcome: one job, and one
// e-mail, per outcome.
type NotifyDonationArgs struct {
	DonationID string `json:"donation_id" river:"unique"`
	Outcome    string `json:"kind" river:"unique"`
}

// Kind implements river.JobArgs.
func (NotifyDonationArgs) Kind() string { return "notify_donation" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (NotifyDonationArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueNotifications, MaxAttempts: 10, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// NotifyDonationWorker sends a receipt or a failure notice, recorded in notifications so that
// a job run twice sends once.
type NotifyDonationWorker struct {
	river.WorkerDefaults[NotifyDonationArgs]
	deps Deps
}

// Work implements river.Worker.
func (w *NotifyDonationWorker) Work(ctx context.Context, job *river.Job[NotifyDonationArgs]) error {
	n, err := w.deps.DB.FindNotificationContext(ctx, job.Args.DonationID)
	if giveathon.ErrorCode(err) == giveathon.ENOTFOUND {
		return river.JobCancel(err)
	} else if err != nil {
		return err
	}
	d := n.Donation
	before, err := w.deps.DB.ClaimNotification(ctx, d.UserID, d.ID, job.Args.Outcome)
	if err != nil {
		return err
	}
	if before == db.NotificationSent || before == db.NotificationLogged {
		return nil
	}
	date := d.UpdatedAt
	if d.SettledAt != nil {
		date = *d.SettledAt
	}
	e := notify.DonationEmail{
		Kind: job.Args.Outcome, DonationID: d.ID, DonorName: n.DonorName, DonorEmail: n.DonorEmail,
		CharityName: n.CharityName, CharityEIN: n.CharityEIN, AmountCents: d.AmountCents, Currency: d.Currency,
		Date: date, FailureReason: d.FailureMessage, HistoryURL: w.deps.PublicURL + "/history",
	}
	status := db.NotificationSent
	if !w.deps.Mailer.Enabled() {
		status = db.NotificationLogged
	}
	// Recorded once the server has taken the message (see notify.SendOnce).
	err = w.deps.Mailer.SendOnce(ctx, e, func() error {
		return w.deps.DB.FinishNotification(ctx, d.ID, job.Args.Outcome, status)
	})
	if errors.Is(err, notify.ErrDelivered) {
		// Delivered for sure: record it, however long the database takes to come back.
		return w.record(ctx, d.ID, job.Args.Outcome, status)
	}
	if giveathon.ErrorCode(err) == giveathon.EINVALID {
		// Nothing to retry: this e-mail cannot be made (no address, say).
		return river.JobCancel(fmt.Errorf("send %s of %s: %w", job.Args.Outcome, d.ID, err))
	} else if err != nil {
		return fmt.Errorf("send %s of %s: %w", job.Args.Outcome, d.ID, err)
	}
	return nil
}

// record marks a delivered e-mail as sent, retrying until the database answers or the job's
// time is up.
func (w *NotifyDonationWorker) record(ctx context.Context, donationID, kind, status string) error {
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		err := w.deps.DB.FinishNotification(ctx, donationID, kind, status)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("record delivered %s of %s: %w", kind, donationID, err)
		case <-time.After(wait):
		}
	}
}
