package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/auth"
	"github.com/giveathon/giveathon/db"
	"github.com/giveathon/giveathon/internal/testenv"
)

// GraphQL request limits, set through the settings, as a client meets them.

// limitCase is one request limit setting: with value, ask is refused with code; with the
// defaults it is answered. allowed, when set, is still answered under the limit.
type limitCase struct {
	setting, value string
	code           string
	ask            func(t *testing.T, srv *running) *testenv.Response
	allowed        string
}

// askQuery asks one query over HTTP.
func askQuery(query string) func(t *testing.T, srv *running) *testenv.Response {
	return func(t *testing.T, srv *running) *testenv.Response { return srv.client.Do(t, query, nil) }
}

// aliasedEvents is a query of 2+5n tokens.
func aliasedEvents(n int) string {
	q := "{"
	for i := 0; i < n; i++ {
		q += fmt.Sprintf(" e%d: event { name }", i)
	}
	return q + " }"
}

// isRequestLimit reports whether a setting bounds what one GraphQL request may ask: each of
// them must have a case in TestEveryRequestLimitSettingChangesTheServer.
func isRequestLimit(name string) bool {
	return strings.HasPrefix(name, "GRAPHQL_") || strings.HasPrefix(name, "PARTNER_") || name == "PERSISTED_QUERIES_FILE" || name == "MAX_BODY_BYTES"
}

// TestEveryRequestLimitSettingChangesTheServer: each GraphQL limit setting, set low, refuses a
// query that the defaults answer. A setting read but not passed on to the server fails here.
func TestEveryRequestLimitSettingChangesTheServer(t *testing.T) {
	t.Parallel()
	const listed = `{ event { name } }`
	sum := sha256.Sum256([]byte(listed))
	allowlist := filepath.Join(t.TempDir(), "persisted.json")
	if err := os.WriteFile(allowlist, []byte(`{"`+hex.EncodeToString(sum[:])+`": "`+listed+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	dbURL := testenv.URL(t)
	cases := []limitCase{
		{setting: "PARTNER_REQUESTS_PER_MINUTE", value: "3", code: "RATE_LIMITED", ask: askAsPartner(dbURL, `{ partner { id } }`, 8)},
		{setting: "PARTNER_COST_PER_MINUTE", value: "50", code: "RATE_LIMITED",
			ask: askAsPartner(dbURL, `{ charities(first: 20) { edges { node { id name } } } }`, 1)},
		{setting: "GRAPHQL_MAX_DEPTH", value: "3", code: "GRAPHQL_VALIDATION_FAILED",
			ask: askQuery(`{ me { donations { edges { node { id } } } } }`), allowed: `{ me { id } }`},
		{setting: "GRAPHQL_MAX_ALIASES", value: "2", code: "GRAPHQL_VALIDATION_FAILED",
			ask: askQuery(`{ a: event { name } b: event { name } c: event { name } }`), allowed: `{ a: event { name } b: event { name } }`},
		{setting: "GRAPHQL_MAX_QUERY_BYTES", value: "256", code: "BAD_USER_INPUT",
			ask: askQuery(`{ event { name` + strings.Repeat(" ", 300) + `} }`), allowed: listed},
		{setting: "GRAPHQL_MAX_TOKENS", value: "40", code: "GRAPHQL_VALIDATION_FAILED",
			ask: askQuery(aliasedEvents(10)), allowed: aliasedEvents(6)},
		{setting: "GRAPHQL_MAX_COMPLEXITY", value: "10", code: "COMPLEXITY_LIMIT_EXCEEDED",
			ask: askQuery(`{ charities(first: 20) { edges { node { id name } } } }`), allowed: `{ charities(first: 1) { totalCount } }`},
		{setting: "PERSISTED_QUERIES_FILE", value: allowlist, code: "PERSISTED_QUERY_NOT_ALLOWED",
			ask: askQuery(`{ event { open } }`), allowed: listed},
		{setting: "GRAPHQL_MAX_SUBSCRIPTIONS_PER_SOCKET", value: "2", code: "SUBSCRIPTION_LIMIT_EXCEEDED",
			ask: func(t *testing.T, srv *running) *testenv.Response {
				s := srv.client.Subscribe(t, `subscription { eventTotals { totalCents } }`, nil, nil)
				s.Next(t, 10*time.Second).NoErrors(t)
				var r *testenv.Response
				for i := 0; i < 2; i++ {
					var err error
					if r, err = s.Send(t, `subscription { eventTotals { donationCount } }`, nil); err != nil {
						t.Fatalf("subscription %d: %v", i+2, err)
					}
				}
				return r
			}},
		// A connection refused at connection_init is closed, with no GraphQL error to carry a
		// code: the case names that outcome "CLOSED AT INIT".
		{setting: "GRAPHQL_MAX_SOCKETS_PER_ADDRESS", value: "1", code: "CLOSED AT INIT",
			ask: func(t *testing.T, srv *running) *testenv.Response {
				const sub = `subscription { eventTotals { totalCents } }`
				srv.client.Subscribe(t, sub, nil, nil).Next(t, 10*time.Second).NoErrors(t)
				second, err := srv.client.TrySubscribe(sub, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer second.Close()
				ended, got := second.Ended(5 * time.Second)
				switch {
				case ended:
					if code, reason := second.CloseStatus(); code != 4429 || !strings.Contains(reason, "from this address") {
						t.Errorf("the connection over the cap was closed with %d %q, want 4429 and the reason", code, reason)
					}
					return &testenv.Response{Errors: []testenv.GQLError{{Message: "the connection was closed at connection_init",
						Extensions: map[string]any{"code": "CLOSED AT INIT"}}}}
				case !strings.HasPrefix(got, "next "):
					t.Fatalf("the second connection sent %s", got)
				}
				return &testenv.Response{Raw: got} // its first result
			}},
		{setting: "MAX_BODY_BYTES", value: "1024", code: "BAD_USER_INPUT",
			ask: askQuery(`{ event { name` + strings.Repeat(" ", 2000) + `} }`), allowed: listed},
	}
	for _, s := range settings {
		if !isRequestLimit(s.Name) {
			continue
		}
		found := false
		for _, c := range cases {
			found = found || c.setting == s.Name
		}
		if !found {
			t.Errorf("no case shows that %s changes the running server", s.Name)
		}
	}
	defaults := start(t, map[string]string{"DATABASE_URL": dbURL, "LOG_LEVEL": "warn"})
	for _, c := range cases {
		t.Run(c.setting, func(t *testing.T) {
			t.Parallel()
			if r := c.ask(t, defaults); len(r.Errors) > 0 {
				t.Fatalf("with the defaults: %.300s", r.Raw)
			}
			limited := start(t, map[string]string{"DATABASE_URL": dbURL, "LOG_LEVEL": "warn", c.setting: c.value})
			if r := c.ask(t, limited); r.Code() != c.code {
				t.Fatalf("%s=%s: want %s, got %d %.300s", c.setting, c.value, c.code, r.Status, r.Raw)
			}
			if c.allowed != "" {
				limited.client.Do(t, c.allowed, nil).NoErrors(t)
			}
		})
	}
}

// askAsPartner asks a query up to n times with a new partner's API key (written with the
// program's own storage), and returns the first answer with errors, or the last.
func askAsPartner(dbURL, query string, n int) func(t *testing.T, srv *running) *testenv.Response {
	return func(t *testing.T, srv *running) *testenv.Response {
		ctx := context.Background()
		d, err := db.Open(ctx, dbURL, 2)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		p, err := d.CreatePartner(ctx, nil, &giveathon.Partner{Name: "Limits"})
		if err != nil {
			t.Fatal(err)
		}
		_, secret, err := (&auth.Keys{Store: d}).IssueAPIKey(ctx, nil, giveathon.APIKeyInput{PartnerID: p.ID, Scopes: []giveathon.APIScope{giveathon.ScopeDonationsRead}})
		if err != nil {
			t.Fatal(err)
		}
		var r *testenv.Response
		for i := 0; i < n; i++ {
			if r = srv.client.As(secret).Do(t, query, nil); len(r.Errors) > 0 {
				break
			}
		}
		return r
	}
}
