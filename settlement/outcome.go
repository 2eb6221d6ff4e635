package settlement

import (
	"fmt"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/payments"
)

// Outcome is what a PaymentIntent's state means for its donation.
type Outcome struct {
	// Decided is false while the charge may still go either way (processing, or a retryable
	// error on the last confirmation): the donation stays where it is.
	Decided        bool
	Status         giveathon.DonationStatus
	FailureCode    string
	FailureMessage string
}

// OutcomeOf maps a PaymentIntent's state onto a donation status.
func OutcomeOf(pi *payments.PaymentIntent) Outcome {
	switch pi.Status {
	case payments.PIStatusSucceeded:
		return Outcome{Decided: true, Status: giveathon.StatusSucceeded}
	case payments.PIStatusRequiresAction:
		return Outcome{Decided: true, Status: giveathon.StatusRequiresAction}
	case payments.PIStatusCanceled:
		return Outcome{Decided: true, Status: giveathon.StatusFailed, FailureCode: "canceled", FailureMessage: "The payment was canceled."}
	case payments.PIStatusRequiresPaymentMethod:
		switch {
		case pi.LastErrorCode == "":
			return Outcome{}
		case pi.LastErrorCode == "authentication_required" || pi.LastErrorDeclineCode == "authentication_required":
			return Outcome{Decided: true, Status: giveathon.StatusRequiresAction}
		case payments.IsRetryableCardCode(pi.LastErrorCode):
			return Outcome{}
		}
		return Failed(pi.LastErrorCode, pi.LastErrorDeclineCode, pi.LastErrorMessage)
	}
	return Outcome{}
}

// Failed is the outcome of a refused charge, with the most specific code and a message a
// donor can act on.
func Failed(code, declineCode, message string) Outcome {
	c := code
	if declineCode != "" {
		c = declineCode
	}
	return Outcome{Decided: true, Status: giveathon.StatusFailed, FailureCode: c, FailureMessage: donorMessage(c, message)}
}

// donorMessages are the reasons shown to donors for common failures.
var donorMessages = map[string]string{
	"generic_decline":                       "Your card was declined.",
	"card_declined":                         "Your card was declined.",
	"insufficient_funds":                    "Your card was declined: insufficient funds.",
	"expired_card":                          "Your card has expired.",
	"incorrect_cvc":                         "Your card's security code is incorrect.",
	"lost_card":                             "Your card was declined.",
	"stolen_card":                           "Your card was declined.",
	"payment_intent_authentication_failure": "The card's authentication (3-D Secure) did not succeed.",
	"authentication_timeout":                "The card's authentication (3-D Secure) was not completed in time.",
	"processing_error":                      "The card could not be processed. Please try again later.",
	"provider_unavailable":                  "The payment provider could not be reached. Please try again later.",
	"timeout":                               "The payment provider did not answer in time. Please try again later.",
	"network_error":                         "The payment provider could not be reached. Please try again later.",
	"rate_limit":                            "The payment provider was too busy. Please try again later.",
	"client_rate_limit":                     "The payment provider was too busy. Please try again later.",
}

func donorMessage(code, providerMessage string) string {
	if m, ok := donorMessages[code]; ok {
		return m
	}
	if providerMessage != "" {
		return providerMessage
	}
	return fmt.Sprintf("The payment did not go through (%s).", code)
}
