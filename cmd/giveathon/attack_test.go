package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/giveathon/giveathon/internal/testenv"
)

// The attacks of issue 10, sent to the running server as an attacker would.

// productionEnv is the environment of a production server on a migrated database that makes
// no Stripe call.
func productionEnv(t *testing.T) map[string]string {
	return map[string]string{"DATABASE_URL": testenv.URL(t), "ENV": "production",
		"STRIPE_SECRET_KEY": "sk_test_production_test", "STRIPE_WEBHOOK_SECRET": "whsec_production_test",
		"EVENT_STARTS_AT": "2026-12-01T09:00:00-05:00", "STRIPE_API_BASE": "http://127.0.0.1:9"}
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
