package graph

import (
	"context"
	"testing"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/db"
	"github.com/giveathon/giveathon/internal/testenv"
)

// TestSnapshotAfterAWakeUpShowsTheChange: a query may have cached the totals just before a
// gift succeeded; the subscribers woken by that gift's notice must not be handed that cache.
func TestSnapshotAfterAWakeUpShowsTheChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, err := db.Open(ctx, testenv.URL(t), 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	if _, err := d.UpsertCharities(ctx, db.SeedCharities[:1]); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Pool.Exec(ctx, `INSERT INTO event_totals (charity_id, shard, total_cents, donation_count)
		SELECT id, 3, 100, 1 FROM charities`); err != nil {
		t.Fatal(err)
	}
	l := &Live{Event: giveathon.Event{Name: "Test", StartsAt: time.Now(), EndsAt: time.Now().Add(time.Hour)}, Totals: d, MaxAge: time.Hour}
	before, err := l.Snapshot(ctx)
	if err != nil || before.TotalCents != 100 {
		t.Fatalf("first snapshot: %+v, %v", before, err)
	}
	// A gift succeeds (its move bumps a counter), then its notice wakes a subscriber.
	if _, err := d.Pool.Exec(ctx, `UPDATE event_totals SET total_cents = total_cents + 250, donation_count = donation_count + 1`); err != nil {
		t.Fatal(err)
	}
	woke := time.Now()
	if cached, _ := l.Snapshot(ctx); cached != before {
		t.Fatal("a plain read within MaxAge did not use the cache")
	}
	after, err := l.snapshotSince(ctx, woke)
	if err != nil || after.TotalCents != 350 || after.DonationCount != 2 {
		t.Fatalf("snapshot after the wake-up: %+v, %v", after, err)
	}
	if again, _ := l.snapshotSince(ctx, woke); again != after {
		t.Fatal("a second subscriber woken by the same notice read again instead of sharing the read")
	}
}
