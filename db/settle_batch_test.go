package db_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/db"
	"github.com/giveathon/giveathon/internal/testenv"
	"github.com/google/uuid"
)

// settleDB is a test database with write-combined claims and moves on, one flusher each.
func settleDB(t *testing.T) *db.DB {
	t.Helper()
	d := testenv.DB(t)
	if err := d.EnableSettleBatch(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	return d
}

// claimed writes a PENDING donation of the donor's and claims its charge: PROCESSING, with
// attempt 1 started.
func claimed(t *testing.T, d *db.DB, don *testenv.Donor, amount int64) *giveathon.Donation {
	t.Helper()
	dn := don.Donation(t, d, giveathon.StatusPending, amount)
	c, err := d.ClaimCharge(context.Background(), don.UserID, dn.ID, "key-"+dn.ID+"-a")
	if err != nil || c.AttemptNo != 1 {
		t.Fatalf("claim %s: %+v, %v", dn.ID, c, err)
	}
	return c.Donation
}

// decide is the move a charge's answer makes of a claimed donation.
func decide(dn *giveathon.Donation, to giveathon.DonationStatus) giveathon.Move {
	m := giveathon.Move{UserID: dn.UserID, DonationID: dn.ID, To: to, PaymentIntentID: "pi_" + dn.ID[:8],
		Attempt: &giveathon.AttemptEnd{No: 1, Status: giveathon.AttemptSucceeded}}
	if to == giveathon.StatusFailed {
		m.FailureCode, m.FailureMessage = "card_declined", "Your card was declined."
		m.Attempt.Status, m.Attempt.Code, m.Attempt.Message = giveathon.AttemptFailed, m.FailureCode, m.FailureMessage
	}
	return m
}

// TestMovesInOneBatchAsOneByOne queues charge finishes together while the flushers are held:
// they are written in one batch statement, and each donation, attempt, the
// totals and the outbox come out as the same moves made one by one would leave them. Two moves
// of one donation move it once; a move the state table refuses moves nothing.
func TestMovesInOneBatchAsOneByOne(t *testing.T) {
	ctx := context.Background()
	d := settleDB(t)

	// The moves: per donor one gift that succeeds and one that fails, all to one charity (the
	// batch adds them to its totals together); the first success again; and a success already
	// settled, which may not fail.
	var moves []giveathon.Move
	var succeeded, failed []*giveathon.Donation
	charity := testenv.NewDonor(t, d).CharityID
	for i := range 10 {
		don := testenv.NewDonor(t, d)
		don.CharityID = charity
		ok, ko := claimed(t, d, don, int64(1000+i)), claimed(t, d, don, 500)
		succeeded, failed = append(succeeded, ok), append(failed, ko)
		moves = append(moves, decide(ok, giveathon.StatusSucceeded), decide(ko, giveathon.StatusFailed))
	}
	moves = append(moves, decide(succeeded[0], giveathon.StatusSucceeded))
	settledDonor := testenv.NewDonor(t, d)
	settled := claimed(t, d, settledDonor, 700)
	if _, moved, err := d.MoveDonation(ctx, decide(settled, giveathon.StatusSucceeded)); err != nil || !moved {
		t.Fatalf("settle %s first: %v, %v", settled.ID, moved, err)
	}
	moves = append(moves, decide(settled, giveathon.StatusFailed))

	answers, batches := queueMovesTogether(t, d, moves)
	if batches != 1 {
		t.Fatalf("%d batch statements for the %d moves queued together, want 1", batches, len(moves))
	}

	// Each answer: the donation as it is now, and whether this move moved it.
	movedBy := map[string]int{}
	for i, a := range answers {
		m := moves[i]
		if a.err != nil || a.d == nil || a.d.ID != m.DonationID {
			t.Fatalf("move %d (%s to %s): %+v, %v", i, m.DonationID, m.To, a.d, a.err)
		}
		if a.moved {
			movedBy[m.DonationID]++
			if a.d.Status != m.To || a.d.SettledAt == nil || a.d.PaymentIntentID != m.PaymentIntentID || a.d.FailureCode != m.FailureCode {
				t.Errorf("move %d moved %s to %+v, want %s", i, m.DonationID, a.d, m.To)
			}
		}
	}
	for _, dn := range succeeded {
		if movedBy[dn.ID] != 1 {
			t.Errorf("donation %s moved by %d moves, want 1", dn.ID, movedBy[dn.ID])
		}
	}
	for _, dn := range failed {
		if movedBy[dn.ID] != 1 {
			t.Errorf("donation %s moved by %d moves, want 1", dn.ID, movedBy[dn.ID])
		}
	}
	if movedBy[settled.ID] != 0 || answers[len(answers)-1].d.Status != giveathon.StatusSucceeded {
		t.Errorf("a settled success was moved to FAILED: %+v", answers[len(answers)-1])
	}

	// What the moves wrote, read back from the tables.
	var wantCents, wantCount int64 = 700, 1
	for _, dn := range succeeded {
		wantCents, wantCount = wantCents+dn.AmountCents, wantCount+1
	}
	var cents, count int64
	if err := d.Pool.QueryRow(ctx, `SELECT coalesce(sum(total_cents), 0)::int8, coalesce(sum(donation_count), 0)::int8 FROM event_totals`).Scan(&cents, &count); err != nil {
		t.Fatal(err)
	}
	if cents != wantCents || count != wantCount {
		t.Errorf("event totals %d cents in %d gifts, want %d in %d", cents, count, wantCents, wantCount)
	}
	check := func(dn *giveathon.Donation, to giveathon.DonationStatus, attempt string) {
		t.Helper()
		var status, attemptStatus string
		var mails int
		var finished bool
		err := d.Pool.QueryRow(ctx, `SELECT d.status, a.status, a.finished_at IS NOT NULL,
				(SELECT count(*) FROM notifications n WHERE n.donation_id = d.id AND n.kind = $3)
			FROM donations d JOIN payment_attempts a ON a.donation_id = d.id AND a.attempt_no = 1
			WHERE d.user_id = $1 AND d.id = $2`, dn.UserID, dn.ID, giveathon.States[to].Email).Scan(&status, &attemptStatus, &finished, &mails)
		if err != nil {
			t.Fatal(err)
		}
		if status != string(to) || attemptStatus != attempt || !finished || mails != 1 {
			t.Errorf("donation %s: %s, attempt %s (finished %v), %d %s e-mails; want %s, %s, 1",
				dn.ID, status, attemptStatus, finished, mails, giveathon.States[to].Email, to, attempt)
		}
	}
	for _, dn := range succeeded {
		check(dn, giveathon.StatusSucceeded, giveathon.AttemptSucceeded)
	}
	for _, dn := range failed {
		check(dn, giveathon.StatusFailed, giveathon.AttemptFailed)
	}
}

// answer is what MoveDonation answered.
type answer struct {
	d     *giveathon.Donation
	moved bool
	err   error
}

// queueMovesTogether holds the settle flushers, lets the moves queue up, then releases them,
// and returns their answers and how many batch statements they took.
func queueMovesTogether(t *testing.T, d *db.DB, moves []giveathon.Move) ([]answer, int64) {
	t.Helper()
	return settleTogether(t, d, len(moves), d.QueuedMoves, func(i int) answer {
		dn, moved, err := d.MoveDonation(context.Background(), moves[i])
		return answer{dn, moved, err}
	})
}

// settleTogether holds the settle flushers, runs do(0..n-1) at once until queued says that all
// n wait for a flusher, releases them, and returns the answers and how many batch statements
// were run meanwhile.
func settleTogether[A any](t *testing.T, d *db.DB, n int, queued func() int, do func(i int) A) ([]A, int64) {
	t.Helper()
	release := d.HoldSettleBatches()
	defer release()
	before := d.SettleBatches()
	answers := make([]A, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = do(i)
		}()
	}
	testenv.Eventually(t, 10*time.Second, 2*time.Millisecond, "the requests to queue", func() bool { return queued() == n })
	release()
	wg.Wait()
	return answers, d.SettleBatches() - before
}

// TestABatchThatFailsLeavesEachMoveToItself queues a move the database refuses (a failure
// message with a NUL byte, which no text column takes) with good ones: their batch statement
// fails as a whole, and each move then runs on its own, so the good ones are made and the bad
// one fails alone.
func TestABatchThatFailsLeavesEachMoveToItself(t *testing.T) {
	ctx := context.Background()
	d := settleDB(t)
	don := testenv.NewDonor(t, d)
	good1, good2 := claimed(t, d, don, 1200), claimed(t, d, don, 1300)
	bad := decide(claimed(t, d, don, 300), giveathon.StatusFailed)
	bad.FailureMessage = "declined\x00"
	answers, batches := queueMovesTogether(t, d, []giveathon.Move{
		decide(good1, giveathon.StatusSucceeded), bad, decide(good2, giveathon.StatusFailed)})
	if batches != 1 {
		t.Fatalf("%d batch statements for the 3 moves queued together, want 1", batches)
	}
	for _, i := range []int{0, 2} {
		if a := answers[i]; a.err != nil || !a.moved {
			t.Errorf("good move %d beside a bad one: moved %v, %v", i, a.moved, a.err)
		}
	}
	if a := answers[1]; a.err == nil || a.moved {
		t.Errorf("the bad move: moved %v, %v; want an error", a.moved, a.err)
	}
	if dn, err := d.FindDonation(ctx, don.UserID, bad.DonationID); err != nil || dn.Status != giveathon.StatusProcessing {
		t.Errorf("the bad move's donation: %+v, %v; want it PROCESSING still", dn, err)
	}
}

// claimAnswer is what ClaimCharge answered.
type claimAnswer struct {
	c   *giveathon.ChargeClaim
	err error
}

// TestClaimsInOneBatchAsOneByOne queues charge claims together while the flushers are held:
// they are made in one batch statement, and each answers as the same claim made on
// its own would. A PENDING gift moves to PROCESSING with attempt 1; a PROCESSING one (a job's
// retry) starts attempt 2 without moving; a settled one starts none; a gift claimed twice in
// the batch moves once and its second claim starts attempt 2; an id that is no donation is not
// found.
func TestClaimsInOneBatchAsOneByOne(t *testing.T) {
	ctx := context.Background()
	d := settleDB(t)
	don := testenv.NewDonor(t, d)
	var pending []*giveathon.Donation
	for i := range 6 {
		pending = append(pending, don.Donation(t, d, giveathon.StatusPending, int64(100+i)))
	}
	retried := claimed(t, d, don, 300)
	settled := claimed(t, d, don, 400)
	if _, moved, err := d.MoveDonation(ctx, decide(settled, giveathon.StatusSucceeded)); err != nil || !moved {
		t.Fatalf("settle %s first: %v, %v", settled.ID, moved, err)
	}
	type claim struct{ userID, id string }
	var claims []claim
	for _, dn := range pending {
		claims = append(claims, claim{don.UserID, dn.ID})
	}
	claims = append(claims, claim{don.UserID, pending[0].ID}, claim{don.UserID, retried.ID}, claim{don.UserID, settled.ID},
		claim{don.UserID, uuid.NewString()})

	answers, batches := settleTogether(t, d, len(claims), d.QueuedClaims, func(i int) claimAnswer {
		c, err := d.ClaimCharge(ctx, claims[i].userID, claims[i].id, "key-"+claims[i].id+"-a")
		return claimAnswer{c, err}
	})
	if batches != 1 {
		t.Fatalf("%d batch statements for the %d claims queued together, want 1", batches, len(claims))
	}

	want := func(i int, moved bool, attempt int, status giveathon.DonationStatus) {
		t.Helper()
		a := answers[i]
		if a.err != nil {
			t.Errorf("claim %d of %s: %v", i, claims[i].id, a.err)
			return
		}
		c := a.c
		key := ""
		if attempt > 0 {
			key = "key-" + claims[i].id + "-a" + strconv.Itoa(attempt)
		}
		if c.Donation.ID != claims[i].id || c.Moved != moved || c.AttemptNo != attempt || c.RequestKey != key || c.Donation.Status != status ||
			c.ProviderCustomerID != don.CustomerID || c.ProviderPaymentMethodID != don.CardID || c.DonorEmail == "" || c.DonorName != "Test Donor" {
			t.Errorf("claim %d of %s: moved %v, attempt %d (%q), %s, %q %q %q %q; want moved %v, attempt %d (%q), %s",
				i, claims[i].id, c.Moved, c.AttemptNo, c.RequestKey, c.Donation.Status, c.ProviderCustomerID, c.ProviderPaymentMethodID,
				c.DonorEmail, c.DonorName, moved, attempt, key, status)
		}
	}
	// pending[0] is claimed twice: whichever claim the batch made moved it with attempt 1,
	// the other started attempt 2.
	first, second := 0, len(pending)
	if answers[second].err == nil && answers[second].c.Moved {
		first, second = second, first
	}
	want(first, true, 1, giveathon.StatusProcessing)
	want(second, false, 2, giveathon.StatusProcessing)
	for i := 1; i < len(pending); i++ {
		want(i, true, 1, giveathon.StatusProcessing)
	}
	want(len(pending)+1, false, 2, giveathon.StatusProcessing)
	want(len(pending)+2, false, 0, giveathon.StatusSucceeded)
	if a := answers[len(claims)-1]; giveathon.ErrorCode(a.err) != giveathon.ENOTFOUND {
		t.Errorf("the claim of no donation: %+v, %v; want not found", a.c, a.err)
	}
	var attempts int
	if err := d.Pool.QueryRow(ctx, `SELECT count(*) FROM payment_attempts WHERE donation_id = ANY($1::uuid[]) AND status = $2`,
		[]string{pending[0].ID, retried.ID, settled.ID}, giveathon.AttemptStarted).Scan(&attempts); err != nil {
		t.Fatal(err)
	}
	if attempts != 4 { // pending[0]: 1 and 2; retried: 1 and 2; settled: its first, finished
		t.Errorf("%d attempts started on the gift claimed twice and the retried one, want 4", attempts)
	}
}
