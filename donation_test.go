package giveathon_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/giveathon/giveathon"
)

func TestStatusMoves(t *testing.T) {
	t.Parallel()
	allowed := map[[2]giveathon.DonationStatus]bool{
		{giveathon.StatusPending, giveathon.StatusProcessing}:        true,
		{giveathon.StatusProcessing, giveathon.StatusSucceeded}:      true,
		{giveathon.StatusProcessing, giveathon.StatusFailed}:         true,
		{giveathon.StatusProcessing, giveathon.StatusRequiresAction}: true,
		{giveathon.StatusRequiresAction, giveathon.StatusSucceeded}:  true,
		{giveathon.StatusRequiresAction, giveathon.StatusFailed}:     true,
		{giveathon.StatusSucceeded, giveathon.StatusRefunded}:        true,
	}
	all := []giveathon.DonationStatus{giveathon.StatusPending, giveathon.StatusProcessing, giveathon.StatusSucceeded,
		giveathon.StatusFailed, giveathon.StatusRequiresAction, giveathon.StatusRefunded}
	for _, from := range all {
		for _, to := range all {
			if got := from.CanMoveTo(to); got != allowed[[2]giveathon.DonationStatus{from, to}] {
				t.Errorf("%s -> %s: %v", from, to, got)
			}
		}
	}
	if from := giveathon.StatusFailed.MovesInto(); len(from) != 2 {
		t.Errorf("FAILED is reached from %v", from)
	}
	if giveathon.StatusFailed.CanMoveTo(giveathon.StatusSucceeded) || giveathon.StatusSucceeded.CanMoveTo(giveathon.StatusFailed) {
		t.Error("a final outcome must not flip")
	}
}

func TestSubmitDonationInputValidate(t *testing.T) {
	t.Parallel()
	ok := giveathon.SubmitDonationInput{CharityID: "c", PaymentMethodID: "p", AmountCents: 2500, IdempotencyKey: "gift-1:a.b_c"}
	in, err := ok.Validate(giveathon.DefaultDonationLimits)
	if err != nil || in.Currency != "USD" {
		t.Fatalf("valid input: %+v, %v", in, err)
	}
	for name, tc := range map[string]struct {
		change func(*giveathon.SubmitDonationInput)
		field  string
	}{
		"too small":      {func(i *giveathon.SubmitDonationInput) { i.AmountCents = 99 }, "amountCents"},
		"too large":      {func(i *giveathon.SubmitDonationInput) { i.AmountCents = 10_000_001 }, "amountCents"},
		"euros":          {func(i *giveathon.SubmitDonationInput) { i.Currency = "EUR" }, "currency"},
		"no key":         {func(i *giveathon.SubmitDonationInput) { i.IdempotencyKey = "" }, "idempotencyKey"},
		"long key":       {func(i *giveathon.SubmitDonationInput) { i.IdempotencyKey = strings.Repeat("k", 256) }, "idempotencyKey"},
		"key with slash": {func(i *giveathon.SubmitDonationInput) { i.IdempotencyKey = "a/b" }, "idempotencyKey"},
		"long message":   {func(i *giveathon.SubmitDonationInput) { i.Message = strings.Repeat("é", 501) }, "message"},
		"control chars":  {func(i *giveathon.SubmitDonationInput) { i.Message = "hi\x07" }, "message"},
		"bidi override":  {func(i *giveathon.SubmitDonationInput) { i.Message = "hi\u202eereht" }, "message"},
		"zero width":     {func(i *giveathon.SubmitDonationInput) { i.Message = "hi\ufeff" }, "message"},
	} {
		in := ok
		tc.change(&in)
		if _, err := in.Validate(giveathon.DefaultDonationLimits); giveathon.ErrorField(err) != tc.field {
			t.Errorf("%s: %v", name, err)
		}
	}
	a, b := ok, ok
	b.ConfirmDuplicate = true
	if a.RequestHash() != b.RequestHash() {
		t.Error("confirmDuplicate changed the request hash")
	}
	b.AmountCents++
	if a.RequestHash() == b.RequestHash() {
		t.Error("another amount has the same request hash")
	}
}

func TestFormatMoney(t *testing.T) {
	t.Parallel()
	for cents, want := range map[int64]string{0: "$0.00", 5: "$0.05", 2500: "$25.00", 123456789: "$1,234,567.89", -150: "-$1.50"} {
		if got := giveathon.FormatMoney(cents, "USD"); got != want {
			t.Errorf("FormatMoney(%d) = %q, want %q", cents, got, want)
		}
	}
}

func TestUndecidedAreNotFinal(t *testing.T) {
	for _, s := range []giveathon.DonationStatus{giveathon.StatusPending, giveathon.StatusProcessing, giveathon.StatusSucceeded,
		giveathon.StatusFailed, giveathon.StatusRequiresAction, giveathon.StatusRefunded} {
		if got := slices.Contains(giveathon.Undecided, s); got == s.Final() {
			t.Errorf("%s: undecided %v, final %v", s, got, s.Final())
		}
	}
}
