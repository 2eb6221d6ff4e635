package giveathon_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/giveathon/giveathon"
)

func FuzzSubmitDonationInput(f *testing.F) {
	f.Add(int64(2500), "USD", "gift-1", "Thank you!", false)
	f.Add(int64(99), "usd", "key with spaces", "", true)
	f.Add(int64(10_000_001), "EUR", strings.Repeat("k", 256), strings.Repeat("é", 501), false)
	f.Add(int64(-1), "", "", "\x00", false)
	f.Fuzz(func(t *testing.T, amount int64, currency, key, message string, confirm bool) {
		in := giveathon.SubmitDonationInput{CharityID: "c", PaymentMethodID: "p", AmountCents: amount, Currency: currency,
			IdempotencyKey: key, Message: message, ConfirmDuplicate: confirm}
		out, err := in.Validate(giveathon.DefaultDonationLimits)
		if err != nil {
			if giveathon.ErrorCode(err) != giveathon.EINVALID || giveathon.ErrorField(err) == "" {
				t.Fatalf("an invalid input must be EINVALID naming a field: %v", err)
			}
			return
		}
		switch {
		case out.AmountCents < 100 || out.AmountCents > 10_000_000:
			t.Fatalf("amount %d accepted", out.AmountCents)
		case out.Currency != "USD":
			t.Fatalf("currency %q accepted", out.Currency)
		case len(out.IdempotencyKey) < 1 || len(out.IdempotencyKey) > 255 || strings.Trim(out.IdempotencyKey, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-") != "":
			t.Fatalf("idempotency key %q accepted", out.IdempotencyKey)
		case !utf8.ValidString(out.Message) || utf8.RuneCountInString(out.Message) > 500:
			t.Fatalf("message of %d runes accepted", utf8.RuneCountInString(out.Message))
		}
		// The fingerprint depends on what was asked, not on the permission to duplicate.
		again := out
		again.ConfirmDuplicate = !again.ConfirmDuplicate
		if out.RequestHash() != again.RequestHash() {
			t.Fatal("confirmDuplicate changed the request hash")
		}
	})
}

func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"Ada@Example.org", " bob@example.co.uk ", "a@b", "Ada <ada@example.org>", "", "@", "a@b.c.", "x@y.z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := giveathon.NormalizeEmail(s)
		if err != nil {
			if giveathon.ErrorField(err) != "email" {
				t.Fatalf("error does not name email: %v", err)
			}
			return
		}
		if out != strings.ToLower(out) || strings.TrimSpace(out) != out || len(out) > giveathon.MaxEmailLen {
			t.Fatalf("%q normalised to %q", s, out)
		}
		if again, err := giveathon.NormalizeEmail(out); err != nil || again != out {
			t.Fatalf("normalising %q again gave %q, %v", out, again, err)
		}
	})
}
