package db_test

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/giveathon/giveathon/db"
	"github.com/giveathon/giveathon/internal/testenv"
	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestInTxRetriesSerializationFailures(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	ctx := context.Background()
	if _, err := d.Pool.Exec(ctx, `CREATE TABLE counter (id int PRIMARY KEY, v int NOT NULL); INSERT INTO counter VALUES (1, 0)`); err != nil {
		t.Fatal(err)
	}
	const writers = 16
	var attempts atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- d.InTx(ctx, func(tx pgx.Tx) error {
				attempts.Add(1)
				var v int
				if err := tx.QueryRow(ctx, `SELECT v FROM counter WHERE id = 1`).Scan(&v); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, `UPDATE counter SET v = $1 WHERE id = 1`, v+1)
				return err
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("transaction failed despite retries: %v", err)
		}
	}
	var v int
	_ = d.Pool.QueryRow(ctx, `SELECT v FROM counter`).Scan(&v)
	if v != writers {
		t.Fatalf("counter = %d, want %d: a lost update got through", v, writers)
	}
	t.Logf("%d writers took %d attempts", writers, attempts.Load())
}

func TestMigrateStatusDownUp(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	ctx := context.Background()
	m := &db.Migrator{Domain: d.Pool, Jobs: d.Pool}
	lines, err := m.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "applied") {
			t.Fatalf("fresh test database has a pending migration: %q", l)
		}
	}
	if pending, err := m.Pending(ctx); err != nil || pending {
		t.Fatalf("Pending = %v, %v on a migrated database", pending, err)
	}
	for {
		line, err := m.Down(ctx)
		if err != nil {
			break // nothing left to roll back
		}
		t.Log("rolled back", line)
	}
	var exists bool
	_ = d.Pool.QueryRow(ctx, `SELECT to_regclass('users') IS NOT NULL`).Scan(&exists)
	if exists {
		t.Fatal("users table survived rolling everything back")
	}
	if pending, _ := m.Pending(ctx); !pending {
		t.Fatal("Pending = false after rolling back")
	}
	applied, err := m.Up(ctx)
	if err != nil || len(applied) == 0 {
		t.Fatalf("up again: %v, %v", applied, err)
	}
	_ = d.Pool.QueryRow(ctx, `SELECT to_regclass('users') IS NOT NULL`).Scan(&exists)
	if !exists {
		t.Fatal("users table missing after migrating up again")
	}
}

func TestSeedIsIdempotent(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	ctx := context.Background()
	added, err := d.UpsertCharities(ctx, db.SeedCharities)
	if err != nil || added != len(db.SeedCharities) {
		t.Fatalf("first seed: added %d, %v", added, err)
	}
	added, err = d.UpsertCharities(ctx, db.SeedCharities)
	if err != nil || added != 0 {
		t.Fatalf("second seed: added %d, %v", added, err)
	}
	if n, _ := d.CountCharities(ctx); n != len(db.SeedCharities) {
		t.Fatalf("%d charities after seeding twice", n)
	}
}

// TestPruneExpiredKeepsWhatStillCounts: old rate-limit windows and old read-your-writes
// fences go; a current window and a fresh fence stay.
func TestPruneExpiredKeepsWhatStillCounts(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	ctx := context.Background()
	if _, err := d.Pool.Exec(ctx, `INSERT INTO rate_limits (bucket, window_start) VALUES ('old', now() - interval '2 days'), ('now', now());
		INSERT INTO replica_fences (user_id, lsn, written_at) VALUES (gen_random_uuid(), 1, now() - interval '2 hours'), (gen_random_uuid(), 2, now())`); err != nil {
		t.Fatal(err)
	}
	n, err := d.PruneExpired(ctx)
	if err != nil || n != 2 {
		t.Fatalf("pruned %d, %v; want 2", n, err)
	}
	var limits, fences int
	if err := d.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM rate_limits), (SELECT count(*) FROM replica_fences)`).Scan(&limits, &fences); err != nil || limits != 1 || fences != 1 {
		t.Fatalf("left %d windows and %d fences (%v), want 1 and 1", limits, fences, err)
	}
}

func TestOpenSizesThePoolToTheCores(t *testing.T) {
	t.Parallel()
	url := testenv.URL(t)
	ctx := context.Background()
	for _, tc := range []struct {
		set, want int32
	}{
		{0, int32(max(8, 4*runtime.GOMAXPROCS(0)))},
		{3, 3},
	} {
		d, err := db.Open(ctx, url, tc.set)
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Pool.Config().MaxConns; got != tc.want {
			t.Errorf("Open with %d connections: a pool of %d, want %d", tc.set, got, tc.want)
		}
		d.Close()
	}
}

func TestMigrateTunesRiverJobAutovacuum(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	ctx := context.Background()
	m := &db.Migrator{Domain: d.Pool, Jobs: d.Pool}
	scale := func() (v string) {
		t.Helper()
		if err := d.Pool.QueryRow(ctx, `SELECT coalesce((SELECT o FROM pg_class, unnest(reloptions) o
			WHERE oid = 'river_job'::regclass AND o LIKE 'autovacuum_vacuum_scale_factor=%'), '')`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if got := scale(); got != "autovacuum_vacuum_scale_factor=0.02" {
		t.Fatalf("a migrated river_job has %q", got)
	}
	// A database migrated before the settings existed: pending, and Up sets them.
	if _, err := d.Pool.Exec(ctx, `ALTER TABLE river_job RESET (autovacuum_vacuum_scale_factor)`); err != nil {
		t.Fatal(err)
	}
	if pending, err := m.Pending(ctx); err != nil || !pending {
		t.Fatalf("Pending = %v, %v with river_job untuned", pending, err)
	}
	applied, err := m.Up(ctx)
	if err != nil || len(applied) != 1 || !strings.HasPrefix(applied[0], "river_job autovacuum") {
		t.Fatalf("Up = %q, %v", applied, err)
	}
	if got := scale(); got != "autovacuum_vacuum_scale_factor=0.02" {
		t.Fatalf("after Up river_job has %q", got)
	}
	if pending, err := m.Pending(ctx); err != nil || pending {
		t.Fatalf("Pending = %v, %v after Up", pending, err)
	}
}

// TestPoolsRunGenericPlans checks the setting the partition checks' plans assume: a pool that
// db.Open makes runs generic plans (docs/design-notes.md, "Generic plans").
func TestPoolsRunGenericPlans(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	var mode string
	if err := d.Pool.QueryRow(context.Background(), `SHOW plan_cache_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "force_generic_plan" {
		t.Fatalf("plan_cache_mode = %s", mode)
	}
}
