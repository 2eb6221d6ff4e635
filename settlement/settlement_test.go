package settlement_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/db"
	"github.com/giveathon/giveathon/internal/testenv"
	"github.com/giveathon/giveathon/metrics"
	"github.com/giveathon/giveathon/payments"
	"github.com/giveathon/giveathon/settlement"
	dto "github.com/prometheus/client_model/go"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var allStatuses = []giveathon.DonationStatus{giveathon.StatusPending, giveathon.StatusProcessing, giveathon.StatusSucceeded,
	giveathon.StatusFailed, giveathon.StatusRequiresAction, giveathon.StatusRefunded}

// consequences is what the state table's rows must write.
type consequences struct {
	settles bool
	totals  int64
	email   string
	failure bool
}

var want = map[giveathon.DonationStatus]consequences{
	giveathon.StatusProcessing:     {},
	giveathon.StatusRequiresAction: {},
	giveathon.StatusSucceeded:      {settles: true, totals: +1, email: giveathon.EmailReceipt},
	giveathon.StatusFailed:         {settles: true, email: giveathon.EmailFailure, failure: true},
	giveathon.StatusRefunded:       {totals: -1, email: giveathon.EmailRefund},
}

// state is what a move can change, read back from the database.
type state struct {
	status       giveathon.DonationStatus
	settled      bool
	failureCode  string
	totalCents   int64
	totalCount   int64
	emails       map[string]int
	attemptState string
}

func read(t *testing.T, d *db.DB, id, charityID string) state {
	t.Helper()
	ctx := context.Background()
	var s state
	err := d.Pool.QueryRow(ctx, `SELECT status, settled_at IS NOT NULL, coalesce(failure_code, ''),
			(SELECT coalesce(sum(total_cents), 0)::int8 FROM event_totals WHERE charity_id = $2),
			(SELECT coalesce(sum(donation_count), 0)::int8 FROM event_totals WHERE charity_id = $2),
			coalesce((SELECT status FROM payment_attempts WHERE donation_id = $1 AND attempt_no = 1), '')
		FROM donations WHERE id = $1`, id, charityID).Scan(&s.status, &s.settled, &s.failureCode, &s.totalCents, &s.totalCount, &s.attemptState)
	if err != nil {
		t.Fatal(err)
	}
	if s.emails, err = d.CountNotifications(ctx, id); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestEveryMoveOfTheStateTable tries every from -> to pair on a real database: an allowed move
// happens once and writes exactly what the table says (settled_at, the totals, the e-mail's
// outbox row, the failure's reason); a move the table does not allow changes nothing; the
// same move again changes nothing more.
func TestEveryMoveOfTheStateTable(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	svc := settlement.New(d, nil, nil, nil, nil, settlement.Config{})
	ctx := context.Background()
	for _, from := range allStatuses {
		for _, to := range allStatuses {
			t.Run(fmt.Sprintf("%s to %s", from, to), func(t *testing.T) {
				don := testenv.NewDonor(t, d)
				dn := don.Donation(t, d, from, 4321)
				if to == giveathon.StatusPending {
					if _, _, err := d.MoveDonation(ctx, giveathon.Move{DonationID: dn.ID, To: to}); err == nil {
						t.Fatal("a move into PENDING was accepted")
					}
					return
				}
				before := read(t, d, dn.ID, don.CharityID)
				o := settlement.Outcome{Decided: true, Status: to, FailureCode: "card_declined", FailureMessage: "Your card was declined."}
				got, moved, err := svc.Apply(ctx, dn, o, "")
				if err != nil {
					t.Fatal(err)
				}
				after := read(t, d, dn.ID, don.CharityID)
				// The state table itself is held to the design's list in the root package's tests.
				if moved != from.CanMoveTo(to) {
					t.Fatalf("moved = %v, the state table allows it: %v", moved, from.CanMoveTo(to))
				}
				if !moved {
					if fmt.Sprint(after) != fmt.Sprint(before) || got.Status != from {
						t.Fatalf("a refused move changed %+v into %+v", before, after)
					}
					return
				}
				c := want[to]
				wantEmails := map[string]int{}
				if c.email != "" {
					wantEmails[c.email] = 1
				}
				if after.status != to || got.Status != to || after.settled != c.settles ||
					after.totalCents-before.totalCents != c.totals*4321 || after.totalCount-before.totalCount != c.totals ||
					(after.failureCode == "card_declined") != c.failure || fmt.Sprint(after.emails) != fmt.Sprint(wantEmails) {
					t.Fatalf("the move wrote %+v (from %+v), want %+v", after, before, c)
				}
				if _, again, err := svc.Apply(ctx, dn, o, ""); err != nil || again {
					t.Fatalf("the same move again: moved=%v err=%v", again, err)
				}
				if twice := read(t, d, dn.ID, don.CharityID); fmt.Sprint(twice) != fmt.Sprint(after) {
					t.Fatalf("the same move again changed %+v into %+v", after, twice)
				}
			})
		}
	}
}

// TestAProviderEventMovesOnce checks the move that records a provider event: the event's
// first delivery moves the donation, a second delivery of the same event moves nothing, even
// when the donation could move again.
func TestAProviderEventMovesOnce(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	ctx := context.Background()
	don := testenv.NewDonor(t, d)
	dn := don.Donation(t, d, giveathon.StatusSucceeded, 500)
	ev := &giveathon.ProviderEvent{ID: "evt_refund_" + dn.ID, Type: "charge.refunded"}
	if _, moved, err := d.MoveDonation(ctx, giveathon.Move{DonationID: dn.ID, To: giveathon.StatusRefunded, Event: ev}); err != nil || !moved {
		t.Fatalf("first delivery: moved=%v err=%v", moved, err)
	}
	if _, err := d.Pool.Exec(ctx, `UPDATE donations SET status = $2 WHERE id = $1`, dn.ID, string(giveathon.StatusSucceeded)); err != nil {
		t.Fatal(err)
	}
	if _, moved, err := d.MoveDonation(ctx, giveathon.Move{DonationID: dn.ID, To: giveathon.StatusRefunded, Event: ev}); err != nil || moved {
		t.Fatalf("second delivery: moved=%v err=%v", moved, err)
	}
}

// TestProviderEventsMustMatchTheirDonation sends signed-looking events about a donation whose
// PaymentIntent, amount, currency or customer are another's: none moves it, and the totals do
// not count it; the donation's own PaymentIntent does.
// secondCharges reads metrics.SecondCharges.
func secondCharges(t *testing.T) float64 {
	t.Helper()
	var m dto.Metric
	if err := metrics.SecondCharges.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func TestProviderEventsMustMatchTheirDonation(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	svc := settlement.New(d, nil, nil, nil, nil, settlement.Config{})
	ctx := context.Background()
	don := testenv.NewDonor(t, d)
	dn := don.Donation(t, d, giveathon.StatusProcessing, 4321)
	if err := d.SetPaymentIntentID(ctx, dn.UserID, dn.ID, "pi_own"); err != nil {
		t.Fatal(err)
	}
	own := payments.PaymentIntent{ID: "pi_own", Status: payments.PIStatusSucceeded, AmountCents: 4321, Currency: "usd",
		CustomerID: don.CustomerID, Metadata: map[string]string{"donation_id": dn.ID}}
	for name, change := range map[string]func(pi *payments.PaymentIntent){
		"another PaymentIntent": func(pi *payments.PaymentIntent) { pi.ID = "pi_other" },
		"another amount":        func(pi *payments.PaymentIntent) { pi.AmountCents = 1 },
		"another currency":      func(pi *payments.PaymentIntent) { pi.Currency = "eur" },
		"another customer":      func(pi *payments.PaymentIntent) { pi.CustomerID = "cus_other" },
		"another donation": func(pi *payments.PaymentIntent) {
			pi.ID, pi.Metadata = "pi_else", map[string]string{"donation_id": "else"}
		},
	} {
		pi := own
		change(&pi)
		before := secondCharges(t)
		if err := svc.HandlePaymentIntentEvent(ctx, "evt_"+name, "payment_intent.succeeded", &pi); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if s := read(t, d, dn.ID, don.CharityID); s.status != giveathon.StatusProcessing || s.totalCents != 0 {
			t.Fatalf("an event with %s moved the donation: %+v", name, s)
		}
		// Only a succeeded PaymentIntent that is the donation's in all but its id is a donor
		// charged twice.
		if counted, second := secondCharges(t)-before, name == "another PaymentIntent"; counted != map[bool]float64{true: 1}[second] {
			t.Errorf("an event with %s counted %v second charges", name, counted)
		}
	}
	if err := svc.HandlePaymentIntentEvent(ctx, "evt_own", "payment_intent.succeeded", &own); err != nil {
		t.Fatal(err)
	}
	if s := read(t, d, dn.ID, don.CharityID); s.status != giveathon.StatusSucceeded || s.totalCents != 4321 {
		t.Fatalf("the donation's own event: %+v", s)
	}
}

// TestAnEventBeforeThePaymentIntentIsKnownIsCheckedWithTheProvider sends events about a
// donation whose charge answer never came back (no PaymentIntent recorded yet): one naming a
// PaymentIntent the provider does not have, with the donation's amount, currency, customer and
// id in its metadata, moves nothing; the donation's real one, as the provider has it, settles it.
func TestAnEventBeforeThePaymentIntentIsKnownIsCheckedWithTheProvider(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	ctx := context.Background()
	don := testenv.NewDonor(t, d)
	dn := don.Donation(t, d, giveathon.StatusProcessing, 2468)
	real := payments.PaymentIntent{ID: "pi_real", Status: payments.PIStatusSucceeded, AmountCents: 2468, Currency: "usd",
		CustomerID: don.CustomerID, Metadata: map[string]string{"donation_id": dn.ID}}
	gw := &testenv.Gateway{Retrieve: func(id string) (*payments.PaymentIntent, error) {
		if id == real.ID {
			return &real, nil
		}
		return nil, &payments.Error{Kind: payments.Permanent, HTTPStatus: 404, Code: "resource_missing"}
	}}
	svc := settlement.New(d, gw, nil, nil, nil, settlement.Config{})
	forged := real
	forged.ID = "pi_forged"
	if err := svc.HandlePaymentIntentEvent(ctx, "evt_forged", "payment_intent.succeeded", &forged); err != nil {
		t.Fatal(err)
	}
	if s := read(t, d, dn.ID, don.CharityID); s.status != giveathon.StatusProcessing || s.totalCents != 0 {
		t.Fatalf("an event about a PaymentIntent the provider does not have moved the donation: %+v", s)
	}
	if err := svc.HandlePaymentIntentEvent(ctx, "evt_real", "payment_intent.succeeded", &real); err != nil {
		t.Fatal(err)
	}
	if s := read(t, d, dn.ID, don.CharityID); s.status != giveathon.StatusSucceeded || s.totalCents != 2468 {
		t.Fatalf("the donation's own PaymentIntent: %+v (calls %v)", s, gw.Calls())
	}
}

// TestAnEventDuringTheChargeAttemptIsLeftToIt sends the donation's own event while its charge
// attempt is still running and has not recorded the PaymentIntent (the provider's events
// often come before its answer): it writes nothing and asks the provider nothing, since the
// attempt's answer settles the donation. Once the attempt has outlived its time (its worker
// died), the same event is checked with the provider and settles it.
func TestAnEventDuringTheChargeAttemptIsLeftToIt(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	ctx := context.Background()
	don := testenv.NewDonor(t, d)
	dn := don.Donation(t, d, giveathon.StatusPending, 1357)
	claim, err := d.ClaimCharge(ctx, don.UserID, dn.ID, "donation-"+dn.ID+"-a")
	if err != nil || claim.AttemptNo != 1 {
		t.Fatalf("claim: %+v %v", claim, err)
	}
	pi := payments.PaymentIntent{ID: "pi_inflight", Status: payments.PIStatusSucceeded, AmountCents: 1357, Currency: "usd",
		CustomerID: don.CustomerID, Metadata: map[string]string{"donation_id": dn.ID, "user_id": don.UserID}}
	gw := &testenv.Gateway{Retrieve: func(id string) (*payments.PaymentIntent, error) { return &pi, nil }}
	svc := settlement.New(d, gw, nil, nil, nil, settlement.Config{AttemptTimeout: time.Minute})
	events := func() (n int) {
		if err := d.Pool.QueryRow(ctx, `SELECT count(*) FROM webhook_events WHERE provider_event_id LIKE 'evt_inflight%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := svc.HandlePaymentIntentEvent(ctx, "evt_inflight_1", "payment_intent.succeeded", &pi); err != nil {
		t.Fatal(err)
	}
	if s := read(t, d, dn.ID, don.CharityID); s.status != giveathon.StatusProcessing || s.totalCents != 0 || len(gw.Calls()) != 0 || events() != 0 {
		t.Fatalf("an event during the attempt: %+v, calls %v, %d events recorded", s, gw.Calls(), events())
	}
	// The attempt started two minutes ago: its worker is gone.
	if _, err := d.Pool.Exec(ctx, `UPDATE payment_attempts SET started_at = now() - interval '2 minutes' WHERE donation_id = $1`, dn.ID); err != nil {
		t.Fatal(err)
	}
	if err := svc.HandlePaymentIntentEvent(ctx, "evt_inflight_2", "payment_intent.succeeded", &pi); err != nil {
		t.Fatal(err)
	}
	if s := read(t, d, dn.ID, don.CharityID); s.status != giveathon.StatusSucceeded || s.totalCents != 1357 || len(gw.Calls()) != 1 || events() != 1 {
		t.Fatalf("an event after the attempt's time: %+v, calls %v, %d events recorded", s, gw.Calls(), events())
	}
}
