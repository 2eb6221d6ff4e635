package payments

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/stripe/stripe-go/v76"
)

// TestPaymentIntentDecodesAsStripeGoDoes: the PaymentIntent read from an answer or an event
// (paymentIntentObject) is what stripe-go's own decoding gives, field by field, for ids as
// strings, expanded objects and nulls, with and without the last error.
func TestPaymentIntentDecodesAsStripeGoDoes(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"ids": `{"id":"pi_1","object":"payment_intent","status":"succeeded","amount":2500,"currency":"usd",
			"client_secret":"pi_1_secret_x","customer":"cus_1","payment_method":"pm_1",
			"metadata":{"donation_id":"d1","user_id":"u1"},"last_payment_error":null}`,
		"expanded": `{"id":"pi_2","object":"payment_intent","status":"requires_payment_method","amount":100,"currency":"usd",
			"customer":{"id":"cus_2","object":"customer","email":"a@example.org"},
			"payment_method":{"id":"pm_2","object":"payment_method","card":{"brand":"visa","last4":"0002"}},
			"metadata":{},"last_payment_error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds",
			"message":"Your card has insufficient funds.","payment_method":{"id":"pm_2","object":"payment_method"}}}`,
		"nulls": `{"id":"pi_3","object":"payment_intent","status":"canceled","amount":700,"currency":"usd",
			"client_secret":null,"customer":null,"payment_method":null,"metadata":null}`,
	} {
		got, err := decodePaymentIntent([]byte(body))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var pi stripe.PaymentIntent
		if err := json.Unmarshal([]byte(body), &pi); err != nil {
			t.Fatalf("%s: stripe-go: %v", name, err)
		}
		want := &PaymentIntent{ID: pi.ID, Status: string(pi.Status), AmountCents: pi.Amount, Currency: string(pi.Currency),
			ClientSecret: pi.ClientSecret, Metadata: pi.Metadata}
		if pi.Customer != nil {
			want.CustomerID = pi.Customer.ID
		}
		if pi.PaymentMethod != nil {
			want.PaymentMethodID = pi.PaymentMethod.ID
		}
		if e := pi.LastPaymentError; e != nil {
			want.LastErrorCode, want.LastErrorDeclineCode, want.LastErrorMessage = string(e.Code), string(e.DeclineCode), e.Msg
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, got, want)
		}
		if back := fromStripe(&pi); !reflect.DeepEqual(back, want) {
			t.Errorf("%s, through stripe-go's type:\n got %+v\nwant %+v", name, back, want)
		}
	}
	for _, bad := range []string{`{"object":"payment_intent"}`, `[1]`, `{"id":"pi_4","customer":7}`} {
		if pi, err := decodePaymentIntent([]byte(bad)); err == nil {
			t.Errorf("%s decoded as %+v, want an error", bad, pi)
		}
	}
}
