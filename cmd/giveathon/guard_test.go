package main

import (
	"fmt"
	"sync"
	"testing"

	"github.com/giveathon/giveathon/internal/testenv"
	"github.com/giveathon/giveathon/payments/sandbox"
)

// concurrently sends n requests at once and counts the answers by extensions.code ("" for a
// success); every RATE_LIMITED answer must carry a retryAfter.
func concurrently(t *testing.T, n int, do func() *testenv.Response) map[string]int {
	t.Helper()
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		codes = map[string]int{}
		start = make(chan struct{})
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := do()
			mu.Lock()
			defer mu.Unlock()
			codes[r.Code()]++
			if r.Code() == "RATE_LIMITED" {
				if s, _ := r.Errors[0].Extensions["retryAfter"].(float64); s < 1 {
					t.Errorf("RATE_LIMITED without a retryAfter: %s", r.Raw)
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	return codes
}

// TestFailedSignInsAreCountedBeforeThePasswordIsChecked: 30 wrong passwords at once against
// an account allowed 10 failures; no more than 10 may reach the password check.
func TestFailedSignInsAreCountedBeforeThePasswordIsChecked(t *testing.T) {
	t.Parallel()
	srv := start(t, map[string]string{"DATABASE_URL": testenv.URL(t), "LOG_LEVEL": "warn",
		"LIMIT_LOGIN_FAILURES_PER_ACCOUNT": "10/15m"})
	srv.client.Do(t, registerOp, creds("race@example.org")).NoErrors(t)
	wrong := map[string]any{"i": map[string]any{"email": "race@example.org", "password": "wrong password"}}

	codes := concurrently(t, 30, func() *testenv.Response { return srv.client.Do(t, loginOp, wrong) })
	t.Logf("30 concurrent wrong passwords: %v", codes)
	if codes["UNAUTHENTICATED"] > 10 || codes["UNAUTHENTICATED"] < 1 || codes["UNAUTHENTICATED"]+codes["RATE_LIMITED"] != 30 {
		t.Fatalf("answers %v: want at most 10 UNAUTHENTICATED (checked) and the rest RATE_LIMITED", codes)
	}
	// The account now waits, even with the right password.
	retryAfter(t, srv.client.Do(t, loginOp, login("race@example.org")))

	// A successful sign-in gives back the attempt it counted: nine failures and any number of
	// sign-ins leave the tenth failure still answered as a failure.
	srv.client.Do(t, registerOp, creds("typo@example.org")).NoErrors(t)
	wrong = map[string]any{"i": map[string]any{"email": "typo@example.org", "password": "wrong password"}}
	for range 9 {
		if r := srv.client.Do(t, loginOp, wrong); r.Code() != "UNAUTHENTICATED" {
			t.Fatalf("failure within the limit: %s", r.Raw)
		}
	}
	for range 5 {
		srv.client.Do(t, loginOp, login("typo@example.org")).NoErrors(t)
	}
	if r := srv.client.Do(t, loginOp, wrong); r.Code() != "UNAUTHENTICATED" {
		t.Fatalf("the tenth failure after successful sign-ins: %s", r.Raw)
	}
	retryAfter(t, srv.client.Do(t, loginOp, wrong))
}

// TestNamesRefuseHiddenAndControlCharacters: a donor's name is shown on the public live page,
// so characters that hide text or reorder it (C1 controls, bidi overrides, embeddings and
// isolates, zero-width characters) are refused, naming the field; so are they in a
// donation's message.
func TestNamesRefuseHiddenAndControlCharacters(t *testing.T) {
	t.Parallel()
	m := setupMoney(t)
	for _, r := range []rune{0x01, 0x7f, 0x80, 0x85, 0x9f, 0x200b, 0x200d, 0x200f, 0x202a, 0x202e, 0x2060, 0x2066, 0x2069, 0xfeff,
		// Found by the outside attack: a soft hyphen, the Arabic letter mark, the Mongolian
		// vowel separator, the line and paragraph separators, a tag character, an interlinear
		// annotation, and fillers that render as nothing.
		0xad, 0x61c, 0x180e, 0x2028, 0x2029, 0xe0041, 0xfff9, 0x3164, 0x2800} {
		name := "Ada " + string(r) + "Lovelace"
		in := map[string]any{"i": map[string]any{"email": fmt.Sprintf("hidden-%x@example.org", r), "name": name, "password": "correct horse battery"}}
		if res := m.srv.client.Do(t, registerOp, in); res.Code() != "BAD_USER_INPUT" || res.Field() != "name" {
			t.Errorf("name with U+%04X: %s", r, res.Raw)
		}
	}
	// Names in other scripts, accents and emoji stay welcome.
	in := map[string]any{"i": map[string]any{"email": "welcome@example.org", "name": "Zoë Ōtsuka 李 🎉", "password": "correct horse battery"}}
	m.srv.client.Do(t, registerOp, in).NoErrors(t)

	c := m.donor(t)
	card := m.addCard(t, c, "pm_card_visa")
	for _, msg := range []string{"thanks \u202egnp.exe", "hi\u200bthere", "a\u0085b", "soft\u00adhyphen", "tag\U000E0041", "line\u2028break"} {
		if res := m.submit(t, c, card, 1000, newKey(), map[string]any{"message": msg}); res.Code() != "BAD_USER_INPUT" || res.Field() != "message" {
			t.Errorf("message %q: %s", msg, res.Raw)
		}
	}
	res := m.submit(t, c, card, 1000, newKey(), map[string]any{"message": "Merci !\nFor Grandma, with love 🎉"}).NoErrors(t)
	if res.String("submitDonation", "donation", "status") != "PENDING" {
		t.Fatalf("a plain message: %s", res.Raw)
	}
}

// TestProviderCallsAreLimitedPerDonor: requests that call Stripe at once for a donor
// (createSetupIntent, refreshDonation) share one per-donor limit, so one donor cannot spend
// the Stripe rate the charge workers need; other donors are not affected.
func TestProviderCallsAreLimitedPerDonor(t *testing.T) {
	t.Parallel()
	m := setupMoney(t, "LIMIT_PROVIDER_CALLS_PER_DONOR=5/1m")
	const setupOp = `mutation { createSetupIntent { clientSecret } }`
	const refreshOp = `mutation($id: ID!) { refreshDonation(id: $id) { id status } }`

	c := m.donor(t)
	card := m.addCard(t, c, "pm_card_visa")
	id := m.give(t, c, card, 2100)
	codes := concurrently(t, 24, func() *testenv.Response { return c.Do(t, setupOp, nil) })
	t.Logf("24 concurrent createSetupIntent of one donor: %v", codes)
	if codes[""] != 5 || codes["RATE_LIMITED"] != 19 {
		t.Fatalf("answers %v: want 5 answered and 19 RATE_LIMITED", codes)
	}
	// refreshDonation draws on the same allowance.
	if wait := retryAfter(t, c.Do(t, refreshOp, map[string]any{"id": id})); wait > 61 {
		t.Fatalf("retryAfter %v beyond the window", wait)
	}

	// Another donor is not affected.
	other := m.donor(t)
	card = m.addCard(t, other, "pm_card_visa")
	id = m.give(t, other, card, 2200)
	other.Do(t, setupOp, nil).NoErrors(t)
	other.Do(t, refreshOp, map[string]any{"id": id}).NoErrors(t)

	// Tries the provider never answered (it was down) do not count: a donor who retries
	// through an outage can still make the call once it is back.
	third := m.donor(t)
	m.sandbox.Script(sandbox.ScriptedFault{Method: "POST", PathPrefix: "/v1/setup_intents", Fault: sandbox.FaultError500, Count: 8})
	for i := 0; i < 8; i++ {
		if r := third.Do(t, setupOp, nil); r.Code() != "UNAVAILABLE" {
			t.Fatalf("try %d during the outage: %s", i+1, r.Raw)
		}
	}
	third.Do(t, setupOp, nil).NoErrors(t)
}
