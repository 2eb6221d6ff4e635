package settlement

import (
	"errors"
	"testing"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/payments"
)

func TestOutcomeOfACall(t *testing.T) {
	t.Parallel()
	declined := &payments.Error{Kind: payments.Declined, Code: "card_declined", DeclineCode: "insufficient_funds"}
	for name, tc := range map[string]struct {
		pi      *payments.PaymentIntent
		err     error
		decided bool
		status  giveathon.DonationStatus
	}{
		"succeeded":         {&payments.PaymentIntent{Status: "succeeded"}, nil, true, giveathon.StatusSucceeded},
		"declined":          {nil, declined, true, giveathon.StatusFailed},
		"declined with PI":  {&payments.PaymentIntent{Status: "requires_payment_method"}, declined, true, giveathon.StatusFailed},
		"authentication":    {nil, &payments.Error{Kind: payments.AuthenticationRequired}, true, giveathon.StatusRequiresAction},
		"retryable":         {nil, &payments.Error{Kind: payments.Retryable, Code: "timeout"}, false, ""},
		"unclassified":      {nil, errors.New("boom"), false, ""},
		"processing":        {&payments.PaymentIntent{Status: "processing"}, nil, false, ""},
		"permanent":         {nil, &payments.Error{Kind: payments.Permanent}, false, ""},
		"PI wins over call": {&payments.PaymentIntent{Status: "succeeded"}, &payments.Error{Kind: payments.Retryable}, true, giveathon.StatusSucceeded},
	} {
		o := outcome(tc.pi, tc.err)
		if o.Decided != tc.decided || o.Status != tc.status {
			t.Errorf("%s: %+v", name, o)
		}
	}
	if o := outcome(nil, declined); o.FailureCode != "insufficient_funds" {
		t.Errorf("a decline's most specific code is its decline code: %+v", o)
	}
}

func TestRequestKeysAreDerivedFromTheDonation(t *testing.T) {
	t.Parallel()
	if a, b := requestKey("d1", "a", 1), requestKey("d1", "a", 1); a != b {
		t.Fatal("the same attempt must send the same key")
	}
	if requestKey("d1", "a", 1) == requestKey("d1", "a", 2) || requestKey("d1", "a", 1) == requestKey("d2", "a", 1) {
		t.Fatal("keys of different attempts or donations collide")
	}
}
