// Package jobs is Giveathon's background work on River: charging donations with retries,
// sending one e-mail per outcome, and the periodic reconciler that finishes what a crash, a
// lost job or a lost answer left behind. One file per job; the shared settlement of a
// donation's outcome is in settle.go.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/db"
	"github.com/giveathon/giveathon/metrics"
	"github.com/giveathon/giveathon/notify"
	"github.com/giveathon/giveathon/payments"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
)

// Queue names.
const (
	QueuePayments      = "payments"
	QueueNotifications = "notifications"
	QueueMaintenance   = river.QueueDefault
)

// Config tunes the jobs. Zero values take the defaults below.
type Config struct {
	// ChargeMaxAttempts is how often a charge is tried before the donation fails.
	ChargeMaxAttempts int
	// RetryBase and RetryMax bound the exponential backoff (with jitter) between attempts.
	RetryBase time.Duration
	RetryMax  time.Duration
	// ReconcileInterval is how often the reconciler runs.
	ReconcileInterval time.Duration
	// StalePending is how long a donation may wait in PENDING before the reconciler queues it.
	StalePending time.Duration
	// StaleProcessing is how long a donation may sit in PROCESSING before the reconciler
	// reads its PaymentIntent.
	StaleProcessing time.Duration
	// RequiresActionTimeout is how long a donor has to complete 3-D Secure.
	RequiresActionTimeout time.Duration
	PaymentWorkers        int
	NotificationWorkers   int
	// FetchPollInterval and FetchCooldown tune how quickly workers pick up new jobs.
	FetchPollInterval time.Duration
	FetchCooldown     time.Duration
	// JobTimeout is the longest a job may run.
	JobTimeout time.Duration
	// RescueStuckJobsAfter is when a job whose worker died is run again.
	RescueStuckJobsAfter time.Duration
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.ChargeMaxAttempts <= 0 {
		c.ChargeMaxAttempts = 5
	}
	def(&c.RetryBase, 5*time.Second)
	def(&c.RetryMax, 5*time.Minute)
	def(&c.ReconcileInterval, time.Minute)
	def(&c.StalePending, time.Minute)
	def(&c.StaleProcessing, 5*time.Minute)
	def(&c.RequiresActionTimeout, 24*time.Hour)
	def(&c.FetchPollInterval, time.Second)
	def(&c.FetchCooldown, 20*time.Millisecond)
	def(&c.JobTimeout, time.Minute)
	def(&c.RescueStuckJobsAfter, 5*time.Minute)
	if c.PaymentWorkers <= 0 {
		c.PaymentWorkers = 50
	}
	if c.NotificationWorkers <= 0 {
		c.NotificationWorkers = 20
	}
	return c
}

// Gateway is what the jobs need of the payment provider.
type Gateway interface {
	CreatePaymentIntent(ctx context.Context, r payments.ChargeRequest) (*payments.PaymentIntent, error)
	ConfirmPaymentIntent(ctx context.Context, id, paymentMethodID, idempotencyKey string) (*payments.PaymentIntent, error)
	RetrievePaymentIntent(ctx context.Context, id string) (*payments.PaymentIntent, error)
	CancelPaymentIntent(ctx context.Context, id, idempotencyKey string) (*payments.PaymentIntent, error)
	FindPaymentIntentForDonation(ctx context.Context, customerID, donationID string) (*payments.PaymentIntent, error)
}

// Mailer sends donation e-mails, recording each as sent just before the server takes it.
type Mailer interface {
	SendOnce(ctx context.Context, e notify.DonationEmail, record notify.Recorder) error
	Enabled() bool
}

// Deps are the parts the jobs work with.
type Deps struct {
	DB      *db.DB
	Gateway Gateway
	Mailer  Mailer
	// PublicURL is where donors reach the web app (links in e-mails).
	PublicURL string
	// Changes hears of every move, for live subscribers; nil: nobody listens.
	Changes Publisher
	Logger  *slog.Logger
}

// Publisher tells subscribers, in every API instance, that a donation or the event's totals
// changed (db.Changes).
type Publisher interface {
	DonationChanged(ctx context.Context, d *giveathon.Donation) error
	TotalsChanged(ctx context.Context) error
}

// Jobs is the River client with Giveathon's workers, and the settlement they share.
type Jobs struct {
	Client  *river.Client[pgx.Tx]
	Settler *Settler
	cfg     Config
	// unsubscribe ends the metrics' subscription to job events.
	unsubscribe func()
}

// New builds the River client on the jobs database. jobsInDomainDB says the jobs live in the
// domain database, so jobs are inserted in the same transactions as the rows they follow.
func New(jobsPool *pgxpool.Pool, deps Deps, cfg Config, jobsInDomainDB bool) (*Jobs, error) {
	cfg = cfg.withDefaults()
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	j := &Jobs{cfg: cfg}
	j.Settler = &Settler{DB: deps.DB, Gateway: deps.Gateway, Changes: deps.Changes, Logger: deps.Logger, jobs: j, inTx: jobsInDomainDB}

	workers := river.NewWorkers()
	river.AddWorker(workers, &ChargeDonationWorker{deps: deps, settler: j.Settler})
	river.AddWorker(workers, &NotifyDonationWorker{deps: deps})
	river.AddWorker(workers, &ReconcileWorker{deps: deps, settler: j.Settler, jobs: j, cfg: cfg})

	client, err := river.NewClient(riverpgxv5.New(jobsPool), &river.Config{
		Logger:               deps.Logger.With("component", "river"),
		Workers:              workers,
		RetryPolicy:          &backoff{base: cfg.RetryBase, max: cfg.RetryMax},
		FetchPollInterval:    cfg.FetchPollInterval,
		FetchCooldown:        cfg.FetchCooldown,
		JobTimeout:           cfg.JobTimeout,
		RescueStuckJobsAfter: cfg.RescueStuckJobsAfter,
		Queues: map[string]river.QueueConfig{
			QueuePayments:      {MaxWorkers: cfg.PaymentWorkers},
			QueueNotifications: {MaxWorkers: cfg.NotificationWorkers},
			QueueMaintenance:   {MaxWorkers: 2},
		},
		PeriodicJobs: []*river.PeriodicJob{
			river.NewPeriodicJob(river.PeriodicInterval(cfg.ReconcileInterval),
				func() (river.JobArgs, *river.InsertOpts) { return ReconcileArgs{}, nil },
				&river.PeriodicJobOpts{ID: "reconcile"}),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("create River client: %w", err)
	}
	j.Client = client
	return j, nil
}

// Enqueue queues a donation's charge, in tx when given. It is the db.Enqueuer of
// db.DonationService.
func (j *Jobs) Enqueue(ctx context.Context, tx pgx.Tx, donationID string) error {
	args := ChargeDonationArgs{DonationID: donationID}
	opts := &river.InsertOpts{MaxAttempts: j.cfg.ChargeMaxAttempts}
	var err error
	if tx != nil {
		_, err = j.Client.InsertTx(ctx, tx, args, opts)
	} else {
		_, err = j.Client.Insert(ctx, args, opts)
	}
	if err != nil {
		return fmt.Errorf("queue charge of %s: %w", donationID, err)
	}
	return nil
}

// Start runs the workers until Stop, and records each job run in the metrics.
func (j *Jobs) Start(ctx context.Context) error {
	events, cancel := j.Client.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed,
		river.EventKindJobCancelled, river.EventKindJobSnoozed)
	j.unsubscribe = sync.OnceFunc(cancel)
	go func() {
		for e := range events {
			outcome := map[river.EventKind]string{river.EventKindJobCompleted: "completed", river.EventKindJobFailed: "failed",
				river.EventKindJobCancelled: "cancelled", river.EventKindJobSnoozed: "snoozed"}[e.Kind]
			metrics.JobRuns.WithLabelValues(e.Job.Kind, outcome).Inc()
			if e.JobStats != nil {
				metrics.JobRunDuration.WithLabelValues(e.Job.Kind).Observe(e.JobStats.RunDuration.Seconds())
				metrics.JobQueueWait.WithLabelValues(e.Job.Kind).Observe(e.JobStats.QueueWaitDuration.Seconds())
			}
		}
	}()
	return j.Client.Start(ctx)
}

// Stop lets running jobs finish (up to ctx's deadline) and stops the workers.
func (j *Jobs) Stop(ctx context.Context) error {
	if j.unsubscribe != nil {
		defer j.unsubscribe()
	}
	err := j.Client.Stop(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return j.Client.StopAndCancel(context.WithoutCancel(ctx))
	}
	return err
}

// backoff is exponential backoff with jitter: about base, 2*base, 4*base... capped at max.
type backoff struct {
	base, max time.Duration
}

// NextRetry implements river.ClientRetryPolicy.
func (b *backoff) NextRetry(job *rivertype.JobRow) time.Time {
	d := b.base << max(job.Attempt-1, 0)
	if d > b.max || d <= 0 {
		d = b.max
	}
	// Full jitter between half and one and a half times the step, so retries of donations that
	// failed together do not arrive together.
	d = d/2 + time.Duration(rand.Int64N(int64(d)+1))
	return time.Now().Add(d)
}

// statusOfAttempt names an attempt's end by the donation status it led to.
func statusOfAttempt(s giveathon.DonationStatus) string {
	switch s {
	case giveathon.StatusSucceeded:
		return giveathon.AttemptSucceeded
	case giveathon.StatusFailed:
		return giveathon.AttemptFailed
	case giveathon.StatusRequiresAction:
		return giveathon.AttemptRequiresAction
	}
	return giveathon.AttemptError
}
