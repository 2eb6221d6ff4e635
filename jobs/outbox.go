package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/db"
	"github.com/giveathon/giveathon/metrics"
	"github.com/giveathon/giveathon/notify"
)

// Outbox limits.
const (
	// outboxBatch is the most e-mails one claim takes (and one SMTP connection carries).
	outboxBatch = 100
	// outboxLease is how long a claim holds its rows: a drainer that dies with them lets
	// another take them after this. Sending a batch and recording it each get a third of it,
	// so a live drainer is done with its rows before anyone else may take them.
	outboxLease = 30 * time.Second
	// outboxMaxAttempts is how often an e-mail is tried before it is given up as failed.
	outboxMaxAttempts = 10
)

// Outbox is the drainer of the e-mail outbox: the rows a donation's move wrote in
// notifications. It claims due rows in batches (SKIP LOCKED, under a lease, so several
// processes share the work), sends them over one SMTP connection, and marks the sent ones in
// one statement. Delivery is at least once with one Message-ID per outcome: a drainer that
// dies between sending and marking leaves rows whose lease runs out, and they go again.
type Outbox struct {
	DB     *db.DB
	Mailer Mailer
	// PublicURL is where donors reach the web app (links in e-mails).
	PublicURL string
	Logger    *slog.Logger
	// Interval is how long the drainer waits when it found nothing to send.
	Interval time.Duration
}

// Run drains until ctx ends: at once while batches come full, every Interval otherwise.
func (o *Outbox) Run(ctx context.Context) {
	repeat(ctx, o.Interval, func(ctx context.Context) bool {
		n, err := o.Drain(ctx)
		if err != nil && ctx.Err() == nil {
			o.Logger.WarnContext(ctx, "drain the e-mail outbox", "err", err)
		}
		return n == outboxBatch && err == nil
	})
}

// repeat runs step until ctx ends: again at once while it says more work waits, after
// interval otherwise.
func repeat(ctx context.Context, interval time.Duration, step func(ctx context.Context) (more bool)) {
	for {
		if step(ctx) {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// Drain claims one batch of due e-mails, sends them and records the result; it returns how
// many it claimed.
func (o *Outbox) Drain(ctx context.Context) (int, error) {
	claimed, err := o.DB.ClaimNotifications(ctx, outboxBatch, outboxLease)
	if err != nil || len(claimed) == 0 {
		return 0, err
	}
	emails := make([]notify.DonationEmail, len(claimed))
	for i, c := range claimed {
		d := c.Donation
		date := d.UpdatedAt
		if d.SettledAt != nil {
			date = *d.SettledAt
		}
		emails[i] = notify.DonationEmail{
			Kind: c.Kind, DonationID: d.ID, DonorName: c.DonorName, DonorEmail: c.DonorEmail,
			CharityName: c.CharityName, CharityEIN: c.CharityEIN, AmountCents: d.AmountCents, Currency: d.Currency,
			Date: date, FailureReason: d.FailureMessage, HistoryURL: o.historyURL(d),
		}
	}
	// The sends are not cut short by a stopping process: a batch under way finishes and is
	// recorded, or its lease runs out and it goes again. What is not sent in a third of the
	// lease is refused, and tried again later.
	sendCtx, cancelSend := context.WithTimeout(context.WithoutCancel(ctx), outboxLease/3)
	errs := o.Mailer.SendBatch(sendCtx, emails)
	cancelSend()
	status := db.NotificationSent
	if !o.Mailer.Enabled() {
		status = db.NotificationLogged
	}
	var sent []string
	var failed []db.OutboxFailure
	for i, c := range claimed {
		if errs[i] == nil {
			sent = append(sent, c.ID)
			metrics.OutboxEmails.WithLabelValues(c.Kind, status).Inc()
			metrics.OutboxWait.Observe(metrics.Since(c.CreatedAt))
			continue
		}
		f := db.OutboxFailure{ID: c.ID, Error: errs[i].Error()}
		if giveathon.ErrorCode(errs[i]) != giveathon.EINVALID && c.Attempts < outboxMaxAttempts {
			// Seconds, then minutes: 5 s, 10 s, 20 s ... up to 10 min.
			f.RetryAt = time.Now().Add(min(5*time.Second<<(c.Attempts-1), 10*time.Minute))
			metrics.OutboxEmails.WithLabelValues(c.Kind, "retry").Inc()
			o.Logger.WarnContext(ctx, "e-mail not sent: will try again", "donation", c.Donation.ID, "kind", c.Kind,
				"attempt", c.Attempts, "retry_at", f.RetryAt, "err", errs[i])
		} else {
			metrics.OutboxEmails.WithLabelValues(c.Kind, db.NotificationFailed).Inc()
			o.Logger.ErrorContext(ctx, "e-mail given up", "donation", c.Donation.ID, "kind", c.Kind, "attempts", c.Attempts, "err", errs[i])
		}
		failed = append(failed, f)
	}
	// Delivered for sure: record it, however long the database takes to come back (within the
	// lease), rather than let the lease run out and send again.
	recordCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), outboxLease/3)
	defer cancel()
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		if err = o.DB.MarkNotifications(recordCtx, sent, status); err == nil {
			break
		}
		select {
		case <-recordCtx.Done():
			return len(claimed), err
		case <-time.After(wait):
		}
	}
	return len(claimed), o.DB.ReleaseNotifications(recordCtx, failed)
}

// historyURL is the link to the donor's history in the web app, or "" for a gift through a
// partner: its donor has no account here, and the partner keeps the history.
func (o *Outbox) historyURL(d *giveathon.Donation) string {
	if d.PartnerID != "" {
		return ""
	}
	return o.PublicURL + "/history"
}
