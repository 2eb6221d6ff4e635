package settlement

import (
	"strings"
	"testing"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/payments"
)

func TestOutcomeOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pi      payments.PaymentIntent
		decided bool
		status  giveathon.DonationStatus
		code    string
	}{
		{payments.PaymentIntent{Status: "succeeded"}, true, giveathon.StatusSucceeded, ""},
		{payments.PaymentIntent{Status: "requires_action"}, true, giveathon.StatusRequiresAction, ""},
		{payments.PaymentIntent{Status: "canceled"}, true, giveathon.StatusFailed, "canceled"},
		{payments.PaymentIntent{Status: "processing"}, false, "", ""},
		{payments.PaymentIntent{Status: "requires_confirmation"}, false, "", ""},
		{payments.PaymentIntent{Status: "requires_payment_method"}, false, "", ""},
		{payments.PaymentIntent{Status: "requires_payment_method", LastErrorCode: "card_declined", LastErrorDeclineCode: "insufficient_funds"}, true, giveathon.StatusFailed, "insufficient_funds"},
		{payments.PaymentIntent{Status: "requires_payment_method", LastErrorCode: "card_declined"}, true, giveathon.StatusFailed, "card_declined"},
		{payments.PaymentIntent{Status: "requires_payment_method", LastErrorCode: "authentication_required"}, true, giveathon.StatusRequiresAction, ""},
		{payments.PaymentIntent{Status: "requires_payment_method", LastErrorCode: "processing_error"}, false, "", ""},
		{payments.PaymentIntent{Status: "requires_payment_method", LastErrorCode: "payment_intent_authentication_failure"}, true, giveathon.StatusFailed, "payment_intent_authentication_failure"},
	} {
		o := OutcomeOf(&tc.pi)
		if o.Decided != tc.decided || o.Status != tc.status || o.FailureCode != tc.code || (o.Status == giveathon.StatusFailed && o.FailureMessage == "") {
			t.Errorf("OutcomeOf(%+v) = %+v", tc.pi, o)
		}
	}
}

// TestEveryGiveUpCodeHasASentence: a donation whose last attempt failed for a retryable reason
// fails with that reason's code, and its donor reads a sentence, not the bare code.
func TestEveryGiveUpCodeHasASentence(t *testing.T) {
	t.Parallel()
	for _, code := range []string{"provider_unavailable", "timeout", "network_error", "rate_limit", "client_rate_limit", "processing_error"} {
		if m := Failed(code, "", "").FailureMessage; strings.Contains(m, code) || !strings.HasSuffix(m, ".") {
			t.Errorf("%s: donors read %q", code, m)
		}
	}
}
