package db_test

import (
	"context"
	"testing"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/internal/testenv"
)

// TestALateDisputeEventDoesNotReopenIt: the provider's events come in any order; a dispute's
// "created" event that arrives after its "closed" one does not take it back to
// needs_response, while the events of an open dispute still move it.
func TestALateDisputeEventDoesNotReopenIt(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	ctx := context.Background()
	don := testenv.NewDonor(t, d)
	dn := don.Donation(t, d, giveathon.StatusSucceeded, 1200)
	save := func(status string) string {
		t.Helper()
		if err := d.SaveDispute(ctx, giveathon.Dispute{ProviderDisputeID: "dp_late", UserID: dn.UserID, DonationID: dn.ID,
			Status: status, Reason: "fraudulent", AmountCents: 1200}); err != nil {
			t.Fatal(err)
		}
		got, err := d.FindDispute(ctx, dn.UserID, dn.ID)
		if err != nil || got == nil {
			t.Fatalf("find the dispute: %v, %v", got, err)
		}
		return got.Status
	}
	for _, step := range []struct{ event, want string }{
		{"needs_response", "needs_response"}, {"under_review", "under_review"}, {"lost", "lost"},
		{"needs_response", "lost"}, {"under_review", "lost"}, {"won", "won"},
	} {
		if got := save(step.event); got != step.want {
			t.Errorf("after an event saying %s: %s, want %s", step.event, got, step.want)
		}
	}
}
