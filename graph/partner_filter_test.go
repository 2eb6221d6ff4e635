package graph_test

import (
	"context"
	"strings"
	"testing"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/internal/testenv"
)

// TestPartnerDonationsFilterIsChecked: partnerDonations' partnerReference filter is checked as
// a gift's reference is (a NUL was an internal error: PostgreSQL refuses it in text), and
// trimmed as it was when stored.
func TestPartnerDonationsFilterIsChecked(t *testing.T) {
	t.Parallel()
	b := setupPartners(t)
	p := b.partner(t)
	don := testenv.NewDonor(t, b.db)
	dn := don.Donation(t, b.db, giveathon.StatusProcessing, 1234)
	if _, err := b.db.Pool.Exec(context.Background(), `UPDATE donations SET partner_id = $2, partner_reference = 'ref-1' WHERE id = $1`, dn.ID, p); err != nil {
		t.Fatal(err)
	}
	const op = `query($f: PartnerDonationFilter) { partnerDonations(first: 5, filter: $f) { edges { node { id } } } }`
	for _, bad := range []string{"a\x00b", "tab\there", strings.Repeat("x", 256)} {
		r := b.as(t, p, op, map[string]any{"f": map[string]any{"partnerReference": bad}})
		if r.Code() != "BAD_USER_INPUT" || r.Field() != "filter.partnerReference" {
			t.Errorf("filter partnerReference %.20q: %s", bad, r.Raw)
		}
	}
	r := b.as(t, p, op, map[string]any{"f": map[string]any{"partnerReference": " ref-1 "}}).NoErrors(t)
	if got := len(r.Get("partnerDonations", "edges").([]any)); got != 1 {
		t.Errorf("filter \" ref-1 \": %s", r.Raw)
	}
}
