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

// TestCreateEndedOnlyOnAnAnswerAboutTheKey: a donation is failed with no PaymentIntent only
// when the last create's answer shows its key's request has ended; an answer that says
// nothing of a request an earlier attempt left running keeps it PROCESSING.
func TestCreateEndedOnlyOnAnAnswerAboutTheKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		err   error
		ended bool
	}{
		{"replayed 500", &payments.Error{HTTPStatus: 500, Type: "api_error", Replayed: true}, true},
		{"the API's own 500", &payments.Error{HTTPStatus: 500, Type: "api_error"}, true},
		{"a 502 in front of the API", &payments.Error{HTTPStatus: 502}, false},
		{"a 503 without a type", &payments.Error{HTTPStatus: 503, Type: ""}, false},
		{"409 for the key in flight", &payments.Error{HTTPStatus: 409, Type: "idempotency_error", Code: "idempotency_key_in_use"}, false},
		{"429", &payments.Error{HTTPStatus: 429, Code: "rate_limit"}, false},
		{"timeout", &payments.Error{Code: "timeout"}, false},
		{"broken connection", &payments.Error{Code: "network_error"}, false},
		{"our own rate limit", &payments.Error{Code: "client_rate_limit"}, false},
		{"a refused request", &payments.Error{HTTPStatus: 400, Type: "invalid_request_error"}, true},
		{"not the provider's", errors.New("database down"), false},
	} {
		if got := createEnded(tc.err); got != tc.ended {
			t.Errorf("%s: createEnded = %v, want %v", tc.name, got, tc.ended)
		}
	}
}
