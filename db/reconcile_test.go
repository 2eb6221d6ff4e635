package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/internal/testenv"
)

// TestTotalsReconciliationReadsWhatChangedAndStaysRight runs the totals reconciliation from
// its checkpoint through what a running event does between two runs (gifts succeed, gifts
// folded into the checkpoint are refunded, a gift is settled by a transaction that began
// before a run and commits after it) and finds nothing to correct; a wrong figure booked by
// hand is corrected once, to the cent; the counters agree with the donations in the end.
func TestTotalsReconciliationReadsWhatChangedAndStaysRight(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	ctx := context.Background()
	donor, other := testenv.NewDonor(t, d), testenv.NewDonor(t, d)
	succeed := func(don *testenv.Donor, cents int64) *giveathon.Donation {
		t.Helper()
		dn := don.Donation(t, d, giveathon.StatusProcessing, cents)
		moved, ok, err := d.MoveDonation(ctx, giveathon.Move{UserID: don.UserID, DonationID: dn.ID, To: giveathon.StatusSucceeded})
		if err != nil || !ok {
			t.Fatalf("succeed: %v %v", ok, err)
		}
		return moved
	}
	refund := func(dn *giveathon.Donation) {
		t.Helper()
		if _, ok, err := d.MoveDonation(ctx, giveathon.Move{UserID: dn.UserID, DonationID: dn.ID, To: giveathon.StatusRefunded}); err != nil || !ok {
			t.Fatalf("refund: %v %v", ok, err)
		}
	}
	reconcile := func(step string) []giveathon.TotalsCorrection {
		t.Helper()
		fixes, err := d.ReconcileEventTotals(ctx)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		return fixes
	}
	nothing := func(step string) {
		t.Helper()
		if fixes := reconcile(step); len(fixes) != 0 {
			t.Fatalf("%s: corrected totals that were right: %+v", step, fixes)
		}
	}

	first := succeed(donor, 1000)
	succeed(other, 250)
	nothing("first run (no checkpoint)")
	var folded time.Time
	if err := d.Pool.QueryRow(ctx, `SELECT folded_before FROM totals_watermark`).Scan(&folded); err != nil {
		t.Fatalf("no checkpoint after the first run: %v", err)
	}

	// A gift settled by a transaction that began before the next run and commits after it:
	// stamped before the run, seen only by the run after.
	// Its donor has a charity of its own, so that no move of the test waits on the shard the
	// open transaction holds (the refund of first below picked that shard 1 time in 64, and
	// waited out DB_RETRY_TIMEOUT: a red CI run).
	lateDonor := testenv.NewDonor(t, d)
	late := lateDonor.Donation(t, d, giveathon.StatusProcessing, 4000)
	tx, err := d.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // committed below
	if _, err := tx.Exec(ctx, `WITH m AS (UPDATE donations SET status = 'SUCCEEDED', settled_at = now(), updated_at = now()
			WHERE user_id = $1 AND id = $2 RETURNING charity_id, amount_cents)
		INSERT INTO event_totals (charity_id, shard, total_cents, donation_count) SELECT charity_id, 3, amount_cents, 1 FROM m
		ON CONFLICT (charity_id, shard) DO UPDATE SET total_cents = event_totals.total_cents + excluded.total_cents,
			donation_count = event_totals.donation_count + excluded.donation_count`, lateDonor.UserID, late.ID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(6 * time.Second) // beyond the margin: only the open transaction holds the checkpoint back
	succeed(other, 700)
	refund(first)
	nothing("run while a gift's transaction is open")
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	nothing("run after it committed")
	refund(succeed(donor, 300))
	nothing("run after a gift that succeeded and was refunded between two runs")
	var now time.Time
	if err := d.Pool.QueryRow(ctx, `SELECT folded_before FROM totals_watermark`).Scan(&now); err != nil || !now.After(folded) {
		t.Fatalf("the checkpoint did not move: %v -> %v, %v", folded, now, err)
	}

	// Someone books a wrong figure by hand (or a bug does): put right once.
	if _, err := d.Pool.Exec(ctx, `UPDATE event_totals SET total_cents = total_cents + 999, donation_count = donation_count + 2
		WHERE charity_id = $1 AND shard = (SELECT min(shard) FROM event_totals WHERE charity_id = $1)`, other.CharityID); err != nil {
		t.Fatal(err)
	}
	fixes := reconcile("run after a wrong figure")
	if len(fixes) != 1 || fixes[0].CharityID != other.CharityID || fixes[0].Cents != -999 || fixes[0].Donations != -2 {
		t.Fatalf("fixes: %+v", fixes)
	}
	nothing("run after the correction")

	var kept, actual, keptN, actualN int64
	if err := d.Pool.QueryRow(ctx, `SELECT (SELECT sum(total_cents) FROM event_totals), (SELECT sum(donation_count) FROM event_totals),
			(SELECT sum(amount_cents) FROM donations WHERE status = 'SUCCEEDED'), (SELECT count(*) FROM donations WHERE status = 'SUCCEEDED')`).
		Scan(&kept, &keptN, &actual, &actualN); err != nil {
		t.Fatal(err)
	}
	if kept != actual || keptN != actualN || actual != 250+4000+700 {
		t.Fatalf("counters %d (%d gifts), donations %d (%d gifts)", kept, keptN, actual, actualN)
	}
}
