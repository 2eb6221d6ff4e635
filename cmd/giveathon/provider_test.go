package main

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/giveathon/giveathon/internal/testenv"
	"github.com/giveathon/giveathon/payments/sandbox"
)

// donorWithEmail registers a donor and returns a client signed in as them, with their e-mail.
func (m *money) donorWithEmail(t *testing.T) (*testenv.Client, string) {
	t.Helper()
	email := fmt.Sprintf("donor-%d@example.org", time.Now().UnixNano())
	token := m.srv.client.Do(t, registerOp, creds(email)).NoErrors(t).String("register", "token")
	return m.srv.client.As(token), email
}

// customersAt returns the ids of the sandbox's customers with this e-mail address, asked of
// the sandbox as Stripe's dashboard would be.
func (m *money) customersAt(t *testing.T, email string) []string {
	t.Helper()
	req := httptest.NewRequest("GET", "/v1/customers?limit=100&email="+url.QueryEscape(email), nil)
	req.Header.Set("Authorization", "Bearer sk_test_123")
	rec := httptest.NewRecorder()
	m.sandbox.ServeHTTP(rec, req)
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || rec.Code != 200 {
		t.Fatalf("list customers: %d %s", rec.Code, rec.Body)
	}
	var ids []string
	for _, c := range list.Data {
		ids = append(ids, c.ID)
	}
	return ids
}

// TestOneProviderFailureDoesNotBlockSavingACard: Stripe saves a 500 for its idempotency key
// and replays it for a day, so the customer a donor's first card needs must not be created
// under a key derived from the donor alone; and a customer whose creation answer was lost
// must be found again, not made twice.
func TestOneProviderFailureDoesNotBlockSavingACard(t *testing.T) {
	t.Parallel()
	m := setupMoney(t)
	visa := map[string]any{"i": map[string]any{"providerPaymentMethodId": "pm_card_visa"}}

	// One 500 on customer creation, then the provider is healthy: the next try saves the card.
	c, email := m.donorWithEmail(t)
	m.sandbox.Script(sandbox.ScriptedFault{Method: "POST", PathPrefix: "/v1/customers", Fault: sandbox.FaultError500, Count: 1})
	if r := c.Do(t, addPMOp, visa); r.Code() != "UNAVAILABLE" || r.Errors[0].Extensions["retryAfter"] == nil {
		t.Fatalf("during the 500: %s", r.Raw)
	}
	m.addCard(t, c, "pm_card_visa")
	if r := c.Do(t, `mutation { createSetupIntent { clientSecret } }`, nil).NoErrors(t); r.String("createSetupIntent", "clientSecret") == "" {
		t.Fatalf("setup intent after the 500: %s", r.Raw)
	}
	if ids := m.customersAt(t, email); len(ids) != 1 {
		t.Fatalf("customers after a 500 and a retry: %v, want one", ids)
	}

	// The customer is created but the answer is lost: the retry finds it, and makes no other.
	c, email = m.donorWithEmail(t)
	m.sandbox.Script(sandbox.ScriptedFault{Method: "POST", PathPrefix: "/v1/customers", Fault: sandbox.FaultTimeoutAfter, Count: 1})
	if r := c.Do(t, addPMOp, visa); r.Code() != "UNAVAILABLE" {
		t.Fatalf("answer lost: %s", r.Raw)
	}
	if ids := m.customersAt(t, email); len(ids) != 1 {
		t.Fatalf("customers after a lost answer: %v, want the one created", ids)
	}
	m.addCard(t, c, "pm_card_mastercard")
	if ids := m.customersAt(t, email); len(ids) != 1 {
		t.Fatalf("customers after the retry: %v, want one", ids)
	}
}
