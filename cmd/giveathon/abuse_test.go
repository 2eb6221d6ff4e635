package main

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/giveathon/giveathon/internal/testenv"
)

// retryAfter returns extensions.retryAfter of a RATE_LIMITED answer.
func retryAfter(t *testing.T, r *testenv.Response) float64 {
	t.Helper()
	if r.Code() != "RATE_LIMITED" {
		t.Fatalf("want RATE_LIMITED, got %s", r.Raw)
	}
	s, _ := r.Errors[0].Extensions["retryAfter"].(float64)
	if s < 1 {
		t.Fatalf("RATE_LIMITED without a retryAfter: %s", r.Raw)
	}
	return s
}

func TestSignInLimitsAreSharedByInstances(t *testing.T) {
	t.Parallel()
	dbURL := testenv.URL(t)
	env := map[string]string{"DATABASE_URL": dbURL, "LOG_LEVEL": "warn",
		"LIMIT_LOGIN_FAILURES_PER_ACCOUNT": "3/10m", "LIMIT_REGISTER_PER_IP": "4/10m"}
	a := start(t, env)
	env2 := map[string]string{}
	for k, v := range env {
		env2[k] = v
	}
	b := start(t, env2)

	a.client.Do(t, registerOp, creds("guess@example.org")).NoErrors(t)
	wrong := map[string]any{"i": map[string]any{"email": "guess@example.org", "password": "wrong password"}}
	// Three failures, spread over two instances, use up the account's allowance.
	for i, srv := range []*running{a, b, a} {
		if r := srv.client.Do(t, loginOp, wrong); r.Code() != "UNAUTHENTICATED" {
			t.Fatalf("failure %d: %s", i+1, r.Raw)
		}
	}
	// Now even the right password waits, on either instance.
	for _, srv := range []*running{a, b} {
		retryAfter(t, srv.client.Do(t, loginOp, login("guess@example.org")))
	}
	// Another account is not affected.
	a.client.Do(t, registerOp, creds("other@example.org")).NoErrors(t)
	a.client.Do(t, loginOp, login("other@example.org")).NoErrors(t)

	// Sign-ups per address: two used above, two more, then the fifth is refused.
	b.client.Do(t, registerOp, creds("third@example.org")).NoErrors(t)
	a.client.Do(t, registerOp, creds("fourth@example.org")).NoErrors(t)
	retryAfter(t, b.client.Do(t, registerOp, creds("fifth@example.org")))
}

func TestCardTestingIsStopped(t *testing.T) {
	t.Parallel()
	m := setupMoney(t, "LIMIT_DECLINED_CARDS_PER_DONOR=2/1h", "LIMIT_CARDS_PER_DONOR=5/1h", "LIMIT_DONATIONS_PER_DONOR=8/1m")
	c := m.donor(t)
	good := m.addCard(t, c, "pm_card_visa")
	m.wait(t, c, m.give(t, c, good, 1000), "SUCCEEDED")
	// Two stolen cards, each declined.
	var stolen []string
	for _, pm := range []string{"pm_card_chargeDeclined", "pm_card_chargeDeclinedInsufficientFunds"} {
		card := m.addCard(t, c, pm)
		m.wait(t, c, m.give(t, c, card, 1100), "FAILED")
		stolen = append(stolen, card)
	}
	// A third new card can be neither saved nor tried, nor a saved card that never worked...
	r := c.Do(t, addPMOp, map[string]any{"i": map[string]any{"providerPaymentMethodId": "pm_card_mastercard"}})
	retryAfter(t, r)
	retryAfter(t, m.submit(t, c, stolen[0], 1150, newKey()))
	// ...but the card that worked before still gives.
	m.submit(t, c, good, 1200, newKey()).NoErrors(t)

	// Donations per donor: 5 submitted so far (the refused one counts); 3 more, then the
	// ninth within the minute waits.
	for i := 0; i < 3; i++ {
		m.submit(t, c, good, 1300+i, newKey()).NoErrors(t)
	}
	start := time.Now()
	r = m.submit(t, c, good, 1400, newKey())
	if wait := retryAfter(t, r); wait > 61 {
		t.Fatalf("retryAfter %v beyond the window", wait)
	}
	if !strings.Contains(r.Errors[0].Message, "try again") || time.Since(start) > 5*time.Second {
		t.Fatalf("rate-limited answer: %s", r.Raw)
	}
}

// TestSlowClientsAreCutOff sends a request's headers a byte at a time, slower than the
// server's header timeout: the server must close the connection rather than wait.
func TestSlowClientsAreCutOff(t *testing.T) {
	t.Parallel()
	srv := start(t, map[string]string{"DATABASE_URL": testenv.URL(t), "LOG_LEVEL": "warn"})
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("POST /graphql HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 512)
	for {
		if _, err := conn.Write([]byte("X")); err != nil {
			break
		}
		if n, err := conn.Read(buf); err != nil || n > 0 {
			break
		}
	}
	if waited := time.Since(started); waited > 15*time.Second {
		t.Fatalf("the server waited %s for headers", waited)
	}
}
