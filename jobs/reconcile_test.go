package jobs_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/internal/testenv"
	"github.com/giveathon/giveathon/jobs"
	"github.com/giveathon/giveathon/settlement"
)

// TestReconcilerQueuesABacklogInOneStatement: when the charges back up (the provider down, or
// more gifts than the workers settle), every PENDING gift is stale. With 600 of them, each
// already queued, a reconciler run queues the 500 it reads in one statement (queuing none:
// their jobs exist) and goes on to its other checks, down to the event's totals. Queued one
// by one, the 500 round trips took the run's whole JOB_TIMEOUT under load, and the checks
// after them never ran.
func TestReconcilerQueuesABacklogInOneStatement(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testenv.URL(t)
	plain := testenv.Open(t, url)
	don := testenv.NewDonor(t, plain)
	rows, err := plain.Pool.Query(ctx, `INSERT INTO donations (user_id, charity_id, amount_cents, currency, status, idempotency_key,
			request_hash, payment_method_id, created_at, updated_at)
		SELECT $1, $2, 500, 'USD', 'PENDING', 'backlog-' || n, 'h', $3, now() - interval '1 hour', now() - interval '1 hour'
		FROM generate_series(1, 600) n RETURNING id::text`, don.UserID, don.CharityID, don.PaymentMethodID)
	if err != nil {
		t.Fatal(err)
	}
	var backlog []*giveathon.Donation
	for rows.Next() {
		d := &giveathon.Donation{UserID: don.UserID}
		if err := rows.Scan(&d.ID); err != nil {
			t.Fatal(err)
		}
		backlog = append(backlog, d)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}

	d, counter := testenv.CountedDB(t, url)
	svc := settlement.New(d, nil, nil, nil, slog.New(slog.DiscardHandler), settlement.Config{StalePending: time.Minute})
	j, err := jobs.New(d.Pool, jobs.Deps{DB: d, Settlement: svc, Logger: slog.New(slog.DiscardHandler)}, jobs.Config{ReconcileInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	svc.Queue = j
	if queued, err := j.Enqueue(ctx, backlog...); err != nil || queued != len(backlog) {
		t.Fatalf("queue the backlog: %d queued, %v", queued, err)
	}
	counter.Take()

	r, err := svc.Reconcile(ctx)
	if err != nil || r.Requeued != 0 || r.Errors != 0 {
		t.Fatalf("reconcile: %+v, %v; want nothing queued again, no error", r, err)
	}
	var inserts, totals int
	for _, s := range counter.Take() {
		switch {
		case strings.Contains(s, "INSERT INTO") && strings.Contains(s, "river_job"):
			inserts++
		case strings.Contains(s, "totals_watermark"):
			totals++
		}
	}
	if inserts != 1 || totals == 0 {
		t.Fatalf("the run queued in %d statements and read the totals' checkpoint %d times; want 1 and some", inserts, totals)
	}
}
