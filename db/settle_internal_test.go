package db

import (
	"testing"

	"github.com/giveathon/giveathon"
)

// TestClaimWritesWhatProcessingDoes checks what ClaimCharge's statement leaves out: reaching
// PROCESSING, by the state table, settles nothing, counts nothing, mails nothing, records no
// failure and tells no partner. A rule that gave PROCESSING a consequence would need the claim
// to write it (as MoveDonation's statement does for the other states).
func TestClaimWritesWhatProcessingDoes(t *testing.T) {
	rule, ok := giveathon.States[giveathon.StatusProcessing]
	if !ok || len(rule.From) == 0 {
		t.Fatalf("the state table has no move into PROCESSING: %+v", rule)
	}
	if rule.Settles || rule.Totals != 0 || rule.Email != "" || rule.RecordsFailure || rule.PartnerEvent != "" {
		t.Fatalf("the state table's PROCESSING writes %+v, which ClaimCharge's statement does not", rule)
	}
}
