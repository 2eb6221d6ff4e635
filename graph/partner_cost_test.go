package graph_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestPartnerListsArePricedByTheirPage: a partner's cost budget is the query's complexity, so
// its lists cost their page size times their fields, as every other list does: a page of 500
// events is no cheaper than 500 events, and aliases of such pages pass no limit.
func TestPartnerListsArePricedByTheirPage(t *testing.T) {
	t.Parallel()
	b := setupPartners(t)
	p := b.partner(t)
	cost := func(query string) float64 {
		t.Helper()
		r := b.as(t, p, query, nil)
		var doc struct {
			Extensions map[string]any `json:"extensions"`
		}
		if err := json.Unmarshal([]byte(r.Raw), &doc); err != nil {
			t.Fatalf("answer is not JSON: %s", r.Raw)
		}
		c, _ := doc.Extensions["cost"].(float64)
		return c
	}
	for query, least := range map[string]float64{
		`{ partnerEvents(first: 500) { edges { node { sequence data } } } }`:                     500 * 4,
		`{ partnerEvents { edges { node { sequence } } } }`:                                      100 * 3,
		`{ partnerDonations(first: 100) { edges { node { id donorEmail } } } }`:                  100 * 4,
		`{ webhookDeliveries(endpointId: "none", first: 100) { edges { node { id status } } } }`: 100 * 4,
	} {
		if got := cost(query); got < least {
			t.Errorf("%s costs %v, want at least %v", query, got, least)
		}
	}
	var aliases []string
	for i := range 20 {
		aliases = append(aliases, fmt.Sprintf("a%d: partnerEvents(first: 500) { edges { node { sequence data } } }", i))
	}
	r := b.as(t, p, "{ "+strings.Join(aliases, " ")+" }", nil)
	if r.Code() != "COMPLEXITY_LIMIT_EXCEEDED" || r.Get("a0") != nil {
		t.Errorf("20 pages of 500 events under aliases: %s", r.Raw)
	}
	// A first out of range is the resolver's error, naming the field.
	if r := b.as(t, p, `{ partnerEvents(first: 100000) { edges { node { sequence data } } } }`, nil); r.Code() != "BAD_USER_INPUT" || r.Field() != "first" {
		t.Errorf("first out of range: %s", r.Raw)
	}
}
