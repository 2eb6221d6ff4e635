package auth_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/auth"
	"github.com/giveathon/giveathon/db"
	"github.com/giveathon/giveathon/internal/testenv"
)

// TestAPIKeyFormat: keys carry their mode and 256 random bits, and any one changed character
// (a typo, a tampered key) fails the checksum before any database read.
func TestAPIKeyFormat(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, live := range []bool{true, false} {
		for i := 0; i < 50; i++ {
			secret, shown, hash, err := auth.NewAPIKey(live)
			if err != nil {
				t.Fatal(err)
			}
			want := map[bool]string{true: "gvk_live_", false: "gvk_test_"}[live]
			if !strings.HasPrefix(secret, want) || len(secret) != len(want)+43+6 || !strings.HasPrefix(secret, shown) || len(shown) != len(want)+4 {
				t.Fatalf("key %q (shown %q)", secret, shown)
			}
			if seen[secret] {
				t.Fatalf("the same key twice: %q", secret)
			}
			seen[secret] = true
			gotLive, gotHash, err := auth.ParseAPIKey(secret)
			if err != nil || gotLive != live || string(gotHash) != string(hash) || !auth.IsAPIKey(secret) {
				t.Fatalf("ParseAPIKey(%q) = %v, %x, %v", secret, gotLive, gotHash, err)
			}
			if i == 0 {
				for pos := len(want); pos < len(secret); pos++ {
					for _, c := range []byte{'0', 'z', 'Q'} {
						if secret[pos] == c {
							continue
						}
						typo := secret[:pos] + string(c) + secret[pos+1:]
						if _, _, err := auth.ParseAPIKey(typo); giveathon.ErrorCode(err) != giveathon.EUNAUTHORIZED {
							t.Fatalf("a key with character %d changed was accepted: %v", pos, err)
						}
					}
				}
			}
		}
	}
	for _, bad := range []string{"", "gvk_", "gvk_live_", "gvk_prod_" + strings.Repeat("a", 49), "gvk_live_" + strings.Repeat("a", 48),
		"gvk_live_" + strings.Repeat("a", 50), "gvk_live_" + strings.Repeat("-", 49)} {
		if _, _, err := auth.ParseAPIKey(bad); !strings.Contains(giveathon.ErrorMessage(err), "malformed") {
			t.Errorf("ParseAPIKey(%q) = %v", bad, err)
		}
	}
}

// TestKeysAuthenticate checks keys against the real database: a good key gives its partner
// and records its use; another mode's key, an unknown, a revoked and an expired one are
// refused, each with its reason.
func TestKeysAuthenticate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, err := db.Open(ctx, testenv.URL(t), 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	now := time.Now()
	test := &auth.Keys{Store: d, Now: func() time.Time { return now }}
	live := &auth.Keys{Store: d, Live: true}
	p, err := d.CreatePartner(ctx, nil, &giveathon.Partner{Name: "Phone Bank"})
	if err != nil {
		t.Fatal(err)
	}
	in := giveathon.APIKeyInput{PartnerID: p.ID, Scopes: []giveathon.APIScope{giveathon.ScopeDonationsWrite}}
	key, secret, err := test.IssueAPIKey(ctx, nil, in)
	if err != nil || key.Mode != "test" || !strings.HasPrefix(secret, key.Prefix) {
		t.Fatalf("issue: %+v, %v", key, err)
	}
	c, err := test.AuthenticateKey(ctx, secret)
	if err != nil || c.Partner.ID != p.ID || c.Key.ID != key.ID || !c.Can(giveathon.ScopeDonationsWrite) || c.Can(giveathon.ScopeDonationsRead) {
		t.Fatalf("authenticate: %+v, %v", c, err)
	}
	if k, _ := d.FindAPIKeyByID(ctx, key.ID); k.LastUsedAt == nil {
		t.Error("the key's use was not recorded")
	}
	refused := func(keys *auth.Keys, secret, reason string) {
		t.Helper()
		if _, err := keys.AuthenticateKey(ctx, secret); giveathon.ErrorCode(err) != giveathon.EUNAUTHORIZED || !strings.Contains(giveathon.ErrorMessage(err), reason) {
			t.Errorf("want EUNAUTHORIZED %q, got %v", reason, err)
		}
	}
	refused(live, secret, "deployment is live")
	liveKey, _, _, _ := auth.NewAPIKey(true)
	refused(test, liveKey, "deployment is in test mode")
	unknown, _, _, _ := auth.NewAPIKey(false)
	refused(test, unknown, "not known")

	expires := now.Add(time.Hour)
	_, expiring, err := test.IssueAPIKey(ctx, nil, giveathon.APIKeyInput{PartnerID: p.ID, Scopes: in.Scopes, ExpiresAt: &expires})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := test.AuthenticateKey(ctx, expiring); err != nil {
		t.Fatalf("a key before it expires: %v", err)
	}
	later := &auth.Keys{Store: d, Now: func() time.Time { return expires.Add(time.Second) }}
	refused(later, expiring, "expired")

	if _, err := d.RevokeAPIKey(ctx, nil, key.ID); err != nil {
		t.Fatal(err)
	}
	refused(test, secret, "revoked")

	// Issuing checks its input before anything is written.
	past := now.Add(-time.Minute)
	for field, bad := range map[string]giveathon.APIKeyInput{
		"scopes":    {PartnerID: p.ID},
		"expiresAt": {PartnerID: p.ID, Scopes: in.Scopes, ExpiresAt: &past},
		"partnerId": {PartnerID: "00000000-0000-4000-8000-000000000000", Scopes: in.Scopes},
	} {
		if _, _, err := test.IssueAPIKey(ctx, nil, bad); giveathon.ErrorField(err) != field {
			t.Errorf("issue with a bad %s: %v", field, err)
		}
	}
	keys, _ := d.FindAPIKeys(ctx, p.ID)
	if len(keys) != 2 {
		t.Errorf("%d keys written, want 2", len(keys))
	}
}

// TestMiddlewareAndRequireScope: through the real middleware, a Bearer gvk_ key becomes a
// Caller and never a user, a session never a Caller; RequireScope and RequireUser answer each
// kind of request as the partner and donor fields need.
func TestMiddlewareAndRequireScope(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, err := db.Open(ctx, testenv.URL(t), 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	cheap := auth.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}
	sessions := &auth.Service{Store: d, Params: cheap, Now: time.Now, Logger: logger}
	keys := &auth.Keys{Store: d, Logger: logger}
	donor, err := sessions.Register(ctx, giveathon.RegisterInput{Email: "scope@example.org", Name: "Scope", Password: "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := d.CreatePartner(ctx, nil, &giveathon.Partner{Name: "Portal"})
	if err != nil {
		t.Fatal(err)
	}
	_, secret, err := keys.IssueAPIKey(ctx, nil, giveathon.APIKeyInput{PartnerID: p.ID, Scopes: []giveathon.APIScope{giveathon.ScopeDonationsRead}})
	if err != nil {
		t.Fatal(err)
	}
	tampered := secret[:len(secret)-1] + map[bool]string{true: "0", false: "1"}[!strings.HasSuffix(secret, "0")]

	// The handler answers what the helpers say: "<scope check> | <user check>".
	h := auth.Middleware(sessions, auth.MiddlewareConfig{Keys: keys, Logger: logger})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		outcome := func(err error) string {
			if err != nil {
				return giveathon.ErrorCode(err) + " " + giveathon.ErrorMessage(err)
			}
			return "ok"
		}
		_, scopeErr := auth.RequireScope(r.Context(), giveathon.ScopeDonationsRead)
		_, writeErr := auth.RequireScope(r.Context(), giveathon.ScopeDonationsWrite)
		_, userErr := auth.RequireUser(r.Context())
		_, _ = io.WriteString(w, outcome(scopeErr)+" | "+outcome(writeErr)+" | "+outcome(userErr))
	}))
	ask := func(token string) string {
		req := httptest.NewRequest(http.MethodPost, "/graphql", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Body.String()
	}
	for _, c := range []struct{ name, token, want string }{
		{"the key", secret, "ok | forbidden this API key lacks the DONATIONS_WRITE scope | unauthorized an API key cannot act as a donor"},
		{"a donor's session", donor.Token, "forbidden partner fields need an API key"},
		{"a tampered key", tampered, "unauthorized the API key is malformed"},
		{"nothing", "", "unauthorized send a partner's API key"},
	} {
		if got := ask(c.token); !strings.HasPrefix(got, c.want) {
			t.Errorf("%s: got %q, want it to start %q", c.name, got, c.want)
		}
	}
	if got := ask(donor.Token); !strings.HasSuffix(got, "| ok") {
		t.Errorf("a donor's session is not a donor: %q", got)
	}
}
