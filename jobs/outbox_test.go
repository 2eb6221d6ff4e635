package jobs_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/db"
	"github.com/giveathon/giveathon/internal/testenv"
	"github.com/giveathon/giveathon/jobs"
	"github.com/giveathon/giveathon/notify"
)

// mailer records what it is given to send; fail, when set, says which e-mails it refuses.
type mailer struct {
	mu   sync.Mutex
	sent map[string]int
	fail func(notify.DonationEmail) error
}

func (m *mailer) SendBatch(_ context.Context, list []notify.DonationEmail) []error {
	m.mu.Lock()
	defer m.mu.Unlock()
	errs := make([]error, len(list))
	for i, e := range list {
		if m.fail != nil {
			if errs[i] = m.fail(e); errs[i] != nil {
				continue
			}
		}
		m.sent[e.DonationID+"."+e.Kind]++
	}
	return errs
}

func (m *mailer) Enabled() bool { return true }

// settled writes n donations that moved into SUCCEEDED: n outbox rows.
func settled(t *testing.T, d *db.DB, n int) []string {
	t.Helper()
	don := testenv.NewDonor(t, d)
	ids := make([]string, n)
	for i := range ids {
		dn := don.Donation(t, d, giveathon.StatusProcessing, 100)
		if _, moved, err := d.MoveDonation(context.Background(), giveathon.Move{DonationID: dn.ID, To: giveathon.StatusSucceeded}); err != nil || !moved {
			t.Fatalf("settle: %v", err)
		}
		ids[i] = dn.ID
	}
	return ids
}

func outbox(d *db.DB, m *mailer) *jobs.Outbox {
	return &jobs.Outbox{DB: d, Mailer: m, Logger: slog.New(slog.DiscardHandler), Interval: 10 * time.Millisecond}
}

// TestOutboxDrainersShareTheWork runs two drainers over one outbox: every e-mail goes out
// once and is marked sent.
func TestOutboxDrainersShareTheWork(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	ids := settled(t, d, 250)
	m := &mailer{sent: map[string]int{}}
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n, err := outbox(d, m).Drain(context.Background())
				if err != nil {
					t.Error(err)
				}
				if n == 0 || err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if n := m.sent[id+"."+notify.KindReceipt]; n != 1 {
			t.Fatalf("donation %s: %d receipts", id, n)
		}
		if s, err := d.NotificationStatus(context.Background(), id, notify.KindReceipt); err != nil || s != db.NotificationSent {
			t.Fatalf("donation %s: receipt %q (%v)", id, s, err)
		}
	}
}

// TestOutboxSendsAgainWhatADeadDrainerHeld checks at-least-once delivery: rows claimed by a
// drainer that died go out again once its lease runs out, counted as a second delivery.
func TestOutboxSendsAgainWhatADeadDrainerHeld(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	ids := settled(t, d, 3)
	ctx := context.Background()
	if held, err := d.ClaimNotifications(ctx, 10, 200*time.Millisecond); err != nil || len(held) != 3 {
		t.Fatalf("claim: %d rows, %v", len(held), err)
	}
	m := &mailer{sent: map[string]int{}}
	if n, err := outbox(d, m).Drain(ctx); err != nil || n != 0 {
		t.Fatalf("rows under a live lease were taken: %d, %v", n, err)
	}
	time.Sleep(300 * time.Millisecond)
	if n, err := outbox(d, m).Drain(ctx); err != nil || n != 3 {
		t.Fatalf("after the lease: %d, %v", n, err)
	}
	var deliveries int
	if err := d.Pool.QueryRow(ctx, `SELECT sum(deliveries) FROM notifications WHERE donation_id = ANY($1::uuid[])`, ids).Scan(&deliveries); err != nil {
		t.Fatal(err)
	}
	if deliveries != 6 || len(m.sent) != 3 {
		t.Fatalf("%d deliveries recorded, %d e-mails sent", deliveries, len(m.sent))
	}
}

// TestOutboxRetriesLaterOrGivesUp checks failures: a server error puts the row back for a
// later try, an e-mail that cannot be made fails at once; neither is marked sent.
func TestOutboxRetriesLaterOrGivesUp(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	ids := settled(t, d, 2)
	ctx := context.Background()
	m := &mailer{sent: map[string]int{}, fail: func(e notify.DonationEmail) error {
		if e.DonationID == ids[0] {
			return errors.New("451 try again later")
		}
		return giveathon.Invalid("email", "no address")
	}}
	if n, err := outbox(d, m).Drain(ctx); err != nil || n != 2 {
		t.Fatalf("drain: %d, %v", n, err)
	}
	var status, lastError string
	var retryIn time.Duration
	if err := d.Pool.QueryRow(ctx, `SELECT status, last_error, extract(epoch FROM next_attempt_at - now())::float8 * interval '1 second'
		FROM notifications WHERE donation_id = $1`, ids[0]).Scan(&status, &lastError, &retryIn); err != nil {
		t.Fatal(err)
	}
	if status != db.NotificationPending || retryIn < 2*time.Second || lastError == "" {
		t.Errorf("after a server error: %s, retry in %s, %q", status, retryIn, lastError)
	}
	if s, _ := d.NotificationStatus(ctx, ids[1], notify.KindReceipt); s != db.NotificationFailed {
		t.Errorf("an e-mail that cannot be made: %s", s)
	}
	if n, err := outbox(d, m).Drain(ctx); err != nil || n != 0 || len(m.sent) != 0 {
		t.Errorf("nothing is due yet: %d, %v, sent %v", n, err, m.sent)
	}
}
