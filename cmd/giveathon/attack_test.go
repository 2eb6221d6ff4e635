package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/giveathon/giveathon/internal/testenv"
)

// The attacks of issue 10, sent to the running server as an attacker would.

// attackBodyLimit is the most an answer to an attack may weigh: a few errors, not thousands.
const attackBodyLimit = 4 << 10

// TestValidationAttacksAreRefusedCheaply sends queries whose checking used to cost seconds or
// megabytes: each is refused with a client error and a small answer.
func TestValidationAttacksAreRefusedCheaply(t *testing.T) {
	t.Parallel()
	srv := start(t, map[string]string{"DATABASE_URL": testenv.URL(t), "LOG_LEVEL": "warn"})

	var fanOut strings.Builder // 2^30 paths through 30 fragments, in about 900 bytes
	fanOut.WriteString("{ ...F0 }")
	for i := 0; i < 30; i++ {
		fmt.Fprintf(&fanOut, " fragment F%d on Query { ...F%d ...F%d }", i, i+1, i+1)
	}
	fanOut.WriteString(" fragment F30 on Query { me { id } }")
	manyFragments := "{ me {"
	for i := 0; i < 300; i++ {
		manyFragments += fmt.Sprintf(" ...U%d", i)
	}
	manyFragments += " } }"
	for i := 0; i < 300; i++ {
		manyFragments += fmt.Sprintf(" fragment U%d on User { id }", i)
	}
	conflicts := func(n int, aliased bool) string {
		var b strings.Builder
		b.WriteString("{")
		for i := 0; i < n; i++ {
			switch {
			case aliased && i%2 == 0:
				fmt.Fprintf(&b, " a: me { id }")
			case aliased:
				fmt.Fprintf(&b, " a: charities(first: %d) { totalCount }", i)
			default:
				fmt.Fprintf(&b, " charities(first: %d) { totalCount }", i+1)
			}
		}
		return b.String() + " }"
	}

	for _, c := range []struct{ name, query string }{
		{"fragments fanning out", fanOut.String()},
		{"5400 tokens", "{ me {" + strings.Repeat(" id", 5400) + " } }"},
		{"1500 times the same field", "{ me {" + strings.Repeat(" id", 1500) + " } }"},
		{"300 fragments in one selection", manyFragments},
		{"200 conflicting fields", conflicts(200, false)},
		{"200 conflicting aliases", conflicts(200, true)},
		{"60 conflicting fields", conflicts(60, false)},
		{"20 conflicting fields (190 conflicts)", conflicts(20, false)},
	} {
		started := time.Now()
		r := srv.client.Do(t, c.query, nil)
		took := time.Since(started)
		t.Logf("%s (%d bytes): %s, %d bytes of answer", c.name, len(c.query), took.Round(time.Microsecond), len(r.Raw))
		if len(r.Errors) == 0 || r.Data != nil {
			t.Errorf("%s: answered: %.300s", c.name, r.Raw)
		}
		if code := r.Code(); code != "GRAPHQL_VALIDATION_FAILED" && code != "BAD_USER_INPUT" {
			t.Errorf("%s: code %q: %.300s", c.name, code, r.Raw)
		}
		if len(r.Raw) > attackBodyLimit {
			t.Errorf("%s: %d bytes of answer: %.300s", c.name, len(r.Raw), r.Raw)
		}
	}
}

// productionEnv is the environment of a production server on a migrated database that makes
// no Stripe call.
func productionEnv(t *testing.T) map[string]string {
	return map[string]string{"DATABASE_URL": testenv.URL(t), "ENV": "production",
		"STRIPE_SECRET_KEY": "sk_test_production_test", "STRIPE_WEBHOOK_SECRET": "whsec_production_test",
		"WEBHOOK_SECRET_KEY": testWebhookKey,
		"EVENT_STARTS_AT":    "2026-12-01T09:00:00-05:00", "STRIPE_API_BASE": "http://127.0.0.1:9"}
}

// TestProductionTellsNothingOfTheSchema: no "Did you mean" suggestions, and introspection is
// refused as the client's mistake, not logged as the server's.
func TestProductionTellsNothingOfTheSchema(t *testing.T) {
	t.Parallel()
	for _, production := range []bool{false, true} {
		env := map[string]string{"DATABASE_URL": testenv.URL(t)}
		if production {
			env = productionEnv(t)
		}
		srv := start(t, env)
		for _, q := range []string{
			`{ charitie { id } }`,                                       // a field
			`{ charities(frist: 1) { totalCount } }`,                    // an argument
			`{ me { donations(status: SUCCEDED) { totalCount } } }`,     // an enum value
			`query($n: Strin) { charities(search: $n) { totalCount } }`, // a type
			`{ me }`, // a selection missing
		} {
			r := srv.client.Do(t, q, nil)
			if r.Code() != "GRAPHQL_VALIDATION_FAILED" {
				t.Errorf("%s: %s", q, r.Raw)
			}
			if production && strings.Contains(r.Raw, "Did you mean") {
				t.Errorf("production: %s answered %s", q, r.Raw)
			}
			// In development the suggestions stay (a check that the test sees them).
			if !production && q == `{ charitie { id } }` && !strings.Contains(r.Raw, "Did you mean") {
				t.Errorf("development: %s answered %s", q, r.Raw)
			}
		}
		if !production {
			continue
		}
		for _, q := range []string{`{ __schema { queryType { name } } }`, `{ __type(name: "Query") { name } }`,
			`{ ...I } fragment I on Query { __schema { types { name } } }`} {
			r := srv.client.Do(t, q, nil)
			if r.Code() != "GRAPHQL_VALIDATION_FAILED" || !strings.Contains(r.Errors[0].Message, "introspection is disabled") || r.Data != nil {
				t.Errorf("introspection in production %s: %s", q, r.Raw)
			}
		}
		srv.client.Do(t, `{ event { __typename name } }`, nil).NoErrors(t)
		if logs := srv.logs.String(); strings.Contains(logs, "internal error") || strings.Contains(logs, "introspection") {
			t.Errorf("production logged the refusals as errors:\n%s", logs)
		}
	}
}

// TestNULInSearchAndCursorsIsBadInput: PostgreSQL refuses NUL in text, so a NUL must be
// refused as the field's mistake before it reaches SQL.
func TestNULInSearchAndCursorsIsBadInput(t *testing.T) {
	t.Parallel()
	srv := start(t, map[string]string{"DATABASE_URL": testenv.URL(t), "LOG_LEVEL": "warn"})
	token := srv.client.Do(t, registerOp, creds("nul@example.org")).NoErrors(t).String("register", "token")
	charityCursor := func(name string) string {
		b, _ := json.Marshal(map[string]string{"n": name, "i": "6f1c2b6e-0000-4000-8000-000000000002"})
		return base64.RawURLEncoding.EncodeToString(b)
	}
	const charities = `query($s: String, $a: String) { charities(first: 2, search: $s, after: $a) { totalCount } }`
	const history = `query($a: String) { me { donations(first: 2, after: $a) { totalCount } } }`
	for _, c := range []struct {
		query, field string
		vars         map[string]any
	}{
		{charities, "search", map[string]any{"s": "food\x00bank"}},
		{charities, "search", map[string]any{"s": "\x00"}},
		{charities, "after", map[string]any{"a": "abc\x00"}},
		{charities, "after", map[string]any{"a": charityCursor("Riverbend\x00")}},
		{history, "after", map[string]any{"a": "abc\x00"}},
		// A cursor of another list: the history's to the charities, and the charities' to the
		// history (each was read as a place in its own order, from the list's start).
		{charities, "after", map[string]any{"a": base64.RawURLEncoding.EncodeToString([]byte(`{"t":"2026-01-01T00:00:00Z","i":"6f1c2b6e-0000-4000-8000-000000000002"}`))}},
		{history, "after", map[string]any{"a": charityCursor("Riverbend")}},
		// An id in a form uuid.Parse takes and PostgreSQL does not: it was an internal error.
		{history, "after", map[string]any{"a": base64.RawURLEncoding.EncodeToString([]byte(`{"t":"2030-01-01T00:00:00Z","i":"urn:uuid:ffffffff-ffff-ffff-ffff-ffffffffffff"}`))}},
		{charities, "after", map[string]any{"a": base64.RawURLEncoding.EncodeToString([]byte(`{"n":"R","i":"urn:uuid:ffffffff-ffff-ffff-ffff-ffffffffffff"}`))}},
	} {
		r := srv.client.As(token).Do(t, c.query, c.vars)
		if r.Code() != "BAD_USER_INPUT" || r.Field() != c.field {
			t.Errorf("%v: %s", c.vars, r.Raw)
		}
	}
	// A cursor the list gave out still works.
	r := srv.client.Do(t, charities, map[string]any{"a": charityCursor("Riverbend")}).NoErrors(t)
	if r.Get("charities", "totalCount") == nil {
		t.Fatalf("a well-formed cursor: %s", r.Raw)
	}
	if strings.Contains(srv.logs.String(), "internal error") {
		t.Errorf("logged internal errors:\n%s", srv.logs)
	}
}

// TestMetricsOnlyOnTheAdminListenerInProduction: the API port does not serve /metrics in
// production; the admin listener does.
func TestMetricsOnlyOnTheAdminListenerInProduction(t *testing.T) {
	t.Parallel()
	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	env := productionEnv(t)
	admin := "127.0.0.1:" + freePort(t)
	env["ADMIN_ADDR"] = admin
	prod := start(t, env)
	if status, body := get(prod.url + "/metrics"); status != http.StatusNotFound || strings.Contains(body, "go_goroutines") {
		t.Errorf("production API port /metrics: %d %.200s", status, body)
	}
	if status, body := get("http://" + admin + "/metrics"); status != http.StatusOK || !strings.Contains(body, "go_goroutines") {
		t.Errorf("production admin /metrics: %d %.200s", status, body)
	}
	dev := start(t, map[string]string{"DATABASE_URL": testenv.URL(t), "LOG_LEVEL": "warn"})
	if status, body := get(dev.url + "/metrics"); status != http.StatusOK || !strings.Contains(body, "go_goroutines") {
		t.Errorf("development API port /metrics: %d %.200s", status, body)
	}
}
