package jobs_test

import (
	"context"
	"testing"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/internal/testenv"
	"github.com/giveathon/giveathon/jobs"
	"github.com/giveathon/giveathon/payments"
	"github.com/giveathon/giveathon/settlement"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertest"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func intent(r payments.ChargeRequest, status string) *payments.PaymentIntent {
	return &payments.PaymentIntent{ID: "pi_" + r.DonationID[:8], Status: status, AmountCents: r.AmountCents, Currency: "usd",
		CustomerID: r.CustomerID, Metadata: map[string]string{"donation_id": r.DonationID}}
}

// TestChargeWorkerMapsVerdictsToRiver runs the charge worker with rivertest against a real
// database and a gateway double: each provider answer ends the job as River should see it
// (completed, cancelled, retried, snoozed) and moves the donation as the state table says.
func TestChargeWorkerMapsVerdictsToRiver(t *testing.T) {
	t.Parallel()
	declined := &payments.Error{Kind: payments.Declined, Code: "card_declined", DeclineCode: "insufficient_funds", Message: "no"}
	// Stripe's own 500, as the gateway classifies it: its request has ended.
	unavailable := &payments.Error{Kind: payments.Retryable, Code: "api_error", HTTPStatus: 500, Type: "api_error"}
	// A 503 from in front of the API says nothing of a create an earlier attempt left running.
	edge := &payments.Error{Kind: payments.Retryable, Code: "provider_unavailable", HTTPStatus: 503}
	limited := &payments.Error{Kind: payments.Retryable, Code: "rate_limit", HTTPStatus: 429}
	for name, tc := range map[string]struct {
		create      func(payments.ChargeRequest) (*payments.PaymentIntent, error)
		maxAttempts int
		event       river.EventKind
		status      giveathon.DonationStatus
		email       string
	}{
		"succeeded": {func(r payments.ChargeRequest) (*payments.PaymentIntent, error) { return intent(r, "succeeded"), nil },
			3, river.EventKindJobCompleted, giveathon.StatusSucceeded, giveathon.EmailReceipt},
		"declined": {func(payments.ChargeRequest) (*payments.PaymentIntent, error) { return nil, declined },
			3, river.EventKindJobCancelled, giveathon.StatusFailed, giveathon.EmailFailure},
		"needs 3-D Secure": {func(r payments.ChargeRequest) (*payments.PaymentIntent, error) {
			return intent(r, "requires_action"), nil
		},
			3, river.EventKindJobCompleted, giveathon.StatusRequiresAction, ""},
		"provider down": {func(payments.ChargeRequest) (*payments.PaymentIntent, error) { return nil, unavailable },
			3, river.EventKindJobFailed, giveathon.StatusProcessing, ""},
		"rate limited": {func(payments.ChargeRequest) (*payments.PaymentIntent, error) { return nil, limited },
			3, river.EventKindJobSnoozed, giveathon.StatusProcessing, ""},
		"provider down on the last attempt": {func(payments.ChargeRequest) (*payments.PaymentIntent, error) { return nil, unavailable },
			1, river.EventKindJobCompleted, giveathon.StatusFailed, giveathon.EmailFailure},
		"a 503 in front of the provider on the last attempt": {func(payments.ChargeRequest) (*payments.PaymentIntent, error) { return nil, edge },
			1, river.EventKindJobFailed, giveathon.StatusProcessing, ""},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := testenv.DB(t)
			ctx := context.Background()
			don := testenv.NewDonor(t, d)
			dn := don.Donation(t, d, giveathon.StatusPending, 2500)
			gw := &testenv.Gateway{Create: tc.create, Cancel: func(string) (*payments.PaymentIntent, error) {
				return &payments.PaymentIntent{Status: payments.PIStatusCanceled}, nil
			}}
			svc := settlement.New(d, gw, nil, nil, nil, settlement.Config{})
			w := rivertest.NewWorker(t, riverpgxv5.New(d.Pool), &river.Config{}, river.Worker[jobs.ChargeDonationArgs](jobs.NewChargeDonationWorker(svc)))
			tx, err := d.Pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx) //nolint:errcheck // the test's job is rolled back
			// The worker's own error comes back too when the job is to be retried.
			res, err := w.Work(ctx, t, pgx.Tx(tx), jobs.ChargeDonationArgs{DonationID: dn.ID}, &river.InsertOpts{MaxAttempts: tc.maxAttempts})
			if res == nil || (err != nil) != (tc.event == river.EventKindJobFailed) {
				t.Fatalf("work: %v", err)
			}
			if res.EventKind != tc.event {
				t.Errorf("job %s (%s), want %s (calls %v)", res.EventKind, res.Job.State, tc.event, gw.Calls())
			}
			now, err := d.FindDonation(ctx, dn.UserID, dn.ID)
			if err != nil {
				t.Fatal(err)
			}
			if now.Status != tc.status {
				t.Errorf("donation %s, want %s", now.Status, tc.status)
			}
			emails, err := d.CountNotifications(ctx, dn.ID)
			if err != nil {
				t.Fatal(err)
			}
			if n := emails[tc.email]; (tc.email != "" && n != 1) || (tc.email == "" && len(emails) != 0) {
				t.Errorf("outbox %v, want one %q", emails, tc.email)
			}
		})
	}
}
