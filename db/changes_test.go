package db_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/db"
	"github.com/giveathon/giveathon/internal/testenv"
)

// TestChangesWakeTheRightSubscribers sends notices through PostgreSQL and checks who hears
// them: a donation's watchers for any move, the totals' watchers (and TotalsChangedAt) only
// for moves into SUCCEEDED or REFUNDED.
func TestChangesWakeTheRightSubscribers(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d, err := db.Open(ctx, testenv.URL(t), 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	c := db.NewChanges(d.Pool, slog.New(slog.DiscardHandler))
	go c.Listen(ctx)
	donation, stopDonation := c.SubscribeDonation("d1")
	defer stopDonation()
	totals, stopTotals := c.SubscribeTotals()
	defer stopTotals()
	// The listener connects in the background: send until the first notice is heard.
	woken := func(ch <-chan struct{}, within time.Duration) bool {
		select {
		case <-ch:
			return true
		case <-time.After(within):
			return false
		}
	}
	for i := 0; ; i++ {
		if err := c.DonationChanged(ctx, &giveathon.Donation{ID: "d1", Status: giveathon.StatusProcessing}); err != nil {
			t.Fatal(err)
		}
		if woken(donation, 200*time.Millisecond) {
			break
		}
		if i == 50 {
			t.Fatal("a donation's watcher never heard of its move")
		}
	}
	if woken(totals, 300*time.Millisecond) {
		t.Fatal("a move to PROCESSING woke the totals' watchers")
	}
	before := c.TotalsChangedAt()
	if err := c.DonationChanged(ctx, &giveathon.Donation{ID: "d2", Status: giveathon.StatusSucceeded}); err != nil {
		t.Fatal(err)
	}
	if !woken(totals, 10*time.Second) {
		t.Fatal("a move to SUCCEEDED did not wake the totals' watchers")
	}
	if !c.TotalsChangedAt().After(before) {
		t.Fatal("TotalsChangedAt did not move on")
	}
	if woken(donation, 300*time.Millisecond) {
		t.Fatal("another donation's move woke d1's watcher")
	}
}
