package db_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/db"
	"github.com/giveathon/giveathon/internal/testenv"
	"github.com/giveathon/giveathon/jobs"
	"github.com/giveathon/giveathon/settlement"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// batchEnv is a database with write-combined submits on, the settlement's rules, and River
// queuing the charges in the batches' transactions (no workers: the jobs stay queued).
type batchEnv struct {
	d   *db.DB
	svc *settlement.Service
}

func setupBatch(t *testing.T) *batchEnv {
	t.Helper()
	d := testenv.DB(t)
	d.EnableSubmitBatch(1)
	svc := settlement.New(d, nil, nil, nil, nil, settlement.Config{})
	j, err := jobs.New(d.Pool, jobs.Deps{DB: d, Settlement: svc, Logger: slog.New(slog.DiscardHandler)}, jobs.Config{ReconcileInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	svc.Queue = j
	d.EnqueueTx = j.EnqueueTx
	return &batchEnv{d: d, svc: svc}
}

// outcome is one submit's answer.
type outcome struct {
	res *giveathon.SubmitResult
	err error
}

// inOneBatch holds the flusher on a blocker's batch (its donor's row locked by the test), lets
// the submits queue up behind it, then releases it: they are written together in the next
// batch, which the test checks.
func (e *batchEnv) inOneBatch(t *testing.T, submits []func() (*giveathon.SubmitResult, error)) []outcome {
	t.Helper()
	out, batches := e.queueTogether(t, submits)
	if batches != 1 {
		t.Fatalf("%d batch transactions for the %d submits queued together, want 1", batches, len(submits))
	}
	return out
}

// queueTogether is inOneBatch without the check: it returns how many batch transactions
// the queued submits took.
func (e *batchEnv) queueTogether(t *testing.T, submits []func() (*giveathon.SubmitResult, error)) ([]outcome, int64) {
	t.Helper()
	ctx := context.Background()
	blocker := testenv.NewDonor(t, e.d)
	tx := e.holdDonor(t, blocker.UserID)
	defer tx.Rollback(ctx) //nolint:errcheck
	before := e.d.SubmitBatches()
	blocked := make(chan outcome, 1)
	go func() {
		res, err := e.svc.SubmitDonation(ctx, blocker.UserID, input(blocker, 500, uuid.NewString()))
		blocked <- outcome{res, err}
	}()
	testenv.Eventually(t, 10*time.Second, 2*time.Millisecond, "the blocker's batch to start", func() bool { return e.d.SubmitBatches() == before+1 && e.d.QueuedSubmits() == 0 })
	out := make([]outcome, len(submits))
	var wg sync.WaitGroup
	for i, s := range submits {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := s()
			out[i] = outcome{res, err}
		}()
	}
	testenv.Eventually(t, 10*time.Second, 2*time.Millisecond, "the submits to queue", func() bool { return e.d.QueuedSubmits() == len(submits) })
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if b := <-blocked; b.err != nil || !b.res.Created {
		t.Fatalf("the blocker's submit: %+v, %v", b.res, b.err)
	}
	wg.Wait()
	return out, e.d.SubmitBatches() - before - 1
}

// holdDonor locks the donor's row, as a batch that writes the donor's gifts does, in a
// transaction the caller ends: batches with the donor's gifts wait for it.
func (e *batchEnv) holdDonor(t *testing.T, userID string) pgx.Tx {
	t.Helper()
	ctx := context.Background()
	tx, err := e.d.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT id FROM users WHERE id = $1 FOR NO KEY UPDATE`, userID); err != nil {
		_ = tx.Rollback(ctx)
		t.Fatal(err)
	}
	return tx
}

func input(don *testenv.Donor, amount int64, key string) giveathon.SubmitDonationInput {
	return giveathon.SubmitDonationInput{CharityID: don.CharityID, AmountCents: amount, PaymentMethodID: don.PaymentMethodID, IdempotencyKey: key}
}

func (e *batchEnv) submit(don *testenv.Donor, in giveathon.SubmitDonationInput) func() (*giveathon.SubmitResult, error) {
	return func() (*giveathon.SubmitResult, error) {
		return e.svc.SubmitDonation(context.Background(), don.UserID, in)
	}
}

// rows counts the donor's donations under key, and the charge jobs queued for them.
func (e *batchEnv) rows(t *testing.T, userID, key string) (donations, jobs int) {
	t.Helper()
	err := e.d.Pool.QueryRow(context.Background(), `SELECT count(*),
		(SELECT count(*) FROM river_job WHERE kind = 'charge_donation' AND args->>'donation_id' IN
			(SELECT id::text FROM donations WHERE user_id = $1 AND idempotency_key = $2))
		FROM donations WHERE user_id = $1 AND idempotency_key = $2`, userID, key).Scan(&donations, &jobs)
	if err != nil {
		t.Fatal(err)
	}
	return donations, jobs
}

// wantOneRow checks the key has one donation and one charge job.
func (e *batchEnv) wantOneRow(t *testing.T, userID, key string) {
	t.Helper()
	if n, j := e.rows(t, userID, key); n != 1 || j != 1 {
		t.Fatalf("key %s: %d rows and %d charge jobs, want 1 and 1", key, n, j)
	}
}

// sameKeyTwice submits two gifts of amounts a and b under one key in one batch.
func (e *batchEnv) sameKeyTwice(t *testing.T, a, b int64) (*testenv.Donor, string, []outcome) {
	t.Helper()
	don := testenv.NewDonor(t, e.d)
	key := uuid.NewString()
	return don, key, e.inOneBatch(t, []func() (*giveathon.SubmitResult, error){e.submit(don, input(don, a, key)), e.submit(don, input(don, b, key))})
}

// TestHundredConcurrentSubmitsInOneBatch: 100 submits of 10 donors queued together are all
// acknowledged, each with its own donation, one row and one charge job per key.
func TestHundredConcurrentSubmitsInOneBatch(t *testing.T) {
	t.Parallel()
	e := setupBatch(t)
	donors := make([]*testenv.Donor, 10)
	for i := range donors {
		donors[i] = testenv.NewDonor(t, e.d)
	}
	keys := make([]string, 100)
	var submits []func() (*giveathon.SubmitResult, error)
	for i := range keys {
		keys[i] = uuid.NewString()
		submits = append(submits, e.submit(donors[i%10], input(donors[i%10], int64(1000+i), keys[i])))
	}
	out := e.inOneBatch(t, submits)
	ids := map[string]bool{}
	for i, o := range out {
		if o.err != nil || o.res == nil || !o.res.Created || !o.res.Queued || o.res.Donation.Status != giveathon.StatusPending {
			t.Fatalf("submit %d: %+v, %v", i, o.res, o.err)
		}
		if o.res.Donation.IdempotencyKey != keys[i] || o.res.Donation.AmountCents != int64(1000+i) || o.res.Donation.UserID != donors[i%10].UserID {
			t.Fatalf("submit %d answered with another's donation: %+v", i, o.res.Donation)
		}
		ids[o.res.Donation.ID] = true
		e.wantOneRow(t, donors[i%10].UserID, keys[i])
	}
	if len(ids) != 100 {
		t.Fatalf("%d distinct donations, want 100", len(ids))
	}
}

// TestSameKeyTwiceInOneBatch: one donation; both submits get it, one as its creator.
func TestSameKeyTwiceInOneBatch(t *testing.T) {
	t.Parallel()
	e := setupBatch(t)
	don, key, out := e.sameKeyTwice(t, 2500, 2500)
	created := 0
	for i, o := range out {
		if o.err != nil || o.res == nil || o.res.Donation == nil {
			t.Fatalf("submit %d: %+v, %v", i, o.res, o.err)
		}
		if o.res.Created {
			created++
		}
	}
	if created != 1 || out[0].res.Donation.ID != out[1].res.Donation.ID {
		t.Fatalf("created %d, donations %s and %s: want one donation for both", created, out[0].res.Donation.ID, out[1].res.Donation.ID)
	}
	e.wantOneRow(t, don.UserID, key)
}

// TestSameKeyOtherGiftInOneBatch: the key's first gift is recorded, the other is a CONFLICT.
func TestSameKeyOtherGiftInOneBatch(t *testing.T) {
	t.Parallel()
	e := setupBatch(t)
	don, key, out := e.sameKeyTwice(t, 2500, 2600)
	wantOneRecordedOneConflict(t, "one key, two gifts", out)
	e.wantOneRow(t, don.UserID, key)
}

// wantOneRecordedOneConflict checks that of two submits under one key, one recorded its gift
// and the other was told the key is taken (CONFLICT on idempotencyKey).
func wantOneRecordedOneConflict(t *testing.T, what string, out []outcome) {
	t.Helper()
	var created, conflicts int
	for _, o := range out {
		switch {
		case o.err == nil && o.res != nil && o.res.Created:
			created++
		case giveathon.ErrorCode(o.err) == giveathon.ECONFLICT && giveathon.ErrorField(o.err) == "idempotencyKey":
			conflicts++
		default:
			t.Fatalf("%s: unexpected answer: %+v, %v", what, o.res, o.err)
		}
	}
	if created != 1 || conflicts != 1 {
		t.Fatalf("%s: %d recorded, %d conflicts; want 1 and 1", what, created, conflicts)
	}
}

// TestOneBadRowInABatchFailsAlone: a gift to an inactive charity gets its field error and
// writes nothing; its neighbours in the batch are recorded.
func TestOneBadRowInABatchFailsAlone(t *testing.T) {
	t.Parallel()
	e := setupBatch(t)
	bad := testenv.NewDonor(t, e.d)
	if _, err := e.d.Pool.Exec(context.Background(), `UPDATE charities SET active = false WHERE id = $1`, bad.CharityID); err != nil {
		t.Fatal(err)
	}
	badKey := uuid.NewString()
	var donors []*testenv.Donor
	var keys []string
	submits := []func() (*giveathon.SubmitResult, error){}
	for i := range 6 {
		don := testenv.NewDonor(t, e.d)
		donors, keys = append(donors, don), append(keys, uuid.NewString())
		submits = append(submits, e.submit(don, input(don, 1500, keys[i])))
		if i == 2 {
			submits = append(submits, e.submit(bad, input(bad, 1500, badKey)))
		}
	}
	out := e.inOneBatch(t, submits)
	if o := out[3]; o.res != nil || giveathon.ErrorCode(o.err) != giveathon.EINVALID || giveathon.ErrorField(o.err) != "charityId" {
		t.Fatalf("the bad gift: %+v, %v; want an INVALID charityId", o.res, o.err)
	}
	if n, _ := e.rows(t, bad.UserID, badKey); n != 0 {
		t.Fatalf("the bad gift wrote %d rows", n)
	}
	for i, don := range donors {
		o := out[i]
		if i >= 3 {
			o = out[i+1]
		}
		if o.err != nil || !o.res.Created {
			t.Fatalf("good gift %d: %+v, %v", i, o.res, o.err)
		}
		e.wantOneRow(t, don.UserID, keys[i])
	}
}

// TestARowTheDatabaseRefusesFailsAlone: a row whose insert the database refuses (a trigger
// raises for its message) fails the batch's statement; the batch is split until that row is
// alone, which gets an internal error, and every other row is recorded once.
func TestARowTheDatabaseRefusesFailsAlone(t *testing.T) {
	t.Parallel()
	e := setupBatch(t)
	ctx := context.Background()
	poison := "poison-" + uuid.NewString()
	fn := "refuse_" + uuid.NewString()[:8]
	if _, err := e.d.Pool.Exec(ctx, fmt.Sprintf(`CREATE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.message = '%s' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$;
		CREATE TRIGGER %s BEFORE INSERT ON donations FOR EACH ROW EXECUTE FUNCTION %s()`,
		fn, poison, fn, fn)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = e.d.Pool.Exec(context.Background(), fmt.Sprintf(`DROP TRIGGER %s ON donations; DROP FUNCTION %s()`, fn, fn))
	})
	var donors []*testenv.Donor
	var keys []string
	var submits []func() (*giveathon.SubmitResult, error)
	for i := range 7 {
		don := testenv.NewDonor(t, e.d)
		in := input(don, 1700, uuid.NewString())
		if i == 4 {
			in.Message = poison
		}
		donors, keys = append(donors, don), append(keys, in.IdempotencyKey)
		submits = append(submits, e.submit(don, in))
	}
	out, batches := e.queueTogether(t, submits)
	// 7 rows: the whole, its halves (3, 4), the refused row's half's halves (2, 2), theirs (1, 1).
	if batches != 7 {
		t.Fatalf("%d batch transactions, want 7 (split down to the refused row)", batches)
	}
	for i, o := range out {
		n, j := e.rows(t, donors[i].UserID, keys[i])
		if i == 4 {
			if o.err == nil || giveathon.ErrorCode(o.err) != giveathon.EINTERNAL || n != 0 {
				t.Fatalf("the refused row: %+v, %v, %d rows", o.res, o.err, n)
			}
			continue
		}
		if o.err != nil || !o.res.Created || n != 1 || j != 1 {
			t.Fatalf("row %d: %+v, %v, %d rows, %d jobs", i, o.res, o.err, n, j)
		}
	}
}

// TestDuplicateWindowPairInOneBatch: two equal gifts under two keys in one batch: the first
// is recorded, the second asks to confirm, naming the first; confirmed, it is recorded, while
// a third equal gift in its batch asks to confirm.
func TestDuplicateWindowPairInOneBatch(t *testing.T) {
	t.Parallel()
	e := setupBatch(t)
	don := testenv.NewDonor(t, e.d)
	k1, k2 := uuid.NewString(), uuid.NewString()
	out := e.inOneBatch(t, []func() (*giveathon.SubmitResult, error){e.submit(don, input(don, 3100, k1)), e.submit(don, input(don, 3100, k2))})
	// The two queue in the order they arrive: whichever is first is recorded.
	first, second, secondKey := out[0], out[1], k2
	if out[1].res != nil && out[1].res.Created {
		first, second, secondKey = out[1], out[0], k1
	}
	if first.err != nil || !first.res.Created {
		t.Fatalf("first: %+v, %v", first.res, first.err)
	}
	if second.err != nil || !second.res.NeedsConfirmation || second.res.Donation != nil || second.res.DuplicateOf == nil || second.res.DuplicateOf.ID != first.res.Donation.ID {
		t.Fatalf("second: %+v, %v; want needs confirmation, duplicate of %s", second.res, second.err, first.res.Donation.ID)
	}
	if n, _ := e.rows(t, don.UserID, secondKey); n != 0 {
		t.Fatalf("the unconfirmed duplicate wrote %d rows", n)
	}
	confirmed := input(don, 3100, secondKey)
	confirmed.ConfirmDuplicate = true
	k3 := uuid.NewString()
	out = e.inOneBatch(t, []func() (*giveathon.SubmitResult, error){e.submit(don, confirmed), e.submit(don, input(don, 3100, k3))})
	if out[0].err != nil || !out[0].res.Created {
		t.Fatalf("confirmed: %+v, %v", out[0].res, out[0].err)
	}
	if out[1].err != nil || !out[1].res.NeedsConfirmation {
		t.Fatalf("a third equal gift: %+v, %v; want needs confirmation", out[1].res, out[1].err)
	}
}

// TestADonorIdInCapitalsIsQueued: the batch matches inserted rows back to their submits by
// the donor's id as the database spells it, so an id in capitals still gets its charge queued.
func TestADonorIdInCapitalsIsQueued(t *testing.T) {
	t.Parallel()
	e := setupBatch(t)
	don := testenv.NewDonor(t, e.d)
	key := uuid.NewString()
	out := e.inOneBatch(t, []func() (*giveathon.SubmitResult, error){func() (*giveathon.SubmitResult, error) {
		return e.svc.SubmitDonation(context.Background(), strings.ToUpper(don.UserID), input(don, 1200, key))
	}})
	if o := out[0]; o.err != nil || !o.res.Created || !o.res.Queued {
		t.Fatalf("%+v, %v", o.res, o.err)
	}
	e.wantOneRow(t, don.UserID, key)
}

// TestEqualGiftsInOverlappingBatches: two equal gifts of one donor under new keys, each in a
// batch of its own, both batches begun while the test holds the donor's row (so both are in
// flight at once, which the test waits to see): the donor's row lock keeps the duplicate window
// exact across batches, so one gift is recorded and the other is asked to confirm it.
func TestEqualGiftsInOverlappingBatches(t *testing.T) {
	t.Parallel()
	e := setupBatch(t)
	e.d.EnableSubmitBatch(2)
	ctx := context.Background()
	don := testenv.NewDonor(t, e.d)
	tx := e.holdDonor(t, don.UserID)
	defer tx.Rollback(ctx) //nolint:errcheck
	before := e.d.SubmitBatches()
	answers := make(chan outcome, 2)
	for i := range 2 {
		go func() {
			res, err := e.svc.SubmitDonation(ctx, don.UserID, input(don, 4200, uuid.NewString()))
			answers <- outcome{res, err}
		}()
		testenv.Eventually(t, 10*time.Second, 2*time.Millisecond, "a batch to begin", func() bool {
			return e.d.SubmitBatches() == before+int64(i)+1 && e.d.QueuedSubmits() == 0
		})
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	a, b := <-answers, <-answers
	if a.err != nil || b.err != nil {
		t.Fatalf("submits: %v, %v", a.err, b.err)
	}
	if b.res.Created {
		a, b = b, a
	}
	if !a.res.Created || !b.res.NeedsConfirmation || b.res.DuplicateOf == nil || b.res.DuplicateOf.ID != a.res.Donation.ID {
		t.Fatalf("answers: %+v and %+v, want one recorded and the other asked to confirm it", a.res, b.res)
	}
	if got := e.d.SubmitBatches() - before; got != 2 {
		t.Fatalf("%d batch transactions, want 2", got)
	}
}

// TestEqualGiftsAcrossConcurrentBatches: 5 donors each send 10 equal gifts under new keys at
// once, written by two flushers in batches that may run side by side (the test above makes
// them overlap): each donor has one donation and 9 answers asking to confirm it.
func TestEqualGiftsAcrossConcurrentBatches(t *testing.T) {
	t.Parallel()
	e := setupBatch(t)
	e.d.EnableSubmitBatch(2)
	type answer struct {
		don int
		outcome
	}
	answers := make(chan answer, 50)
	donors := make([]*testenv.Donor, 5)
	for i := range donors {
		donors[i] = testenv.NewDonor(t, e.d)
	}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			don := donors[i%5]
			res, err := e.svc.SubmitDonation(context.Background(), don.UserID, input(don, 4200, uuid.NewString()))
			answers <- answer{i % 5, outcome{res, err}}
		}()
	}
	wg.Wait()
	close(answers)
	created, confirm := map[int]string{}, map[int][]string{}
	for a := range answers {
		switch {
		case a.err != nil:
			t.Fatalf("donor %d: %v", a.don, a.err)
		case a.res.Created:
			if created[a.don] != "" {
				t.Fatalf("donor %d: two equal gifts recorded within the duplicate window", a.don)
			}
			created[a.don] = a.res.Donation.ID
		case a.res.NeedsConfirmation:
			confirm[a.don] = append(confirm[a.don], a.res.DuplicateOf.ID)
		default:
			t.Fatalf("donor %d: %+v", a.don, a.res)
		}
	}
	for i, don := range donors {
		var n int
		if err := e.d.Pool.QueryRow(context.Background(), `SELECT count(*) FROM donations WHERE user_id = $1`, don.UserID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 || created[i] == "" || len(confirm[i]) != 9 {
			t.Fatalf("donor %d: %d rows, created %q, %d asked to confirm; want 1, one, 9", i, n, created[i], len(confirm[i]))
		}
		for _, dup := range confirm[i] {
			if dup != created[i] {
				t.Fatalf("donor %d: asked to confirm against %s, not the recorded %s", i, dup, created[i])
			}
		}
	}
}

// partnerGift is a partner's gift by don under key: the partner's donor, saved card and all.
func partnerGift(don *testenv.Donor, partnerID, key string, amount int64) giveathon.SubmitDonationInput {
	in := input(don, amount, key)
	in.Partner = &giveathon.PartnerGift{PartnerID: partnerID, Reference: "order-" + key, DonorEmail: "fan-" + don.UserID[:8] + "@example.test",
		DonorName: "A Fan", ProviderPaymentMethodID: don.CardID}
	return in
}

// partnerKeyRows counts the donations and partner keys recorded under a partner's key.
func (e *batchEnv) partnerKeyRows(t *testing.T, partnerID, key string) (donations, keys int) {
	t.Helper()
	err := e.d.Pool.QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM donations WHERE partner_id = $1 AND idempotency_key = $2),
		(SELECT count(*) FROM partner_gifts WHERE partner_id = $1 AND idempotency_key = $2)`, partnerID, key).Scan(&donations, &keys)
	if err != nil {
		t.Fatal(err)
	}
	return donations, keys
}

// TestPartnersGiftsInOneBatch: a partner's gifts join the batch. Each is recorded with its
// partner, reference and partner's key (the partner's id in capitals too); two of the
// partner's donors under one key make one gift, and the other is told the key is taken.
func TestPartnersGiftsInOneBatch(t *testing.T) {
	t.Parallel()
	e := setupBatch(t)
	partner := testenv.NewPartner(t, e.d)
	a, b := testenv.NewDonor(t, e.d), testenv.NewDonor(t, e.d)
	shared, own, capitals := uuid.NewString(), uuid.NewString(), uuid.NewString()
	out := e.inOneBatch(t, []func() (*giveathon.SubmitResult, error){
		e.submit(a, partnerGift(a, partner, shared, 1500)),
		e.submit(b, partnerGift(b, partner, shared, 1500)),
		e.submit(a, partnerGift(a, partner, own, 1600)),
		e.submit(b, partnerGift(b, strings.ToUpper(partner), capitals, 1700)),
	})
	wantOneRecordedOneConflict(t, "the partner's key given by two donors", out[:2])
	for i, key := range []string{shared, own, capitals} {
		if n, k := e.partnerKeyRows(t, partner, key); n != 1 || k != 1 {
			t.Fatalf("key %d: %d donations and %d partner keys, want 1 and 1", i, n, k)
		}
	}
	for i, o := range out[2:] {
		if o.err != nil || !o.res.Created || !o.res.Queued || o.res.Donation.PartnerID != partner || o.res.Donation.PartnerReference != "order-"+o.res.Donation.IdempotencyKey {
			t.Fatalf("partner's gift %d: %+v, %v", i, o.res, o.err)
		}
	}
	e.wantOneRow(t, a.UserID, own)
	e.wantOneRow(t, b.UserID, capitals)
}

// TestPartnersKeyTakenDuringABatch: another transaction records a partner's key (through
// another of its donors) after the batch read its facts; the batch's insert then fails on the
// partner's key, is written again, and answers with the CONFLICT the single path gives. One
// gift under the key, no internal error.
func TestPartnersKeyTakenDuringABatch(t *testing.T) {
	t.Parallel()
	e := setupBatch(t)
	ctx := context.Background()
	partner := testenv.NewPartner(t, e.d)
	a, b := testenv.NewDonor(t, e.d), testenv.NewDonor(t, e.d)
	key := uuid.NewString()
	other := partnerGift(b, partner, key, 1500)
	tx, err := e.d.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	if _, err := tx.Exec(ctx, `WITH d AS (
			INSERT INTO donations (user_id, charity_id, amount_cents, currency, status, idempotency_key, request_hash, payment_method_id, partner_id)
			VALUES ($1, $2, 1500, 'USD', 'PENDING', $3, 'another gift', $4, $5) RETURNING *)
		INSERT INTO partner_gifts (partner_id, idempotency_key, user_id, donation_id, request_hash)
		SELECT partner_id, idempotency_key, user_id, id, request_hash FROM d`, b.UserID, other.CharityID, key, b.PaymentMethodID, partner); err != nil {
		t.Fatal(err)
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := e.svc.SubmitDonation(ctx, a.UserID, partnerGift(a, partner, key, 1500))
		done <- outcome{res, err}
	}()
	testenv.Eventually(t, 10*time.Second, 5*time.Millisecond, "the batch to wait on the partner's key", func() bool {
		var n int
		_ = e.d.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
			AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO partner_gifts%'`).Scan(&n)
		return n == 1
	})
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	o := <-done
	if giveathon.ErrorCode(o.err) != giveathon.ECONFLICT || giveathon.ErrorField(o.err) != "idempotencyKey" {
		t.Fatalf("a partner's key taken during the batch: %+v, %v; want the key's CONFLICT", o.res, o.err)
	}
	if n, k := e.partnerKeyRows(t, partner, key); n != 1 || k != 1 {
		t.Fatalf("%d donations and %d partner keys, want 1 and 1", n, k)
	}
}
