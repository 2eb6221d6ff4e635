// Command reconcilebench times the reconciler's statements (the stale sweeps, the disagreeing
// attempts, the abandoned attempts, the prunes, the totals reconciliation: what one run of
// settlement.Reconcile asks the database) on a database full of an event's donations, and
// prints each one's time and the run's. Run it once to fill and measure; run it again with the
// same -dir to migrate the same table up (new indexes) and measure again.
//
//	go run ./cmd/reconcilebench -donations 3000000 -donors 300000 -dir /tmp/rb
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/db"
	"github.com/giveathon/giveathon/internal/benchdb"
	"github.com/jackc/pgx/v5/pgxpool"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "reconcilebench:", err)
		os.Exit(1)
	}
}

const dbName = "reconcilebench"

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("reconcilebench", flag.ContinueOnError)
	donations := fs.Int("donations", 3_000_000, "donations in the database")
	donors := fs.Int("donors", 300_000, "donors they come from (evenly)")
	charities := fs.Int("charities", 200, "charities they go to")
	runs := fs.Int("runs", 3, "reconciler runs, with -gifts new gifts settled before each after the first")
	gifts := fs.Int("gifts", 2000, "gifts settled between two runs")
	dir := fs.String("dir", "", "folder for the database; kept, and reused (migrated up) when it holds one")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("-dir is required")
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	_, statErr := os.Stat(filepath.Join(*dir, "data"))
	reuse := statErr == nil
	pg, err := benchdb.Start(ctx, *dir)
	if err != nil {
		return err
	}
	defer pg.Stop()
	var store *db.DB
	if reuse {
		if store, err = db.Open(ctx, pg.URL(dbName), 4); err != nil {
			return err
		}
		m := &db.Migrator{Domain: store.Pool, Jobs: store.Pool}
		started := time.Now()
		if _, err := m.Up(ctx); err != nil {
			return err
		}
		if _, err := store.Pool.Exec(ctx, `ANALYZE`); err != nil {
			return err
		}
		fmt.Fprintf(out, "reused the filled table, migrated up in %s\n", time.Since(started).Round(time.Millisecond))
	} else {
		if store, _, err = benchdb.Create(ctx, pg, dbName, 4); err != nil {
			return err
		}
		started := time.Now()
		if err := fill(ctx, store.Pool, benchdb.Spec{Donations: *donations, Donors: *donors, Charities: *charities}); err != nil {
			return err
		}
		fmt.Fprintf(out, "filled in %s\n", time.Since(started).Round(time.Millisecond))
	}
	defer store.Close()
	var n int64
	if err := store.Pool.QueryRow(ctx, `SELECT count(*) FROM donations`).Scan(&n); err != nil {
		return err
	}
	fmt.Fprintf(out, "%d donations\n", n)
	for i := 0; i < *runs; i++ {
		if i > 0 {
			if err := settleGifts(ctx, store.Pool, *gifts); err != nil {
				return err
			}
		}
		if err := once(ctx, store, i+1, out); err != nil {
			return err
		}
	}
	return nil
}

// fill inserts the donations (benchdb.Fill), then makes the table look like an event's: 5% of
// the gifts failed, 1% refunded, an attempt for every donation, a few donations still being
// charged, and the event's counters agreeing with the donations.
func fill(ctx context.Context, pool *pgxpool.Pool, s benchdb.Spec) error {
	if err := benchdb.Fill(ctx, pool, s); err != nil {
		return err
	}
	for _, q := range []string{
		`UPDATE donations SET status = 'FAILED', failure_code = 'card_declined' WHERE random() < 0.05`,
		`UPDATE donations SET status = 'REFUNDED' WHERE status = 'SUCCEEDED' AND random() < 0.01`,
		`INSERT INTO payment_attempts (donation_id, attempt_no, provider_request_key, status, started_at, finished_at)
			SELECT id, 1, 'donation-' || id || '-a1', CASE WHEN status = 'FAILED' THEN 'failed' ELSE 'succeeded' END, settled_at, settled_at
			FROM donations`,
		`INSERT INTO donations (user_id, charity_id, amount_cents, currency, status, idempotency_key, request_hash, payment_method_id)
			SELECT pm.user_id, (SELECT id FROM charities LIMIT 1), 500, 'USD', (ARRAY['PENDING', 'PROCESSING', 'REQUIRES_ACTION'])[1 + pm.n % 3],
				gen_random_uuid()::text, 'h', pm.id
			FROM (SELECT user_id, id, row_number() OVER () AS n FROM payment_methods LIMIT 300) pm`,
		`INSERT INTO event_totals (charity_id, shard, total_cents, donation_count)
			SELECT charity_id, 0, sum(amount_cents), count(*) FROM donations WHERE status = 'SUCCEEDED' GROUP BY charity_id`,
		`VACUUM ANALYZE`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			return fmt.Errorf("fill: %w", err)
		}
	}
	return nil
}

// settleGifts settles n new gifts as the money path does: the donation and its counters in
// one statement.
func settleGifts(ctx context.Context, pool *pgxpool.Pool, n int) error {
	_, err := pool.Exec(ctx, `WITH d AS (
			INSERT INTO donations (user_id, charity_id, amount_cents, currency, status, idempotency_key, request_hash, payment_method_id, settled_at)
			SELECT pm.user_id, c.id, 1000, 'USD', 'SUCCEEDED', gen_random_uuid()::text, 'h', pm.id, now()
			FROM (SELECT user_id, id FROM payment_methods ORDER BY random() LIMIT $1) pm,
				LATERAL (SELECT id FROM charities WHERE pm.id IS NOT NULL ORDER BY random() LIMIT 1) c
			RETURNING charity_id, amount_cents)
		INSERT INTO event_totals (charity_id, shard, total_cents, donation_count)
		SELECT charity_id, 1, sum(amount_cents), count(*) FROM d GROUP BY charity_id
		ON CONFLICT (charity_id, shard) DO UPDATE SET total_cents = event_totals.total_cents + excluded.total_cents,
			donation_count = event_totals.donation_count + excluded.donation_count`, n)
	return err
}

// once runs the reconciler's statements once, in its order, and prints their times.
func once(ctx context.Context, store *db.DB, run int, out io.Writer) error {
	type step struct {
		name string
		do   func() (int, error)
	}
	stale := func(s giveathon.DonationStatus) func() (int, error) {
		return func() (int, error) {
			l, err := store.FindStaleDonations(ctx, s, 10*time.Minute, 500)
			return len(l), err
		}
	}
	steps := []step{
		{"stale PENDING", stale(giveathon.StatusPending)},
		{"stale PROCESSING", stale(giveathon.StatusProcessing)},
		{"stale REQUIRES_ACTION", stale(giveathon.StatusRequiresAction)},
		{"disagreeing", func() (int, error) {
			l, err := store.FindDisagreeingDonations(ctx, 500)
			return len(l), err
		}},
		{"abandoned attempts", func() (int, error) {
			n, err := store.CloseAbandonedAttempts(ctx, 10*time.Minute)
			return int(n), err
		}},
		{"prune", func() (int, error) {
			n, err := store.PruneExpired(ctx)
			return int(n), err
		}},
		{"totals", func() (int, error) {
			l, err := store.ReconcileEventTotals(ctx)
			return len(l), err
		}},
	}
	all := time.Now()
	fmt.Fprintf(out, "run %d:", run)
	for _, s := range steps {
		started := time.Now()
		n, err := s.do()
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		fmt.Fprintf(out, " %s %s (%d),", s.name, time.Since(started).Round(100*time.Microsecond), n)
	}
	fmt.Fprintf(out, " whole run %s\n", time.Since(all).Round(time.Millisecond))
	return nil
}
