package main

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/giveathon/giveathon/internal/testenv"
)

const (
	createPartnerOp = `mutation($i: CreatePartnerInput!) { createPartner(input: $i) { id name contactEmail createdAt } }`
	createAPIKeyOp  = `mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret apiKey { id prefix mode scopes expiresAt revokedAt } } }`
	revokeAPIKeyOp  = `mutation($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }`
	partnerOp       = `{ partner { id name } }`
)

// ghostID is the global id of an object of the type that does not exist.
func ghostID(typ string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(typ + ":00000000-0000-4000-8000-000000000000"))
}

// extensions returns the response's extensions.
func extensions(t *testing.T, r *testenv.Response) map[string]any {
	t.Helper()
	var doc struct {
		Extensions map[string]any `json:"extensions"`
	}
	if err := json.Unmarshal([]byte(r.Raw), &doc); err != nil {
		t.Fatalf("answer is not JSON: %s", r.Raw)
	}
	return doc.Extensions
}

// issueKey has the admin issue a key with the scopes (and expiry) to a partner, and returns
// a client that sends it and the key's id.
func (m *admins) issueKey(t *testing.T, partnerID string, scopes []string, expiresAt *time.Time) (*testenv.Client, string) {
	t.Helper()
	in := map[string]any{"partnerId": partnerID, "scopes": scopes}
	if expiresAt != nil {
		in["expiresAt"] = expiresAt.Format(time.RFC3339Nano)
	}
	r := m.admin.Do(t, createAPIKeyOp, map[string]any{"i": in}).NoErrors(t)
	secret := r.String("createApiKey", "secret")
	if !strings.HasPrefix(secret, "gvk_test_") || !strings.HasPrefix(secret, r.String("createApiKey", "apiKey", "prefix")) ||
		r.String("createApiKey", "apiKey", "mode") != "test" {
		t.Fatalf("createApiKey in development: %s", r.Raw)
	}
	return m.srv.client.As(secret), r.String("createApiKey", "apiKey", "id")
}

// TestPartnerKeysEndToEnd: an admin registers a partner and issues keys; a key acts for its
// partner and never as a donor, a donor's session never as a partner; tampered, revoked and
// expired keys are refused with their reasons, over HTTP and websockets; keys rotate; every
// change is in the audit log without the secret.
func TestPartnerKeysEndToEnd(t *testing.T) {
	t.Parallel()
	m := setupAdmin(t, "LIVE_RESYNC_INTERVAL=300ms")
	donor := m.donor(t)

	// Bad input is named by its field, and nothing is written.
	for field, in := range map[string]map[string]any{
		"name":         {"name": "  "},
		"contactEmail": {"name": "Stream Co", "contactEmail": "not an address"},
	} {
		if r := m.admin.Do(t, createPartnerOp, map[string]any{"i": in}); r.Code() != "BAD_USER_INPUT" || r.Field() != field {
			t.Errorf("createPartner with a bad %s: %s", field, r.Raw)
		}
	}
	r := m.admin.Do(t, createPartnerOp, map[string]any{"i": map[string]any{"name": "Stream Co", "contactEmail": "Ops@Stream.example"}}).NoErrors(t)
	partnerID := r.String("createPartner", "id")
	if r.String("createPartner", "contactEmail") != "ops@stream.example" {
		t.Errorf("createPartner: %s", r.Raw)
	}
	past := time.Now().Add(-time.Hour)
	for field, in := range map[string]map[string]any{
		"scopes":    {"partnerId": partnerID, "scopes": []string{}},
		"expiresAt": {"partnerId": partnerID, "scopes": []string{"DONATIONS_READ"}, "expiresAt": past.Format(time.RFC3339)},
		"partnerId": {"partnerId": ghostID("Partner"), "scopes": []string{"DONATIONS_READ"}},
	} {
		if r := m.admin.Do(t, createAPIKeyOp, map[string]any{"i": in}); r.Code() != "BAD_USER_INPUT" || r.Field() != field {
			t.Errorf("createApiKey with a bad %s: %s", field, r.Raw)
		}
	}
	// An expiry past the year 9999 in UTC (an internal error: its audit line could not be written).
	far := map[string]any{"partnerId": partnerID, "scopes": []string{"DONATIONS_READ"}, "expiresAt": "9999-12-31T23:00:00-01:00"}
	if r := m.admin.Do(t, createAPIKeyOp, map[string]any{"i": far}); r.Code() != "BAD_USER_INPUT" || r.Field() != "expiresAt" {
		t.Errorf("createApiKey expiring in the year 10000: %s", r.Raw)
	}
	// Only admins manage partners: a donor and a key are FORBIDDEN.
	key, keyID := m.issueKey(t, partnerID, []string{"DONATIONS_READ", "TOTALS_READ"}, nil)
	for name, c := range map[string]*testenv.Client{"a donor": donor, "a key": key} {
		for _, op := range []string{`{ partners { edges { node { id } } } }`, `mutation { createPartner(input: {name: "Mine"}) { id } }`} {
			if r := c.Do(t, op, nil); r.Code() != "FORBIDDEN" {
				t.Errorf("%s asks %s: %s", name, op, r.Raw)
			}
		}
	}

	// The key acts for its partner, and its answers carry their cost.
	r = key.Do(t, partnerOp, nil).NoErrors(t)
	if r.String("partner", "id") != partnerID || r.String("partner", "name") != "Stream Co" {
		t.Fatalf("partner with the key: %s", r.Raw)
	}
	ext := extensions(t, r)
	if cost, ok := ext["cost"].(float64); !ok || cost < 2 {
		t.Errorf("extensions.cost of a partner's answer: %s", r.Raw)
	}
	if _, ok := ext["costRemaining"].(float64); !ok {
		t.Errorf("extensions.costRemaining of a partner's answer: %s", r.Raw)
	}
	if ext := extensions(t, donor.Do(t, partnerOp, nil)); ext["cost"] != nil {
		t.Errorf("a donor's answer carries a partner's cost: %v", ext)
	}
	// A key is no donor: me is null, a donor's mutation is UNAUTHENTICATED and says why.
	if r := key.Do(t, `{ me { id } }`, nil).NoErrors(t); r.Get("me") != nil {
		t.Errorf("me with a key: %s", r.Raw)
	}
	r = m.submit(t, key, ghostID("PaymentMethod"), 1000, newKey())
	if r.Code() != "UNAUTHENTICATED" || !strings.Contains(errMessage(r), "an API key cannot act as a donor") {
		t.Errorf("submitDonation with a key: %s", r.Raw)
	}
	// And a donor is no partner: partner is null.
	if r := donor.Do(t, partnerOp, nil).NoErrors(t); r.Get("partner") != nil {
		t.Errorf("partner with a donor's session: %s", r.Raw)
	}

	// A tampered key is refused by its checksum.
	tampered := key.Token[:len(key.Token)-1] + map[bool]string{true: "0", false: "1"}[!strings.HasSuffix(key.Token, "0")]
	if r := m.srv.client.As(tampered).Do(t, partnerOp, nil); r.Code() != "UNAUTHENTICATED" || !strings.Contains(errMessage(r), "malformed") {
		t.Errorf("a tampered key: %s", r.Raw)
	}

	// An expiring key works until it expires.
	soon := time.Now().Add(1500 * time.Millisecond)
	expiring, _ := m.issueKey(t, partnerID, []string{"DONATIONS_READ"}, &soon)
	expiring.Do(t, partnerOp, nil).NoErrors(t)
	time.Sleep(time.Until(soon) + 100*time.Millisecond)
	if r := expiring.Do(t, partnerOp, nil); r.Code() != "UNAUTHENTICATED" || !strings.Contains(errMessage(r), "expired") {
		t.Errorf("an expired key: %s", r.Raw)
	}

	// Over a websocket the key acts for its partner too, and the socket ends once the key is
	// revoked. Rotation: a second key, then the first revoked; the second still works.
	const totalsOp = `subscription { eventTotals { totalCents } }`
	asked := key.Subscribe(t, totalsOp, nil, nil)
	asked.Next(t, 10*time.Second).NoErrors(t)
	if r, err := asked.Send(t, partnerOp, nil); err != nil || r.String("partner", "id") != partnerID {
		t.Fatalf("partner over the key's socket: %v %v", r, err)
	}
	// (A socket that is only listening: nothing but its subscription's results comes on it,
	// so its end is the server's periodic check of the key.)
	sub := key.Subscribe(t, totalsOp, nil, nil)
	sub.Next(t, 10*time.Second).NoErrors(t)
	second, secondID := m.issueKey(t, partnerID, []string{"DONATIONS_READ"}, nil)
	r = m.admin.Do(t, revokeAPIKeyOp, map[string]any{"id": keyID}).NoErrors(t)
	revokedAt := r.String("revokeApiKey", "revokedAt")
	if revokedAt == "" {
		t.Fatalf("revokeApiKey: %s", r.Raw)
	}
	if r := m.admin.Do(t, revokeAPIKeyOp, map[string]any{"id": keyID}).NoErrors(t); r.String("revokeApiKey", "revokedAt") != revokedAt {
		t.Errorf("revoking again changed the key: %s then %s", revokedAt, r.Raw)
	}
	if r := key.Do(t, partnerOp, nil); r.Code() != "UNAUTHENTICATED" || !strings.Contains(errMessage(r), "revoked") {
		t.Errorf("a revoked key: %s", r.Raw)
	}
	if r := second.Do(t, partnerOp, nil).NoErrors(t); r.String("partner", "id") != partnerID {
		t.Errorf("the second key after the first was revoked: %s", r.Raw)
	}
	sub.WaitEnded(t, 5*time.Second)
	if r, err := asked.Send(t, partnerOp, nil); err == nil && r.Code() != "UNAUTHENTICATED" {
		t.Errorf("partner over the revoked key's socket: %s", r.Raw)
	}
	if s, err := m.srv.client.As(key.Token).TrySubscribe(totalsOp, nil, nil); err == nil {
		defer s.Close()
		if refused, got := s.Ended(10 * time.Second); !refused {
			t.Errorf("a revoked key opened a socket: %s", got)
		} else if code, reason := s.CloseStatus(); code != 4403 || !strings.Contains(reason, "revoked") {
			t.Errorf("a revoked key's socket was closed with %d %q, want 4403 and the reason", code, reason)
		}
	}

	// The admin sees the partner's keys, newest first, and reaches both by node.
	r = m.admin.Do(t, `query($id: ID!) { node(id: $id) { ... on Partner { id apiKeys { id revokedAt lastUsedAt } } } }`,
		map[string]any{"id": partnerID}).NoErrors(t)
	keys, _ := r.Get("node", "apiKeys").([]any)
	if len(keys) != 3 || r.String("node", "apiKeys", 0, "id") != secondID || r.String("node", "apiKeys", 2, "id") != keyID ||
		r.String("node", "apiKeys", 2, "lastUsedAt") == "" || r.String("node", "apiKeys", 2, "revokedAt") != revokedAt {
		t.Errorf("the partner's keys: %s", r.Raw)
	}
	for _, id := range []string{partnerID, keyID} {
		if r := m.admin.Do(t, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": id}).NoErrors(t); r.String("node", "id") != id {
			t.Errorf("node(%s) for the admin: %s", id, r.Raw)
		}
		for name, c := range map[string]*testenv.Client{"a donor": donor, "a key": second} {
			if r := c.Do(t, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": id}).NoErrors(t); r.Get("node") != nil {
				t.Errorf("node(%s) for %s: %s", id, name, r.Raw)
			}
		}
	}
	if r := m.admin.Do(t, `{ partners(first: 100) { edges { node { id } } } }`, nil).NoErrors(t); r.String("partners", "edges", 0, "node", "id") != partnerID {
		t.Errorf("partners, newest first: %s", r.Raw)
	}

	// Each change is in the audit log, and no secret is.
	r = m.admin.Do(t, `{ adminAuditLog(first: 100) { edges { node { action objectType objectId before after } } } }`, nil).NoErrors(t)
	for _, action := range []string{"createPartner", "createApiKey", "revokeApiKey"} {
		if !strings.Contains(r.Raw, `"action":"`+action+`"`) {
			t.Errorf("no %s in the audit log", action)
		}
	}
	// Their objects are named by the ids clients use (a Partner's and an ApiKey's were raw).
	if !strings.Contains(r.Raw, `"objectId":"`+partnerID+`"`) || !strings.Contains(r.Raw, `"objectId":"`+keyID+`"`) {
		t.Errorf("the audit log names the partner %s and the key %s otherwise: %.2000s", partnerID, keyID, r.Raw)
	}
	for _, secret := range []string{key.Token, second.Token, expiring.Token, key.Token[len("gvk_test_"):]} {
		if strings.Contains(r.Raw, secret) {
			t.Fatal("a key's secret is in the audit log")
		}
	}
	if strings.Contains(m.srv.logs.String(), key.Token) {
		t.Fatal("a key's secret is in the server's log")
	}
}

// TestPartnerKeyLimits: a key past its request rate, or past its cost budget, is answered
// RATE_LIMITED with retryAfter and nothing runs; each key counts alone.
func TestPartnerKeyLimits(t *testing.T) {
	t.Parallel()
	m := setupAdmin(t, "PARTNER_REQUESTS_PER_MINUTE=3", "PARTNER_COST_PER_MINUTE=100")
	partnerID := m.admin.Do(t, createPartnerOp, map[string]any{"i": map[string]any{"name": "Telethon"}}).NoErrors(t).String("createPartner", "id")
	retryAfter := func(r *testenv.Response) float64 {
		if len(r.Errors) == 0 {
			return 0
		}
		s, _ := r.Errors[0].Extensions["retryAfter"].(float64)
		return s
	}

	// The rate: 3 a minute. A minute's window may turn between two requests, so the refusal
	// comes after at least 3 answers, and within 8 requests.
	rated, _ := m.issueKey(t, partnerID, []string{"DONATIONS_READ"}, nil)
	answered, refused := 0, (*testenv.Response)(nil)
	for i := 0; i < 8 && refused == nil; i++ {
		if r := rated.Do(t, partnerOp, nil); r.Code() == "RATE_LIMITED" {
			refused = r
		} else {
			r.NoErrors(t)
			answered++
		}
	}
	if refused == nil || answered < 3 {
		t.Fatalf("the request rate: %d answered, then %v", answered, refused)
	}
	if s := retryAfter(refused); s < 1 || s > 60 || refused.Get("partner") != nil || !strings.Contains(errMessage(refused), "too many requests with this API key") {
		t.Errorf("refused for its rate: %s", refused.Raw)
	}
	// Another key of the same partner has its own count.
	other, _ := m.issueKey(t, partnerID, []string{"DONATIONS_READ"}, nil)
	r := other.Do(t, partnerOp, nil).NoErrors(t)
	if ext := extensions(t, r); ext["cost"] != float64(3) || ext["costRemaining"] != float64(97) {
		t.Errorf("cost of %s: %v", partnerOp, ext)
	}

	// The budget: 100 a minute; a query that costs more is refused with its cost.
	big := `{ partners(first: 30) { edges { node { id name } } } }`
	r = other.Do(t, big, nil)
	if r.Code() != "RATE_LIMITED" || retryAfter(r) < 1 || r.Get("partners") != nil || !strings.Contains(errMessage(r), "cost budget") {
		t.Errorf("over the cost budget: %s", r.Raw)
	}
	if ext := extensions(t, r); ext["cost"].(float64) <= 100 {
		t.Errorf("cost of the refused query: %v", ext)
	}
	// The refusal cost nothing: a query that fits in what is left still runs (the refused one
	// took the rest of the minute's budget). It is the key's third request of the minute.
	r = other.Do(t, partnerOp, nil).NoErrors(t)
	if ext := extensions(t, r); ext["costRemaining"].(float64) < 94 {
		t.Errorf("after a query refused for its cost, %s left %v", partnerOp, ext)
	}
	// The admin is no partner: no partner limits apply.
	for i := 0; i < 5; i++ {
		m.admin.Do(t, big, nil).NoErrors(t)
	}
}

// TestAPIKeyModeFollowsTheDeployment: keys are live only in production with a live Stripe key.
func TestAPIKeyModeFollowsTheDeployment(t *testing.T) {
	t.Parallel()
	prod := map[string]string{"ENV": "production", "STRIPE_WEBHOOK_SECRET": "whsec_x", "EVENT_STARTS_AT": "2026-12-01T09:00:00Z", "WEBHOOK_SECRET_KEY": testWebhookKey}
	for _, c := range []struct {
		env, key string
		live     bool
	}{
		{"development", "", false}, {"development", "sk_live_123", false},
		{"production", "sk_test_123", false}, {"production", "sk_live_123", true}, {"production", "rk_live_123", true},
	} {
		env := map[string]string{"ENV": c.env, "STRIPE_SECRET_KEY": c.key}
		if c.env == "production" {
			for k, v := range prod {
				env[k] = v
			}
		}
		cfg, err := loadConfig(envFunc(env))
		if err != nil {
			t.Fatalf("%s with %q: %v", c.env, c.key, err)
		}
		if cfg.LiveAPIKeys != c.live {
			t.Errorf("%s with %q: live keys = %v", c.env, c.key, cfg.LiveAPIKeys)
		}
	}
}

// TestAKeysSocketEndsWhenItIsRevokedOrExpires: with the periodic check of keys an hour away,
// a partner's subscription still ends as soon as its key is revoked through this instance, or
// when the key expires (an outside attack got a live event 0.5 s after the revocation, and
// after the expiry, from the check every LIVE_RESYNC_INTERVAL).
func TestAKeysSocketEndsWhenItIsRevokedOrExpires(t *testing.T) {
	t.Parallel()
	m := setupAdmin(t, "LIVE_RESYNC_INTERVAL=1h")
	partnerID := m.admin.Do(t, createPartnerOp, map[string]any{"i": map[string]any{"name": "Sock Co"}}).NoErrors(t).String("createPartner", "id")
	const totalsOp = `subscription { eventTotals { totalCents } }`

	key, keyID := m.issueKey(t, partnerID, []string{"DONATIONS_READ"}, nil)
	sub := key.Subscribe(t, totalsOp, nil, nil)
	sub.Next(t, 10*time.Second).NoErrors(t)
	m.admin.Do(t, revokeAPIKeyOp, map[string]any{"id": keyID}).NoErrors(t)
	sub.WaitEnded(t, 5*time.Second)

	expires := time.Now().Add(3 * time.Second)
	short, _ := m.issueKey(t, partnerID, []string{"DONATIONS_READ"}, &expires)
	sub = short.Subscribe(t, totalsOp, nil, nil)
	sub.Next(t, 10*time.Second).NoErrors(t)
	sub.WaitEnded(t, 10*time.Second)
	if time.Now().Before(expires) {
		t.Errorf("the socket of a key that expires at %s ended before it, at %s", expires, time.Now())
	}
}
