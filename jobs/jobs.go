// Package jobs is Giveathon's background work: River's workers that charge donations with
// retries and run the periodic reconciler, and the outbox drainer that sends the e-mails the
// moves wrote. One file per job; the workers are thin callers of the settlement package,
// which holds the rules.
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
	"github.com/giveathon/giveathon/settlement"
	"github.com/giveathon/giveathon/webhooks"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
)

// Queue names.
const (
	QueuePayments    = "payments"
	QueueMaintenance = river.QueueDefault
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
	PaymentWorkers    int
	// OutboxInterval is how often the outbox drainer looks for e-mails when it found none.
	OutboxInterval time.Duration
	// SequencerInterval is how often the sequencer looks for partner events to number when it
	// found none.
	SequencerInterval time.Duration
	// FetchPollInterval and FetchCooldown tune how quickly workers pick up new jobs.
	FetchPollInterval time.Duration
	FetchCooldown     time.Duration
	// JobTimeout is the longest a job may run.
	JobTimeout time.Duration
	// RescueStuckJobsAfter is when a job whose worker died is run again.
	RescueStuckJobsAfter time.Duration
	// WebhookWorkers is how many webhook deliveries run at once.
	WebhookWorkers int
	// WebhookRetryScale multiplies the webhook retry schedule (1 when zero; tests only).
	WebhookRetryScale float64
	// WebhookSweepInterval is how often overdue webhook deliveries are queued again.
	WebhookSweepInterval time.Duration
	// CompletedJobRetention is how long River keeps a completed job
	// (DefaultCompletedJobRetention when zero).
	CompletedJobRetention time.Duration
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
	def(&c.OutboxInterval, 250*time.Millisecond)
	def(&c.SequencerInterval, 200*time.Millisecond)
	def(&c.FetchPollInterval, time.Second)
	def(&c.FetchCooldown, 20*time.Millisecond)
	def(&c.JobTimeout, time.Minute)
	def(&c.RescueStuckJobsAfter, 5*time.Minute)
	if c.PaymentWorkers <= 0 {
		c.PaymentWorkers = 50
	}
	if c.WebhookWorkers <= 0 {
		c.WebhookWorkers = 20
	}
	if c.WebhookRetryScale <= 0 {
		c.WebhookRetryScale = 1
	}
	def(&c.WebhookSweepInterval, time.Minute)
	def(&c.CompletedJobRetention, DefaultCompletedJobRetention)
	return c
}

// Mailer sends donation e-mails, many over one connection.
type Mailer interface {
	SendBatch(ctx context.Context, list []notify.DonationEmail) []error
	Enabled() bool
}

// Deps are the parts the jobs work with.
type Deps struct {
	DB         *db.DB
	Settlement *settlement.Service
	Mailer     Mailer
	// PublicURL is where donors reach the web app (links in e-mails).
	PublicURL string
	Logger    *slog.Logger
	// Event is the event whose goal's milestones the sequencer announces.
	Event giveathon.Event
	// OnSequenced, when set, is given each batch of partner events the sequencer numbers, in
	// the batch's transaction (the webhook dispatcher).
	OnSequenced SequencedHook
	// Webhooks sends webhook deliveries; nil: no webhook worker runs here.
	Webhooks *webhooks.Sender
}

// Jobs is the River client with Giveathon's workers, and the outbox drainer.
type Jobs struct {
	Client *river.Client[pgx.Tx]
	Outbox *Outbox
	// Sequencer numbers partners' events; it runs beside the outbox drainer.
	Sequencer *Sequencer
	cfg       Config
	// unsubscribe ends the metrics' subscription to job events.
	unsubscribe func()
	// stopOutbox ends the drainer and the sequencer and waits for their batches.
	stopOutbox func()
}

// New builds the River client on the jobs database, and the outbox drainer on the domain
// database.
func New(jobsPool *pgxpool.Pool, deps Deps, cfg Config) (*Jobs, error) {
	cfg = cfg.withDefaults()
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	j := &Jobs{cfg: cfg, Outbox: &Outbox{DB: deps.DB, Mailer: deps.Mailer, PublicURL: deps.PublicURL,
		Logger: deps.Logger.With("component", "outbox"), Interval: cfg.OutboxInterval},
		Sequencer: &Sequencer{DB: deps.DB, OnSequenced: deps.OnSequenced, Event: deps.Event,
			Logger: deps.Logger.With("component", "sequencer"), Interval: cfg.SequencerInterval}}

	workers := river.NewWorkers()
	river.AddWorker(workers, NewChargeDonationWorker(deps.Settlement))
	river.AddWorker(workers, &ReconcileWorker{deps: deps})
	periodic := []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(cfg.ReconcileInterval),
			func() (river.JobArgs, *river.InsertOpts) { return ReconcileArgs{}, nil },
			&river.PeriodicJobOpts{ID: "reconcile"}),
	}
	if deps.Webhooks != nil {
		river.AddWorker(workers, &WebhookDeliveryWorker{Sender: deps.Webhooks, Scale: cfg.WebhookRetryScale})
		river.AddWorker(workers, &WebhookSweepWorker{DB: deps.DB, Logger: deps.Logger.With("component", "webhooks")})
		periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(cfg.WebhookSweepInterval),
			func() (river.JobArgs, *river.InsertOpts) { return WebhookSweepArgs{}, nil },
			&river.PeriodicJobOpts{ID: "webhook_sweep"}))
	}

	client, err := river.NewClient(riverpgxv5.New(jobsPool), &river.Config{
		// River's own lines carry library=river: deps.Logger names the component (jobs), and
		// a second "component" key made JSON lines with the key twice.
		Logger:               deps.Logger.With("library", "river"),
		Workers:              workers,
		RetryPolicy:          &backoff{base: cfg.RetryBase, max: cfg.RetryMax},
		FetchPollInterval:    cfg.FetchPollInterval,
		FetchCooldown:        cfg.FetchCooldown,
		JobTimeout:           cfg.JobTimeout,
		RescueStuckJobsAfter: cfg.RescueStuckJobsAfter,
		Queues: map[string]river.QueueConfig{
			QueuePayments:    {MaxWorkers: cfg.PaymentWorkers},
			QueueMaintenance: {MaxWorkers: 2},
			QueueWebhooks:    {MaxWorkers: cfg.WebhookWorkers},
		},
		PeriodicJobs: periodic,
		// Completed jobs go within minutes, and River's reindexer waits for the event's end:
		// see maintenance.go.
		CompletedJobRetentionPeriod: cfg.CompletedJobRetention,
		ReindexerSchedule:           offEventSchedule{event: deps.Event},
	})
	if err != nil {
		return nil, fmt.Errorf("create River client: %w", err)
	}
	j.Client = client
	return j, nil
}

// Enqueue queues the donations' charges in one statement (settlement.Queue) and reports how
// many it queued: a charge already queued for a donation is left alone.
func (j *Jobs) Enqueue(ctx context.Context, donations ...*giveathon.Donation) (int, error) {
	if len(donations) == 0 {
		return 0, nil
	}
	refs := make([]db.ChargeRef, len(donations))
	for i, d := range donations {
		refs[i] = db.ChargeRef{UserID: d.UserID, DonationID: d.ID}
	}
	res, err := j.Client.InsertMany(ctx, j.chargeParams(refs))
	if err != nil {
		return 0, fmt.Errorf("queue %d charges: %w", len(donations), err)
	}
	queued := 0
	for _, r := range res {
		if !r.UniqueSkippedAsDuplicate {
			queued++
		}
	}
	return queued, nil
}

// chargeParams are the charge jobs of refs, for one InsertMany (Enqueue, EnqueueTx).
func (j *Jobs) chargeParams(refs []db.ChargeRef) []river.InsertManyParams {
	opts := &river.InsertOpts{MaxAttempts: j.cfg.ChargeMaxAttempts}
	params := make([]river.InsertManyParams, len(refs))
	for i, r := range refs {
		params[i] = river.InsertManyParams{Args: ChargeDonationArgs{UserID: r.UserID, DonationID: r.DonationID}, InsertOpts: opts}
	}
	return params
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
	if err := j.Client.Start(ctx); err != nil {
		return err
	}
	drainCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	var running sync.WaitGroup
	running.Go(func() { j.Outbox.Run(drainCtx) })
	running.Go(func() { j.Sequencer.Run(drainCtx) })
	j.stopOutbox = sync.OnceFunc(func() {
		stop()
		running.Wait()
	})
	return nil
}

// Stop lets running jobs finish (up to ctx's deadline) and stops the workers.
func (j *Jobs) Stop(ctx context.Context) error {
	if j.unsubscribe != nil {
		defer j.unsubscribe()
	}
	if j.stopOutbox != nil {
		defer j.stopOutbox()
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

// EnqueueTx queues the charges of donations recorded in tx in one statement (db.ManyEnqueuer),
// when the jobs share the domain database: a single submit's, or a write-combined batch's.
func (j *Jobs) EnqueueTx(ctx context.Context, tx pgx.Tx, refs []db.ChargeRef) error {
	if _, err := j.Client.InsertManyTx(ctx, tx, j.chargeParams(refs)); err != nil {
		return fmt.Errorf("queue %d charges: %w", len(refs), err)
	}
	return nil
}
