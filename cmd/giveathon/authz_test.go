package main

import (
	"encoding/base64"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/giveathon/giveathon/db"
	"github.com/giveathon/giveathon/internal/testenv"
)

// TestAuthorizationMatrix asks, as donor B, for every piece of donor A's data by every kind
// of id (global, raw, through node), and checks B gets exactly what a made-up id gets: no
// more, and no different error.
func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	m := setupMoney(t)
	a, b := m.donor(t), m.donor(t)
	card := m.addCard(t, a, "pm_card_authenticationRequired")
	donation := m.give(t, a, card, 2100)
	m.wait(t, a, donation, "REQUIRES_ACTION")
	meA := a.Do(t, `{ me { id } }`, nil).NoErrors(t).String("me", "id")

	// Ids of A's things, and made-up ids of the same shapes.
	ghostDonation := base64.RawURLEncoding.EncodeToString([]byte("Donation:00000000-0000-4000-8000-000000000000"))
	ghostCard := base64.RawURLEncoding.EncodeToString([]byte("PaymentMethod:00000000-0000-4000-8000-000000000000"))
	ghostUser := base64.RawURLEncoding.EncodeToString([]byte("User:00000000-0000-4000-8000-000000000000"))
	pairs := []struct{ name, real, ghost string }{
		{"donation (global id)", donation, ghostDonation},
		{"donation (raw id)", rawID(t, donation), "00000000-0000-4000-8000-000000000000"},
		{"card (global id)", card, ghostCard},
		{"card (raw id)", rawID(t, card), "00000000-0000-4000-8000-000000000000"},
		{"user (global id)", meA, ghostUser},
	}
	ops := []struct{ name, query string }{
		{"donation", `query($id: ID!) { donation(id: $id) { id status amountCents nextAction { clientSecret } attempts { status } } }`},
		{"node", `query($id: ID!) { node(id: $id) { id ... on Donation { amountCents } ... on PaymentMethod { last4 } ... on User { email } } }`},
		{"refreshDonation", `mutation($id: ID!) { refreshDonation(id: $id) { status } }`},
		{"removePaymentMethod", `mutation($id: ID!) { removePaymentMethod(id: $id) }`},
		{"submitDonation with the card", `mutation($id: ID!) { submitDonation(input: {charityId: "` + m.charity + `", amountCents: 1000, paymentMethodId: $id, idempotencyKey: "` + newKey() + `"}) { donation { id } } }`},
	}
	for _, op := range ops {
		for _, p := range pairs {
			real := b.Do(t, op.query, map[string]any{"id": p.real})
			ghost := b.Do(t, op.query, map[string]any{"id": p.ghost})
			if strings.Contains(real.Raw, "amountCents\":2100") || strings.Contains(real.Raw, "clientSecret") && !strings.Contains(real.Raw, "null") {
				t.Errorf("%s with A's %s leaked data: %s", op.name, p.name, real.Raw)
			}
			if real.Code() != ghost.Code() || errMessage(real) != errMessage(ghost) || fmt.Sprint(real.Data) != fmt.Sprint(ghost.Data) {
				t.Errorf("%s with A's %s differs from a made-up id:\n  A's:   %s\n  ghost: %s", op.name, p.name, real.Raw, ghost.Raw)
			}
			if op.name == "donation" || op.name == "refreshDonation" || op.name == "removePaymentMethod" {
				if c := real.Code(); c != "NOT_FOUND" && c != "BAD_USER_INPUT" {
					t.Errorf("%s with A's %s: %s", op.name, p.name, real.Raw)
				}
			}
		}
	}
	// B's own lists hold nothing of A's.
	lists := b.Do(t, `{ me { paymentMethods { id } donations(first: 100) { totalCount } } }`, nil).NoErrors(t)
	if lists.Get("me", "donations", "totalCount") != float64(0) || len(lists.Get("me", "paymentMethods").([]any)) != 0 {
		t.Errorf("B's lists: %s", lists.Raw)
	}
	// And A's things are untouched.
	if r := m.wait(t, a, donation, "REQUIRES_ACTION"); r.String("donation", "nextAction", "clientSecret") == "" {
		t.Errorf("A's donation after B's tries: %s", r.Raw)
	}
	if r := a.Do(t, `{ me { paymentMethods { id } } }`, nil).NoErrors(t); r.String("me", "paymentMethods", 0, "id") != card {
		t.Errorf("A's card after B's tries: %s", r.Raw)
	}
}

func errMessage(r *testenv.Response) string {
	if len(r.Errors) == 0 {
		return ""
	}
	return r.Errors[0].Message
}

// TestNoCardDataIsStoredOrLogged runs the money flows, then scans a dump of the whole
// database and the server's log for anything like a card number (13 to 19 digits passing the
// Luhn check, starting as card numbers do) or a CVC.
func TestNoCardDataIsStoredOrLogged(t *testing.T) {
	t.Parallel()
	if !looksLikeCardData("paid with 4242 4242 4242 4242") || !looksLikeCardData(`"cvc": "123"`) || looksLikeCardData("pi_3Nq1761234567890123") {
		t.Fatal("the scanner itself is wrong")
	}
	m := setupMoney(t, "LOG_LEVEL=debug")
	c := m.donor(t)
	for _, pm := range []string{"pm_card_visa", "pm_card_mastercard", "pm_card_chargeDeclined", "pm_card_authenticationRequired"} {
		card := m.addCard(t, c, pm)
		m.wait(t, c, m.give(t, c, card, 1000+len(pm)), "SUCCEEDED", "FAILED", "REQUIRES_ACTION")
	}
	c.Do(t, `mutation { createSetupIntent { clientSecret } }`, nil).NoErrors(t)

	bin, err := db.FindPostgresBinDir()
	if err != nil {
		t.Fatal(err)
	}
	dump, err := exec.Command(filepath.Join(bin, "pg_dump"), "--data-only", m.db.Pool.Config().ConnString()).CombinedOutput()
	if err != nil {
		t.Fatalf("pg_dump: %v: %.300s", err, dump)
	}
	if !strings.Contains(string(dump), "4242") {
		t.Fatalf("the dump holds no last4 at all: is it the right database? (%d bytes)", len(dump))
	}
	for name, text := range map[string]string{"database dump": string(dump), "server log": m.srv.logs.String()} {
		if looksLikeCardData(text) {
			t.Errorf("the %s holds something like card data: %q", name, cardDataPattern.FindString(text))
		}
	}
}

var (
	cardDigits      = regexp.MustCompile(`(?:^|[^0-9A-Za-z_])([2-6](?:[ -]?[0-9]){12,18})(?:[^0-9A-Za-z_]|$)`)
	cvcField        = regexp.MustCompile(`(?i)"?(cvc|cvv|card_?code|security_?code)"?\s*[:=]`)
	cardDataPattern = regexp.MustCompile(cardDigits.String() + `|` + cvcField.String())
)

func looksLikeCardData(s string) bool {
	if cvcField.MatchString(s) {
		return true
	}
	for _, m := range cardDigits.FindAllStringSubmatch(s, -1) {
		digits := strings.NewReplacer(" ", "", "-", "").Replace(m[1])
		if len(digits) >= 13 && len(digits) <= 19 && luhn(digits) {
			return true
		}
	}
	return false
}

func luhn(digits string) bool {
	sum := 0
	for i := 0; i < len(digits); i++ {
		d := int(digits[len(digits)-1-i] - '0')
		if i%2 == 1 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}
