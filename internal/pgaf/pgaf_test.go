package pgaf_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/db"
	"github.com/giveathon/giveathon/internal/pgaf"
	"github.com/jackc/pgx/v5"
)

// TestWritesRideThroughSwitchoverAndFailover: writes through db.Retry, on the pool Giveathon
// opens from the formation's multi-host DSN, all land through a planned switchover, the
// primary's loss (keeper and postmaster killed) and its rejoining, and every acknowledged
// write is on the primary afterwards.
func TestWritesRideThroughSwitchoverAndFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a pg_auto_failover formation and fails it over")
	}
	pgaf.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c, err := pgaf.Start(ctx, pgaf.Config{Settings: map[string]string{"fsync": "off"}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			t.Log(c.Logs(30))
		}
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	}()
	d, err := db.Open(ctx, c.URL(), 4)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Exec(ctx, `CREATE TABLE IF NOT EXISTS gifts (k int PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	// Live subscriptions hear of changes through LISTEN on a connection of its own.
	changes := db.NewChanges(d.Pool, slog.New(slog.DiscardHandler))
	listenCtx, stopListening := context.WithCancel(ctx)
	defer stopListening()
	go changes.Listen(listenCtx)
	woken, unsubscribe := changes.SubscribeDonation("d1")
	defer unsubscribe()
	written := 0
	write := func(step string) {
		t.Helper()
		written++
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if _, err := d.Exec(wctx, `INSERT INTO gifts VALUES ($1) ON CONFLICT DO NOTHING`, written); err != nil {
			t.Fatalf("write %d %s: %v", written, step, err)
		}
	}
	write("before")

	primary, err := c.Switchover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	write("after the switchover to " + primary.Name)

	// The primary's loss ends what it was busy with: none of its backends (each in a session
	// of its own, outside the keeper's process group) goes on answering after the kill.
	busy, err := pgx.Connect(ctx, c.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close(context.Background())
	busyDone := make(chan error, 1)
	go func() {
		var n int64
		busyDone <- busy.QueryRow(ctx, `SELECT count(*) FROM generate_series(1, 300000000) AS busy_until_killed`).Scan(&n)
	}()
	for running := 0; running == 0; {
		if err := d.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE state = 'active' AND query LIKE '%busy_until_killed%' AND pid <> pg_backend_pid()`).Scan(&running); err != nil {
			t.Fatal(err)
		}
	}
	killed, err := c.KillPrimary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-busyDone; err == nil {
		t.Fatalf("a query that %s was running when it was killed went on and answered", killed.Name)
	}
	write(fmt.Sprintf("after %s was killed", killed.Name)) // retried until the standby is promoted
	if err := d.Ready(ctx); err != nil {
		t.Fatalf("Ready after the promotion: %v", err)
	}
	if err := c.Rejoin(ctx, killed); err != nil {
		t.Fatal(err)
	}
	write("after " + killed.Name + " rejoined")

	var n int
	if err := d.QueryRow(ctx, `SELECT count(*) FROM gifts`).Scan(&n); err != nil || n != written {
		t.Fatalf("%d of %d acknowledged writes on the primary (%v)", n, written, err)
	}

	// The listener found the new primary by itself: a change published there wakes the
	// subscriber (or the listener's reconnection, if it is still under way, does).
	select {
	case <-woken: // an earlier reconnection's
	default:
	}
	for heard := false; !heard; {
		_ = changes.DonationChanged(ctx, &giveathon.Donation{ID: "d1", Status: giveathon.StatusSucceeded})
		select {
		case <-woken:
			heard = true
		case <-time.After(time.Second):
		case <-ctx.Done():
			t.Fatal("the change listener never heard from the new primary")
		}
	}
}
