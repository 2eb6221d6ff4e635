package settlement_test

import (
	"context"
	"strings"
	"testing"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/internal/testenv"
	"github.com/giveathon/giveathon/payments"
	"github.com/giveathon/giveathon/settlement"
)

// TestAChargeIsTwoStatements charges a donation whose provider call succeeds at once: the
// charge worker sends the database two statements, the claim before the call and the finish
// after it, and the donation ends settled with all the finish writes. The provider's
// payment_intent.created about it then touches nothing; its payment_intent.succeeded, the
// donation settled already, only reads it.
func TestAChargeIsTwoStatements(t *testing.T) {
	t.Parallel()
	url := testenv.URL(t)
	plain := testenv.Open(t, url)
	d, counter := testenv.CountedDB(t, url)
	ctx := context.Background()
	don := testenv.NewDonor(t, plain)
	dn := don.Donation(t, plain, giveathon.StatusPending, 1234)
	pi := payments.PaymentIntent{ID: "pi_two", Status: payments.PIStatusSucceeded, AmountCents: 1234, Currency: "usd",
		CustomerID: don.CustomerID, Metadata: map[string]string{"donation_id": dn.ID, "user_id": dn.UserID}}
	gw := &testenv.Gateway{Create: func(payments.ChargeRequest) (*payments.PaymentIntent, error) { p := pi; return &p, nil }}
	svc := settlement.New(d, gw, nil, nil, nil, settlement.Config{})

	if v := svc.Charge(ctx, dn.UserID, dn.ID, 1, 10); v.Kind != settlement.Done {
		t.Fatalf("charge: %+v", v)
	}
	sent := counter.Take()
	t.Logf("charge, %d statements:\n%s", len(sent), strings.Join(sent, "\n"))
	if len(sent) != 2 {
		t.Errorf("a charge decided by its call sent %d statements, want 2 (the claim and the finish)", len(sent))
	}
	s := read(t, plain, dn.ID, don.CharityID)
	if s.status != giveathon.StatusSucceeded || !s.settled || s.totalCents != 1234 || s.totalCount != 1 ||
		s.emails[giveathon.EmailReceipt] != 1 || s.attemptState != giveathon.AttemptSucceeded {
		t.Fatalf("after the charge: %+v", s)
	}
	if calls := gw.Calls(); len(calls) != 1 || calls[0] != "create donation-"+dn.ID+"-a1" {
		t.Fatalf("provider calls %v", calls)
	}

	created := pi
	created.Status = payments.PIStatusRequiresPaymentMethod
	if err := svc.HandlePaymentIntentEvent(ctx, "evt_created", "payment_intent.created", &created); err != nil {
		t.Fatal(err)
	}
	if sent := counter.Take(); len(sent) != 0 {
		t.Errorf("payment_intent.created sent %d statements, want none: %v", len(sent), sent)
	}

	if err := svc.HandlePaymentIntentEvent(ctx, "evt_succeeded", "payment_intent.succeeded", &pi); err != nil {
		t.Fatal(err)
	}
	if sent := counter.Take(); len(sent) != 1 {
		t.Errorf("payment_intent.succeeded about a settled donation sent %d statements, want 1 (the read): %v", len(sent), sent)
	}
	if after := read(t, plain, dn.ID, don.CharityID); after.totalCents != 1234 || after.emails[giveathon.EmailReceipt] != 1 {
		t.Fatalf("the late event changed the settled donation: %+v", after)
	}
	var recorded int
	if err := plain.Pool.QueryRow(ctx, `SELECT count(*) FROM webhook_events`).Scan(&recorded); err != nil {
		t.Fatal(err)
	}
	if recorded != 0 {
		t.Errorf("%d events that changed nothing were recorded", recorded)
	}
}

// TestAClaimOfASettledDonationStartsNothing claims donations the charge worker must leave
// alone: settled ones and one waiting for its donor; the claim moves nothing, starts no
// attempt and calls no provider.
func TestAClaimOfASettledDonationStartsNothing(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	ctx := context.Background()
	don := testenv.NewDonor(t, d)
	gw := &testenv.Gateway{}
	svc := settlement.New(d, gw, nil, nil, nil, settlement.Config{})
	for _, status := range []giveathon.DonationStatus{giveathon.StatusSucceeded, giveathon.StatusFailed, giveathon.StatusRequiresAction, giveathon.StatusRefunded} {
		dn := don.Donation(t, d, status, 500)
		claim, err := d.ClaimCharge(ctx, dn.UserID, dn.ID, "donation-"+dn.ID+"-a")
		if err != nil {
			t.Fatal(err)
		}
		if claim.Moved || claim.AttemptNo != 0 || claim.Donation.Status != status || claim.ProviderCustomerID != don.CustomerID {
			t.Fatalf("%s: claim %+v (%+v)", status, claim, claim.Donation)
		}
		if v := svc.Charge(ctx, dn.UserID, dn.ID, 1, 10); v.Kind != settlement.Done {
			t.Fatalf("%s: charge %+v", status, v)
		}
		if s := read(t, d, dn.ID, don.CharityID); s.status != status || s.attemptState != "" {
			t.Fatalf("%s: after the charge %+v", status, s)
		}
	}
	if calls := gw.Calls(); len(calls) != 0 {
		t.Fatalf("provider calls %v", calls)
	}
	// A PROCESSING donation (its earlier attempt's worker died) gets the next attempt, and
	// its context; the donor may be found from the donation alone.
	dn := don.Donation(t, d, giveathon.StatusProcessing, 700)
	for want := 1; want <= 2; want++ {
		claim, err := d.ClaimCharge(ctx, "", dn.ID, "donation-"+dn.ID+"-a")
		if err != nil {
			t.Fatal(err)
		}
		if claim.Moved || claim.AttemptNo != want || claim.RequestKey != "donation-"+dn.ID+"-a"+string(rune('0'+want)) ||
			claim.DonorEmail == "" || claim.ProviderPaymentMethodID != don.CardID {
			t.Fatalf("claim %d: %+v", want, claim)
		}
	}
	if _, err := d.ClaimCharge(ctx, "", "7d1f0a55-0000-4000-8000-000000000000", "x"); giveathon.ErrorCode(err) != giveathon.ENOTFOUND {
		t.Fatalf("claim of no donation: %v", err)
	}
}
