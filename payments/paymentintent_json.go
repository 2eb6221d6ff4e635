package payments

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/stripe/stripe-go/v76"
)

// paymentIntentObject is the part of Stripe's PaymentIntent object Giveathon reads, decoded
// straight from the API's answer or an event's data. stripe-go's own stripe.PaymentIntent
// has hundreds of fields, nested objects each with an UnmarshalJSON of its own: decoding a
// charge's answer and its webhook into it was a tenth of the server's CPU in a replay of the
// event, for the dozen fields below.
type paymentIntentObject struct {
	stripe.APIResource
	ID               string            `json:"id"`
	Status           string            `json:"status"`
	Amount           int64             `json:"amount"`
	Currency         string            `json:"currency"`
	ClientSecret     string            `json:"client_secret"`
	Customer         expandableID      `json:"customer"`
	PaymentMethod    expandableID      `json:"payment_method"`
	Metadata         map[string]string `json:"metadata"`
	LastPaymentError *struct {
		Code        string `json:"code"`
		DeclineCode string `json:"decline_code"`
		Message     string `json:"message"`
	} `json:"last_payment_error"`
}

// expandableID is the id of an expandable field: a string, or the object with its id when
// expanded (null: none).
type expandableID string

func (e *expandableID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*e = ""
		return nil
	case len(b) > 0 && b[0] == '"':
		return json.Unmarshal(b, (*string)(e))
	}
	var obj struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return fmt.Errorf("expandable field: %w", err)
	}
	*e = expandableID(obj.ID)
	return nil
}

// answer is what Giveathon keeps of the PaymentIntent.
func (pi *paymentIntentObject) answer() *PaymentIntent {
	out := &PaymentIntent{
		ID:              pi.ID,
		Status:          pi.Status,
		AmountCents:     pi.Amount,
		Currency:        pi.Currency,
		ClientSecret:    pi.ClientSecret,
		CustomerID:      string(pi.Customer),
		PaymentMethodID: string(pi.PaymentMethod),
		Metadata:        pi.Metadata,
	}
	if e := pi.LastPaymentError; e != nil {
		out.LastErrorCode, out.LastErrorDeclineCode, out.LastErrorMessage = e.Code, e.DeclineCode, e.Message
	}
	return out
}

// decodePaymentIntent reads a PaymentIntent object (an event's data); an error when it is
// none.
func decodePaymentIntent(b []byte) (*PaymentIntent, error) {
	var pi paymentIntentObject
	if err := json.Unmarshal(b, &pi); err != nil {
		return nil, err
	}
	if pi.ID == "" {
		return nil, fmt.Errorf("no PaymentIntent id")
	}
	return pi.answer(), nil
}

// fromStripe is what Giveathon keeps of a PaymentIntent stripe-go decoded (one a decline's
// error carries, one found in a list): read through paymentIntentObject, so that what is kept
// is chosen in one place.
func fromStripe(pi *stripe.PaymentIntent) *PaymentIntent {
	b, err := json.Marshal(pi)
	if err == nil {
		var out *PaymentIntent
		if out, err = decodePaymentIntent(b); err == nil {
			return out
		}
	}
	// stripe-go's types encode, and back; were one not to, its id and status still answer.
	return &PaymentIntent{ID: pi.ID, Status: string(pi.Status)}
}
