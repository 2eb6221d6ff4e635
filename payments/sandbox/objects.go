package sandbox

import (
	"encoding/json"
	"sync/atomic"
)

// The objects below carry the fields of Stripe's objects (API version 2023-10-16) as
// stripe-mock's spec3.json and fixtures3.json show them, so that stripe-go decodes them as it
// would decode Stripe's. Fields the sandbox never sets are still written, as null, because
// Stripe writes them too and code may read them.

// outcome is what charging a test card does.
type outcome int

const (
	outcomeSucceed outcome = iota
	outcomeDecline
	outcomeProcessingError
	outcomeAuthRequired
)

// testCard is one of Stripe's test payment methods, by its test name.
type testCard struct {
	name        string
	brand       string
	display     string
	last4       string
	fingerprint string
	outcome     outcome
	declineCode string
	// dispute opens a dispute right after the charge succeeds.
	dispute bool
}

// testCards are the test names the sandbox knows, as Stripe's test mode does.
var testCards = map[string]*testCard{
	"pm_card_visa":                            {brand: "visa", display: "visa", last4: "4242", fingerprint: "sbxVisa4242aaaa1", outcome: outcomeSucceed},
	"pm_card_mastercard":                      {brand: "mastercard", display: "mastercard", last4: "4444", fingerprint: "sbxMc4444aaaaaa2", outcome: outcomeSucceed},
	"pm_card_amex":                            {brand: "amex", display: "american_express", last4: "8431", fingerprint: "sbxAmex8431aaaa3", outcome: outcomeSucceed},
	"pm_card_chargeDeclined":                  {brand: "visa", display: "visa", last4: "0002", fingerprint: "sbxVisa0002aaaa4", outcome: outcomeDecline, declineCode: "generic_decline"},
	"pm_card_chargeDeclinedInsufficientFunds": {brand: "visa", display: "visa", last4: "9995", fingerprint: "sbxVisa9995aaaa5", outcome: outcomeDecline, declineCode: "insufficient_funds"},
	"pm_card_authenticationRequired":          {brand: "visa", display: "visa", last4: "3184", fingerprint: "sbxVisa3184aaaa6", outcome: outcomeAuthRequired},
	"pm_card_chargeDeclinedProcessingError":   {brand: "visa", display: "visa", last4: "0119", fingerprint: "sbxVisa0119aaaa7", outcome: outcomeProcessingError},
	"pm_card_createDispute":                   {brand: "visa", display: "visa", last4: "0259", fingerprint: "sbxVisa0259aaaa8", outcome: outcomeSucceed, dispute: true},
}

func init() {
	for name, c := range testCards {
		c.name = name
	}
}

// Test cards expire at the end of this month, far enough ahead for any test.
const (
	testExpMonth = 12
	testExpYear  = 2034
)

type address struct {
	City       *string `json:"city"`
	Country    *string `json:"country"`
	Line1      *string `json:"line1"`
	Line2      *string `json:"line2"`
	PostalCode *string `json:"postal_code"`
	State      *string `json:"state"`
}

type billingDetails struct {
	Address address `json:"address"`
	Email   *string `json:"email"`
	Name    *string `json:"name"`
	Phone   *string `json:"phone"`
}

type invoiceSettings struct {
	CustomFields         any     `json:"custom_fields"`
	DefaultPaymentMethod *string `json:"default_payment_method"`
	Footer               *string `json:"footer"`
	RenderingOptions     any     `json:"rendering_options"`
}

type customer struct {
	ID                  string            `json:"id"`
	Object              string            `json:"object"`
	Address             any               `json:"address"`
	Balance             int64             `json:"balance"`
	Created             int64             `json:"created"`
	Currency            *string           `json:"currency"`
	DefaultSource       *string           `json:"default_source"`
	Delinquent          bool              `json:"delinquent"`
	Description         *string           `json:"description"`
	Discount            any               `json:"discount"`
	Email               *string           `json:"email"`
	InvoicePrefix       string            `json:"invoice_prefix"`
	InvoiceSettings     invoiceSettings   `json:"invoice_settings"`
	Livemode            bool              `json:"livemode"`
	Metadata            map[string]string `json:"metadata"`
	Name                *string           `json:"name"`
	NextInvoiceSequence int64             `json:"next_invoice_sequence"`
	Phone               *string           `json:"phone"`
	PreferredLocales    []string          `json:"preferred_locales"`
	Shipping            any               `json:"shipping"`
	TaxExempt           string            `json:"tax_exempt"`
	TestClock           *string           `json:"test_clock"`

	seq uint64 // creation order, for lists
}

type cardChecks struct {
	AddressLine1Check      *string `json:"address_line1_check"`
	AddressPostalCodeCheck *string `json:"address_postal_code_check"`
	CVCCheck               *string `json:"cvc_check"`
}

type cardNetworks struct {
	Available []string `json:"available"`
	Preferred *string  `json:"preferred"`
}

type threeDSecureUsage struct {
	Supported bool `json:"supported"`
}

type cardDetails struct {
	Brand             string            `json:"brand"`
	Checks            cardChecks        `json:"checks"`
	Country           string            `json:"country"`
	DisplayBrand      string            `json:"display_brand"`
	ExpMonth          int64             `json:"exp_month"`
	ExpYear           int64             `json:"exp_year"`
	Fingerprint       string            `json:"fingerprint"`
	Funding           string            `json:"funding"`
	GeneratedFrom     any               `json:"generated_from"`
	Last4             string            `json:"last4"`
	Networks          cardNetworks      `json:"networks"`
	ThreeDSecureUsage threeDSecureUsage `json:"three_d_secure_usage"`
	Wallet            any               `json:"wallet"`
}

type paymentMethod struct {
	ID             string            `json:"id"`
	Object         string            `json:"object"`
	BillingDetails billingDetails    `json:"billing_details"`
	Card           cardDetails       `json:"card"`
	Created        int64             `json:"created"`
	Customer       *string           `json:"customer"`
	Livemode       bool              `json:"livemode"`
	Metadata       map[string]string `json:"metadata"`
	Type           string            `json:"type"`

	test     *testCard // which test card it is: decides every charge's outcome
	detached bool      // Stripe refuses to use a detached method again
	seq      uint64    // creation order, for lists
}

// creationSeq orders the objects that are listed newest first.
var creationSeq atomic.Uint64

func newPaymentMethod(tc *testCard, now int64) *paymentMethod {
	return &paymentMethod{
		seq:    creationSeq.Add(1),
		ID:     newID("pm_1", 23),
		Object: "payment_method",
		Card: cardDetails{
			Brand:             tc.brand,
			Country:           "US",
			DisplayBrand:      tc.display,
			ExpMonth:          testExpMonth,
			ExpYear:           testExpYear,
			Fingerprint:       tc.fingerprint,
			Funding:           "credit",
			Last4:             tc.last4,
			Networks:          cardNetworks{Available: []string{tc.brand}},
			ThreeDSecureUsage: threeDSecureUsage{Supported: true},
		},
		Created:  now,
		Metadata: map[string]string{},
		Type:     "card",
		test:     tc,
	}
}

// snapshot copies the method as it is now, for an error or event that must not change later.
func (pm *paymentMethod) snapshot() *paymentMethod {
	c := *pm
	c.Metadata = cloneMap(pm.Metadata)
	return &c
}

type setupIntent struct {
	ID                                string            `json:"id"`
	Object                            string            `json:"object"`
	Application                       *string           `json:"application"`
	AutomaticPaymentMethods           any               `json:"automatic_payment_methods"`
	CancellationReason                *string           `json:"cancellation_reason"`
	ClientSecret                      string            `json:"client_secret"`
	Created                           int64             `json:"created"`
	Customer                          *string           `json:"customer"`
	Description                       *string           `json:"description"`
	FlowDirections                    []string          `json:"flow_directions"`
	LastSetupError                    any               `json:"last_setup_error"`
	LatestAttempt                     *string           `json:"latest_attempt"`
	Livemode                          bool              `json:"livemode"`
	Mandate                           *string           `json:"mandate"`
	Metadata                          map[string]string `json:"metadata"`
	NextAction                        any               `json:"next_action"`
	OnBehalfOf                        *string           `json:"on_behalf_of"`
	PaymentMethod                     *string           `json:"payment_method"`
	PaymentMethodConfigurationDetails any               `json:"payment_method_configuration_details"`
	PaymentMethodOptions              map[string]any    `json:"payment_method_options"`
	PaymentMethodTypes                []string          `json:"payment_method_types"`
	SingleUseMandate                  *string           `json:"single_use_mandate"`
	Status                            string            `json:"status"`
	Usage                             string            `json:"usage"`
}

// paymentError is Stripe's api_errors object as a PaymentIntent's last_payment_error holds it.
type paymentError struct {
	Type          string         `json:"type"`
	Code          string         `json:"code,omitempty"`
	DeclineCode   string         `json:"decline_code,omitempty"`
	Message       string         `json:"message,omitempty"`
	Charge        string         `json:"charge,omitempty"`
	PaymentMethod *paymentMethod `json:"payment_method,omitempty"`
}

type nextAction struct {
	Type          string         `json:"type"`
	UseStripeSDK  map[string]any `json:"use_stripe_sdk,omitempty"`
	RedirectToURL map[string]any `json:"redirect_to_url,omitempty"`
}

type paymentIntent struct {
	ID                                string            `json:"id"`
	Object                            string            `json:"object"`
	Amount                            int64             `json:"amount"`
	AmountCapturable                  int64             `json:"amount_capturable"`
	AmountDetails                     map[string]any    `json:"amount_details"`
	AmountReceived                    int64             `json:"amount_received"`
	Application                       *string           `json:"application"`
	ApplicationFeeAmount              *int64            `json:"application_fee_amount"`
	AutomaticPaymentMethods           any               `json:"automatic_payment_methods"`
	CanceledAt                        *int64            `json:"canceled_at"`
	CancellationReason                *string           `json:"cancellation_reason"`
	CaptureMethod                     string            `json:"capture_method"`
	ClientSecret                      string            `json:"client_secret"`
	ConfirmationMethod                string            `json:"confirmation_method"`
	Created                           int64             `json:"created"`
	Currency                          string            `json:"currency"`
	Customer                          *string           `json:"customer"`
	Description                       *string           `json:"description"`
	Invoice                           *string           `json:"invoice"`
	LastPaymentError                  *paymentError     `json:"last_payment_error"`
	LatestCharge                      *string           `json:"latest_charge"`
	Livemode                          bool              `json:"livemode"`
	Metadata                          map[string]string `json:"metadata"`
	NextAction                        *nextAction       `json:"next_action"`
	OnBehalfOf                        *string           `json:"on_behalf_of"`
	PaymentMethod                     *string           `json:"payment_method"`
	PaymentMethodConfigurationDetails any               `json:"payment_method_configuration_details"`
	PaymentMethodOptions              map[string]any    `json:"payment_method_options"`
	PaymentMethodTypes                []string          `json:"payment_method_types"`
	Processing                        any               `json:"processing"`
	ReceiptEmail                      *string           `json:"receipt_email"`
	Review                            *string           `json:"review"`
	SetupFutureUsage                  *string           `json:"setup_future_usage"`
	Shipping                          any               `json:"shipping"`
	Source                            *string           `json:"source"`
	StatementDescriptor               *string           `json:"statement_descriptor"`
	StatementDescriptorSuffix         *string           `json:"statement_descriptor_suffix"`
	Status                            string            `json:"status"`
	TransferData                      any               `json:"transfer_data"`
	TransferGroup                     *string           `json:"transfer_group"`

	// authMethod is the card that asked for 3-D Secure, kept after an off-session failure
	// clears payment_method, so that the donor can still authenticate it on the sandbox page.
	authMethod *paymentMethod
}

// cardOptions is every intent's payment_method_options, and intentAmountDetails its
// amount_details: maps that all intents share and none changes (at an event's millions of
// intents, a copy each would be a good part of the sandbox's memory).
var (
	cardOptions = map[string]any{"card": map[string]any{
		"installments":           nil,
		"mandate_options":        nil,
		"network":                nil,
		"request_three_d_secure": "automatic",
	}}
	intentAmountDetails = map[string]any{"tip": map[string]any{}}
)

type chargeOutcome struct {
	NetworkStatus string  `json:"network_status"`
	Reason        *string `json:"reason"`
	RiskLevel     string  `json:"risk_level"`
	RiskScore     int64   `json:"risk_score"`
	SellerMessage string  `json:"seller_message"`
	Type          string  `json:"type"`
}

type chargeCard struct {
	Brand       string `json:"brand"`
	Country     string `json:"country"`
	ExpMonth    int64  `json:"exp_month"`
	ExpYear     int64  `json:"exp_year"`
	Fingerprint string `json:"fingerprint"`
	Funding     string `json:"funding"`
	Last4       string `json:"last4"`
	Network     string `json:"network"`
}

type chargeMethodDetails struct {
	Card chargeCard `json:"card"`
	Type string     `json:"type"`
}

type charge struct {
	ID                   string              `json:"id"`
	Object               string              `json:"object"`
	Amount               int64               `json:"amount"`
	AmountCaptured       int64               `json:"amount_captured"`
	AmountRefunded       int64               `json:"amount_refunded"`
	BalanceTransaction   *string             `json:"balance_transaction"`
	BillingDetails       billingDetails      `json:"billing_details"`
	Captured             bool                `json:"captured"`
	Created              int64               `json:"created"`
	Currency             string              `json:"currency"`
	Customer             *string             `json:"customer"`
	Description          *string             `json:"description"`
	Disputed             bool                `json:"disputed"`
	FailureCode          *string             `json:"failure_code"`
	FailureMessage       *string             `json:"failure_message"`
	Livemode             bool                `json:"livemode"`
	Metadata             map[string]string   `json:"metadata"`
	Outcome              chargeOutcome       `json:"outcome"`
	Paid                 bool                `json:"paid"`
	PaymentIntent        *string             `json:"payment_intent"`
	PaymentMethod        *string             `json:"payment_method"`
	PaymentMethodDetails chargeMethodDetails `json:"payment_method_details"`
	Refunded             bool                `json:"refunded"`
	Status               string              `json:"status"`

	// inLedger is 1 + the charge's index in the ledger (0: a failed charge, not in it), so
	// that a refund or a dispute finds its ledger line without reading the ledger.
	inLedger int
}

// list is Stripe's list object.
type list struct {
	Object  string            `json:"object"`
	Data    []json.RawMessage `json:"data"`
	HasMore bool              `json:"has_more"`
	URL     string            `json:"url"`
}

func ptr[T any](v T) *T { return &v }

// optional returns nil for the empty string, as Stripe writes null for an unset text field.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// TestPaymentMethod is one of the test payment methods the sandbox knows, for a page that
// offers them by name.
type TestPaymentMethod struct {
	ID    string
	Label string
}

// TestPaymentMethods lists the sandbox's test payment methods, those that succeed first.
func TestPaymentMethods() []TestPaymentMethod {
	order := []struct{ id, label string }{
		{"pm_card_visa", "Visa ending 4242: succeeds"},
		{"pm_card_mastercard", "Mastercard ending 4444: succeeds"},
		{"pm_card_amex", "American Express ending 8431: succeeds"},
		{"pm_card_authenticationRequired", "Visa ending 3184: asks for 3-D Secure"},
		{"pm_card_chargeDeclined", "Visa ending 0002: declined"},
		{"pm_card_chargeDeclinedInsufficientFunds", "Visa ending 9995: declined (insufficient funds)"},
		{"pm_card_chargeDeclinedProcessingError", "Visa ending 0119: processing error"},
		{"pm_card_createDispute", "Visa ending 0259: succeeds, then disputed"},
	}
	out := make([]TestPaymentMethod, 0, len(order))
	for _, o := range order {
		if testCards[o.id] != nil {
			out = append(out, TestPaymentMethod{ID: o.id, Label: o.label})
		}
	}
	return out
}
