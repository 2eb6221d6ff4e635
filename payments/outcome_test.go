package payments

import (
	"errors"
	"testing"

	"github.com/giveathon/giveathon"
)

func TestOutcomeOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pi      PaymentIntent
		decided bool
		status  giveathon.DonationStatus
		code    string
	}{
		{PaymentIntent{Status: "succeeded"}, true, giveathon.StatusSucceeded, ""},
		{PaymentIntent{Status: "requires_action"}, true, giveathon.StatusRequiresAction, ""},
		{PaymentIntent{Status: "canceled"}, true, giveathon.StatusFailed, "canceled"},
		{PaymentIntent{Status: "processing"}, false, "", ""},
		{PaymentIntent{Status: "requires_confirmation"}, false, "", ""},
		{PaymentIntent{Status: "requires_payment_method"}, false, "", ""},
		{PaymentIntent{Status: "requires_payment_method", LastErrorCode: "card_declined", LastErrorDeclineCode: "insufficient_funds"}, true, giveathon.StatusFailed, "insufficient_funds"},
		{PaymentIntent{Status: "requires_payment_method", LastErrorCode: "card_declined"}, true, giveathon.StatusFailed, "card_declined"},
		{PaymentIntent{Status: "requires_payment_method", LastErrorCode: "authentication_required"}, true, giveathon.StatusRequiresAction, ""},
		{PaymentIntent{Status: "requires_payment_method", LastErrorCode: "processing_error"}, false, "", ""},
		{PaymentIntent{Status: "requires_payment_method", LastErrorCode: "payment_intent_authentication_failure"}, true, giveathon.StatusFailed, "payment_intent_authentication_failure"},
	} {
		o := OutcomeOf(&tc.pi)
		if o.Decided != tc.decided || o.Status != tc.status || o.FailureCode != tc.code || (o.Status == giveathon.StatusFailed && o.FailureMessage == "") {
			t.Errorf("OutcomeOf(%+v) = %+v", tc.pi, o)
		}
	}
}

func TestErrorKinds(t *testing.T) {
	t.Parallel()
	err := error(&Error{Kind: Retryable, Code: "timeout"})
	if !IsRetryable(errors.Join(errors.New("wrapped"), err)) {
		t.Fatal("a wrapped retryable error is not retryable")
	}
	if IsRetryable(&Error{Kind: Declined}) || IsRetryable(errors.New("plain")) {
		t.Fatal("declined or unclassified errors are not retryable")
	}
	for k, want := range map[ErrorKind]string{Permanent: "permanent", Declined: "declined", AuthenticationRequired: "authentication_required", Retryable: "retryable"} {
		if k.String() != want {
			t.Errorf("%d.String() = %q", k, k.String())
		}
	}
}
