package main

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestASocketActsForItsConnectionInitAlone: a websocket whose upgrade request carries a
// partner's key and whose connection_init carries a donor's session acts for the donor
// alone, so the key revoked can never keep acting (or streaming) over it while the socket
// checks only the session.
func TestASocketActsForItsConnectionInitAlone(t *testing.T) {
	t.Parallel()
	m := setupAdmin(t, "LIVE_RESYNC_INTERVAL=300ms")
	partnerID := m.admin.Do(t, createPartnerOp, map[string]any{"i": map[string]any{"name": "Both Ways"}}).NoErrors(t).String("createPartner", "id")
	key, keyID := m.issueKey(t, partnerID, []string{"DONATIONS_READ"}, nil)
	donor := m.donor(t)
	sock := donor.Subscribe(t, `subscription { eventTotals { totalCents } }`, nil, http.Header{"Authorization": {"Bearer " + key.Token}})
	sock.Next(t, 10*time.Second).NoErrors(t)
	m.admin.Do(t, revokeAPIKeyOp, map[string]any{"id": keyID}).NoErrors(t)
	time.Sleep(time.Second) // three of the socket's checks
	r, err := sock.Send(t, `{ partner { id } me { id } }`, nil)
	if err != nil || r.Get("partner") != nil || r.Get("me") == nil {
		t.Errorf("over a donor's socket opened with a revoked key: %v %v", r, err)
	}
	r, err = sock.Send(t, `subscription { partnerEvents { sequence } }`, nil)
	if err != nil || r.Code() != "FORBIDDEN" {
		t.Errorf("partnerEvents over a donor's socket opened with a key: %v %v", r, err)
	}
}

// TestAKeyHoldsFewSubscriptionsOpen: a partner's key may hold as many subscriptions open as
// one socket may, however many sockets it spreads them over; the request rate alone let it
// pile up partnerEvents subscriptions, each reading the database twice a second, without end.
func TestAKeyHoldsFewSubscriptionsOpen(t *testing.T) {
	t.Parallel()
	m := setupAdmin(t, "GRAPHQL_MAX_SUBSCRIPTIONS_PER_SOCKET=2")
	partnerID := m.admin.Do(t, createPartnerOp, map[string]any{"i": map[string]any{"name": "Many Sockets"}}).NoErrors(t).String("createPartner", "id")
	key, _ := m.issueKey(t, partnerID, []string{"DONATIONS_READ"}, nil)
	other, _ := m.issueKey(t, partnerID, []string{"DONATIONS_READ"}, nil)
	const totalsOp = `subscription { eventTotals { totalCents } }`
	first := key.Subscribe(t, totalsOp, nil, nil)
	first.Next(t, 10*time.Second).NoErrors(t)
	key.Subscribe(t, totalsOp, nil, nil).Next(t, 10*time.Second).NoErrors(t)
	if r := key.Subscribe(t, `subscription { partnerEvents { sequence } }`, nil, nil).Next(t, 10*time.Second); r.Code() != "SUBSCRIPTION_LIMIT_EXCEEDED" {
		t.Fatalf("a third subscription of the key on a third socket: %s", r.Raw)
	}
	// Each key counts alone, and a subscription that ends gives its place back.
	other.Subscribe(t, totalsOp, nil, nil).Next(t, 10*time.Second).NoErrors(t)
	first.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := key.Subscribe(t, totalsOp, nil, nil).Next(t, 10*time.Second)
		if r.Code() == "" {
			break
		} else if r.Code() != "SUBSCRIPTION_LIMIT_EXCEEDED" || time.Now().After(deadline) {
			t.Fatalf("a subscription after one of the key's ended: %s", r.Raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestATimeArgumentThatIsNoTimeIsBadInput: a Time argument that does not parse is
// BAD_USER_INPUT on its path, not an internal error (createApiKey's expiresAt, the console's
// filter).
func TestATimeArgumentThatIsNoTimeIsBadInput(t *testing.T) {
	t.Parallel()
	m := setupAdmin(t)
	partnerID := m.admin.Do(t, createPartnerOp, map[string]any{"i": map[string]any{"name": "Clock"}}).NoErrors(t).String("createPartner", "id")
	for _, bad := range []any{"not a time", "+275760-09-13T00:00:00Z", "2026-13-01T00:00:00Z", 1700000000} {
		r := m.admin.Do(t, createAPIKeyOp, map[string]any{"i": map[string]any{"partnerId": partnerID, "scopes": []string{"DONATIONS_READ"}, "expiresAt": bad}})
		if r.Code() != "BAD_USER_INPUT" || !strings.Contains(r.Raw, "expiresAt") {
			t.Errorf("createApiKey with expiresAt %v: %s", bad, r.Raw)
		}
		r = m.admin.Do(t, `query($t: Time) { adminDonations(first: 1, filter: {createdAfter: $t}) { edges { node { id } } } }`, map[string]any{"t": bad})
		if r.Code() != "BAD_USER_INPUT" || !strings.Contains(r.Raw, "createdAfter") {
			t.Errorf("adminDonations with createdAfter %v: %s", bad, r.Raw)
		}
	}
}
