package main

import (
	"net/http"
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
