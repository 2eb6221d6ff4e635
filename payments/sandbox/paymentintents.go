package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// minAmounts are Stripe's minimum charge amounts for common currencies, in minor units.
var minAmounts = map[string]int64{"usd": 50, "eur": 50, "gbp": 30, "cad": 50, "aud": 50, "jpy": 50, "chf": 50, "nzd": 50}

// maxAmount is Stripe's largest amount (99,999,999 in minor units).
const maxAmount = 99_999_999

func validCurrency(cur string) bool {
	if len(cur) != 3 {
		return false
	}
	for _, r := range cur {
		if r < 'a' || r > 'z' {
			return false
		}
	}
	return true
}

func (c *call) amountAndCurrency(required bool) (amount int64, currency string, err *stripeError) {
	p := c.params
	amount, present, err := p.integer("amount")
	if err != nil {
		return 0, "", err
	}
	if !present && required {
		return 0, "", errMissingParam("amount")
	}
	currency = strings.ToLower(p.str("currency"))
	if !p.has("currency") && required {
		return 0, "", errMissingParam("currency")
	}
	if p.has("currency") && !validCurrency(currency) {
		return 0, "", invalid("currency", "Invalid currency: %s.", p.str("currency"))
	}
	if present {
		if m := max(minAmounts[currency], 1); amount < m {
			e := invalid("amount", "Amount must be at least %d %s (in the currency's smallest unit).", m, currency)
			e.Code = "amount_too_small"
			return 0, "", e
		}
		if amount > maxAmount {
			e := invalid("amount", "Amount must be no more than %d (in the currency's smallest unit).", maxAmount)
			e.Code = "amount_too_large"
			return 0, "", e
		}
	}
	return amount, currency, nil
}

// checkMethodOwner refuses a payment method that Stripe would refuse for this customer.
func checkMethodOwner(pm *paymentMethod, cus *customer) *stripeError {
	switch {
	case pm.detached:
		return errDetached()
	case pm.Customer != nil && cus == nil:
		return invalid("payment_method", "The PaymentMethod %s belongs to the Customer %s. Please include the Customer in the `customer` parameter on the PaymentIntent.", pm.ID, *pm.Customer)
	case pm.Customer != nil && *pm.Customer != cus.ID:
		return invalid("payment_method", "The PaymentMethod %s does not belong to the Customer %s. Please use a PaymentMethod attached to this Customer.", pm.ID, cus.ID)
	}
	return nil
}

// confirmOptions are the parameters of a confirmation, shared by create and confirm.
type confirmOptions struct {
	offSession    bool
	failOnAction  bool
	returnURL     string
	hasOffSession bool
}

func (c *call) confirmOptions() (confirmOptions, *stripeError) {
	p := c.params
	var o confirmOptions
	switch v := p.str("off_session"); v {
	case "", "false":
		o.hasOffSession = v != ""
	case "true", "one_off", "recurring":
		o.offSession, o.hasOffSession = true, true
	default:
		return o, invalid("off_session", "Invalid off_session: must be one of true, false, one_off, recurring")
	}
	var err *stripeError
	if o.failOnAction, _, err = p.boolean("error_on_requires_action"); err != nil {
		return o, err
	}
	o.returnURL = p.str("return_url")
	if o.returnURL != "" {
		if u, perr := url.Parse(o.returnURL); perr != nil || u.Scheme == "" || u.Host == "" {
			return o, invalid("return_url", "Not a valid URL")
		}
	}
	return o, nil
}

func (c *call) createIntent() (any, *stripeError) {
	p := c.params
	amount, currency, err := c.amountAndCurrency(true)
	if err != nil {
		return nil, err
	}
	cus, err := c.customerParam("customer")
	if err != nil {
		return nil, err
	}
	md, clear, err := p.metadata()
	if err != nil {
		return nil, err
	}
	confirm, _, err := p.boolean("confirm")
	if err != nil {
		return nil, err
	}
	opts, err := c.confirmOptions()
	if err != nil {
		return nil, err
	}
	if !confirm {
		for _, name := range []string{"off_session", "error_on_requires_action", "return_url"} {
			if p.has(name) {
				return nil, invalid(name, "You may only specify %s when confirm is true.", name)
			}
		}
	}
	switch p.str("capture_method") {
	case "", "automatic", "automatic_async":
	case "manual":
		return nil, invalid("capture_method", "The Stripe sandbox does not support capture_method=manual (there is no capture endpoint); use automatic.")
	default:
		return nil, invalid("capture_method", "Invalid capture_method: must be one of automatic, automatic_async, manual")
	}
	confirmationMethod, err := p.enum("confirmation_method", "automatic", "automatic", "manual")
	if err != nil {
		return nil, err
	}
	types, err := c.paymentMethodTypes()
	if err != nil {
		return nil, err
	}
	for _, f := range []string{"statement_descriptor", "statement_descriptor_suffix"} {
		if len(p.str(f)) > 22 {
			return nil, invalid(f, "The %s may be at most 22 characters long.", f)
		}
	}
	if len(p.str("description")) > 1000 {
		return nil, invalid("description", "The description may be at most 1000 characters long.")
	}
	var pm *paymentMethod
	if id := p.str("payment_method"); id != "" {
		// A test name is checked here but only turned into a method once nothing can fail.
		if testCards[id] == nil {
			if pm, err = c.methodParam(id, "payment_method"); err != nil {
				return nil, err
			}
			if err := checkMethodOwner(pm, cus); err != nil {
				return nil, err
			}
		}
	}
	if confirm && p.str("payment_method") == "" {
		return nil, errUnexpectedState("You cannot confirm this PaymentIntent because it's missing a payment method. " +
			"To confirm the PaymentIntent, specify a payment method (attached to its customer, if it has one).")
	}
	if id := p.str("payment_method"); testCards[id] != nil {
		pm, _ = c.methodParam(id, "payment_method")
	}

	id := newID("pi_3", 23)
	pi := &paymentIntent{
		ID:                        id,
		Object:                    "payment_intent",
		Amount:                    amount,
		AmountDetails:             intentAmountDetails,
		CaptureMethod:             "automatic",
		ClientSecret:              id + "_secret_" + newID("", 25),
		ConfirmationMethod:        confirmationMethod,
		Created:                   c.now,
		Currency:                  currency,
		Description:               optional(p.str("description")),
		Metadata:                  applyMetadata(nil, md, clear),
		PaymentMethodOptions:      cardOptions,
		PaymentMethodTypes:        types,
		ReceiptEmail:              optional(p.str("receipt_email")),
		SetupFutureUsage:          optional(p.str("setup_future_usage")),
		StatementDescriptor:       optional(p.str("statement_descriptor")),
		StatementDescriptorSuffix: optional(p.str("statement_descriptor_suffix")),
		Status:                    "requires_payment_method",
		TransferGroup:             optional(p.str("transfer_group")),
	}
	if cm := p.str("capture_method"); cm != "" {
		pi.CaptureMethod = cm
	}
	if p.str("automatic_payment_methods[enabled]") == "true" {
		pi.AutomaticPaymentMethods = map[string]any{"allow_redirects": "always", "enabled": true}
	}
	if cus != nil {
		pi.Customer = &cus.ID
	}
	if pm != nil {
		pi.PaymentMethod = &pm.ID
		pi.Status = "requires_confirmation"
	}
	c.s.intents[pi.ID] = pi
	c.s.intentList = append(c.s.intentList, pi)
	c.emit("payment_intent.created", pi)
	if confirm {
		if err := c.confirm(pi, pm, opts); err != nil {
			return nil, err
		}
	}
	return pi, nil
}

func (c *call) intentPath() (*paymentIntent, *stripeError) {
	pi := c.s.intents[c.id]
	if pi == nil {
		return nil, errNoSuch(http.StatusNotFound, "payment_intent", c.id, "intent")
	}
	return pi, nil
}

func (c *call) getIntent() (any, *stripeError) {
	return c.intentPath()
}

func (c *call) listIntents() (any, *stripeError) {
	cusID := c.params.str("customer")
	var created struct {
		gt, gte, lt, lte *int64
	}
	for _, f := range []struct {
		key string
		dst **int64
	}{
		{"created", &created.gte}, {"created[gt]", &created.gt}, {"created[gte]", &created.gte},
		{"created[lt]", &created.lt}, {"created[lte]", &created.lte},
	} {
		v, present, err := c.params.integer(f.key)
		if err != nil {
			return nil, err
		}
		if present {
			*f.dst = ptr(v)
			if f.key == "created" {
				created.lte = ptr(v)
			}
		}
	}
	items := make([]*paymentIntent, 0)
	for i := len(c.s.intentList) - 1; i >= 0; i-- {
		pi := c.s.intentList[i]
		switch {
		case cusID != "" && (pi.Customer == nil || *pi.Customer != cusID),
			created.gt != nil && pi.Created <= *created.gt,
			created.gte != nil && pi.Created < *created.gte,
			created.lt != nil && pi.Created >= *created.lt,
			created.lte != nil && pi.Created > *created.lte:
			continue
		}
		items = append(items, pi)
	}
	return paginate(c, items, func(pi *paymentIntent) string { return pi.ID }, "payment_intent", "/v1/payment_intents")
}

// renderIntent encodes a PaymentIntent for an error body, which carries it unexpanded.
func renderIntent(pi *paymentIntent) json.RawMessage {
	b, err := json.Marshal(pi)
	if err != nil {
		return nil
	}
	return b
}

func intentStateError(pi *paymentIntent, message string) *stripeError {
	e := errUnexpectedState(message)
	e.PaymentIntent = renderIntent(pi)
	return e
}

func (c *call) updateIntent() (any, *stripeError) {
	pi, err := c.intentPath()
	if err != nil {
		return nil, err
	}
	p := c.params
	md, clear, err := p.metadata()
	if err != nil {
		return nil, err
	}
	amount, currency, err := c.amountAndCurrency(false)
	if err != nil {
		return nil, err
	}
	cus, err := c.customerParam("customer")
	if err != nil {
		return nil, err
	}
	if cus == nil && pi.Customer != nil {
		cus = c.s.customers[*pi.Customer]
	}
	changesPayment := p.has("amount") || p.has("currency") || p.has("payment_method") || p.has("customer")
	if changesPayment {
		switch pi.Status {
		case "requires_payment_method", "requires_confirmation", "requires_action":
		default:
			return nil, intentStateError(pi, fmt.Sprintf("This PaymentIntent's amount, currency, customer or payment_method could not be updated because it has a status of %s.", pi.Status))
		}
	}
	var pm *paymentMethod
	if id := p.str("payment_method"); id != "" {
		if testCards[id] == nil {
			if pm, err = c.methodParam(id, "payment_method"); err != nil {
				return nil, err
			}
			if err := checkMethodOwner(pm, cus); err != nil {
				return nil, err
			}
		} else {
			pm, _ = c.methodParam(id, "payment_method")
		}
	}
	if p.has("amount") {
		pi.Amount = amount
	}
	if p.has("currency") {
		pi.Currency = currency
	}
	if cus != nil {
		pi.Customer = &cus.ID
	}
	if pm != nil {
		pi.PaymentMethod = &pm.ID
		pi.NextAction = nil
		pi.Status = "requires_confirmation"
	}
	for _, f := range []struct {
		name string
		dst  **string
	}{{"description", &pi.Description}, {"receipt_email", &pi.ReceiptEmail},
		{"statement_descriptor", &pi.StatementDescriptor}, {"statement_descriptor_suffix", &pi.StatementDescriptorSuffix},
		{"transfer_group", &pi.TransferGroup}, {"setup_future_usage", &pi.SetupFutureUsage}} {
		if p.has(f.name) {
			*f.dst = optional(p.str(f.name))
		}
	}
	if len(md) > 0 || clear {
		pi.Metadata = applyMetadata(pi.Metadata, md, clear)
	}
	return pi, nil
}

func (c *call) confirmIntent() (any, *stripeError) {
	pi, err := c.intentPath()
	if err != nil {
		return nil, err
	}
	opts, err := c.confirmOptions()
	if err != nil {
		return nil, err
	}
	switch pi.Status {
	case "requires_payment_method", "requires_confirmation", "requires_action":
	case "succeeded":
		return nil, intentStateError(pi, "You cannot confirm this PaymentIntent because it has already succeeded after being previously confirmed.")
	default:
		return nil, intentStateError(pi, "You cannot confirm this PaymentIntent because it has a status of "+pi.Status+
			". Only a PaymentIntent with one of the following statuses may be confirmed: requires_confirmation, requires_action, requires_payment_method.")
	}
	var cus *customer
	if pi.Customer != nil {
		cus = c.s.customers[*pi.Customer]
	}
	var pm *paymentMethod
	if id := c.params.str("payment_method"); id != "" {
		if testCards[id] == nil {
			if pm, err = c.methodParam(id, "payment_method"); err != nil {
				return nil, err
			}
			if err := checkMethodOwner(pm, cus); err != nil {
				return nil, err
			}
		} else {
			pm, _ = c.methodParam(id, "payment_method")
		}
	} else if pi.PaymentMethod != nil {
		pm = c.s.methods[*pi.PaymentMethod]
	}
	if pm == nil {
		return nil, intentStateError(pi, "You cannot confirm this PaymentIntent because it's missing a payment method. "+
			"To confirm the PaymentIntent, specify a payment method (attached to its customer, if it has one).")
	}
	if err := c.confirm(pi, pm, opts); err != nil {
		return nil, err
	}
	return pi, nil
}

// confirm attempts the payment with pm; the card decides the outcome. A failed attempt
// answers 402 with the PaymentIntent in the error, as Stripe does.
func (c *call) confirm(pi *paymentIntent, pm *paymentMethod, o confirmOptions) *stripeError {
	pi.PaymentMethod = &pm.ID
	pi.NextAction = nil
	// Only the latest attempt's card may be authenticated on the sandbox page.
	pi.authMethod = nil
	switch pm.test.outcome {
	case outcomeSucceed:
		c.succeed(pi, pm)
		return nil
	case outcomeDecline:
		ch := c.failedCharge(pi, pm, "card_declined", "Your card was declined.", pm.test.declineCode)
		return c.fail(pi, pm, &paymentError{Type: typeCard, Code: "card_declined", DeclineCode: pm.test.declineCode,
			Message: "Your card was declined.", Charge: ch.ID})
	case outcomeProcessingError:
		const msg = "An error occurred while processing your card. Try again in a little bit."
		ch := c.failedCharge(pi, pm, "processing_error", msg, "")
		return c.fail(pi, pm, &paymentError{Type: typeCard, Code: "processing_error", Message: msg, Charge: ch.ID})
	}
	// The card needs 3-D Secure. Off session nobody can answer the challenge, so Stripe fails
	// the attempt; on session it waits for the customer.
	pi.authMethod = pm
	if o.offSession || o.failOnAction {
		return c.fail(pi, pm, &paymentError{Type: typeCard, Code: "authentication_required", DeclineCode: "authentication_required",
			Message: "Your card was declined. This transaction requires authentication."})
	}
	pi.Status = "requires_action"
	page := c.base + "/_sandbox/authenticate/" + pi.ID + "?client_secret=" + url.QueryEscape(pi.ClientSecret)
	if o.returnURL != "" {
		page += "&return_url=" + url.QueryEscape(o.returnURL)
		pi.NextAction = &nextAction{Type: "redirect_to_url", RedirectToURL: map[string]any{"url": page, "return_url": o.returnURL}}
	} else {
		pi.NextAction = &nextAction{Type: "use_stripe_sdk", UseStripeSDK: map[string]any{
			"type":      "three_d_secure_redirect",
			"stripe_js": page,
			"source":    newID("src_1", 23),
		}}
	}
	c.emit("payment_intent.requires_action", pi)
	return nil
}

// succeed records a successful charge: the only place money moves, and only once per intent.
func (c *call) succeed(pi *paymentIntent, pm *paymentMethod) {
	if pi.Status == "succeeded" {
		return
	}
	ch := c.newCharge(pi, pm)
	ch.Status, ch.Paid, ch.Captured, ch.AmountCaptured = "succeeded", true, true, pi.Amount
	ch.BalanceTransaction = ptr(newID("txn_3", 23))
	ch.Outcome = chargeOutcome{NetworkStatus: "approved_by_network", RiskLevel: "normal", RiskScore: 20,
		SellerMessage: "Payment complete.", Type: "authorized"}
	c.s.charges[ch.ID] = ch
	cusID := ""
	if pi.Customer != nil {
		cusID = *pi.Customer
	}
	ch.inLedger = len(c.s.ledger) + 1
	c.s.ledger = append(c.s.ledger, Charge{ID: ch.ID, PaymentIntent: pi.ID, Customer: cusID, Currency: pi.Currency,
		Amount: pi.Amount, Metadata: pi.Metadata, Created: ch.Created})
	pi.Status = "succeeded"
	pi.AmountReceived = pi.Amount
	pi.LatestCharge = &ch.ID
	pi.LastPaymentError = nil
	pi.NextAction = nil
	pi.PaymentMethod = &pm.ID
	pi.authMethod = nil
	c.emit("payment_intent.succeeded", pi)
	if pm.test != nil && pm.test.dispute {
		c.openDispute(ch)
	}
}

func (c *call) newCharge(pi *paymentIntent, pm *paymentMethod) *charge {
	return &charge{
		ID:            newID("ch_3", 23),
		Object:        "charge",
		Amount:        pi.Amount,
		Created:       c.now,
		Currency:      pi.Currency,
		Customer:      pi.Customer,
		Description:   pi.Description,
		Metadata:      pi.Metadata, // never changed in place (applyMetadata)
		PaymentIntent: &pi.ID,
		PaymentMethod: &pm.ID,
		PaymentMethodDetails: chargeMethodDetails{Type: "card", Card: chargeCard{
			Brand: pm.Card.Brand, Country: pm.Card.Country, ExpMonth: pm.Card.ExpMonth, ExpYear: pm.Card.ExpYear,
			Fingerprint: pm.Card.Fingerprint, Funding: pm.Card.Funding, Last4: pm.Card.Last4, Network: pm.Card.Brand,
		}},
	}
}

// failedCharge records a declined charge, as Stripe keeps one for every attempt the card
// network saw; it is not in the ledger.
func (c *call) failedCharge(pi *paymentIntent, pm *paymentMethod, code, message, reason string) *charge {
	ch := c.newCharge(pi, pm)
	ch.Status = "failed"
	ch.FailureCode = &code
	ch.FailureMessage = &message
	ch.Outcome = chargeOutcome{NetworkStatus: "declined_by_network", Reason: optional(reason), RiskLevel: "normal",
		RiskScore: 20, SellerMessage: "The bank did not return any further details with this decline.", Type: "issuer_declined"}
	c.s.charges[ch.ID] = ch
	return ch
}

// fail ends a payment attempt: the intent goes back to requires_payment_method with the
// method cleared (it is kept in last_payment_error), as Stripe does.
func (c *call) fail(pi *paymentIntent, pm *paymentMethod, pe *paymentError) *stripeError {
	pe.PaymentMethod = pm.snapshot()
	pi.Status = "requires_payment_method"
	pi.PaymentMethod = nil
	pi.NextAction = nil
	pi.LastPaymentError = pe
	if pe.Charge != "" {
		pi.LatestCharge = ptr(pe.Charge)
	}
	c.emit("payment_intent.payment_failed", pi)
	return &stripeError{
		status: http.StatusPaymentRequired,
		// A retry under the same idempotency key would only replay this answer.
		shouldRetry:   "false",
		Type:          pe.Type,
		Code:          pe.Code,
		DeclineCode:   pe.DeclineCode,
		Message:       pe.Message,
		Charge:        pe.Charge,
		PaymentIntent: renderIntent(pi),
		PaymentMethod: pm.snapshot(),
	}
}

func (c *call) cancelIntent() (any, *stripeError) {
	pi, err := c.intentPath()
	if err != nil {
		return nil, err
	}
	reason := c.params.str("cancellation_reason")
	switch reason {
	case "", "duplicate", "fraudulent", "requested_by_customer", "abandoned":
	default:
		return nil, invalid("cancellation_reason", "Invalid cancellation_reason: must be one of duplicate, fraudulent, requested_by_customer, abandoned")
	}
	switch pi.Status {
	case "requires_payment_method", "requires_capture", "requires_confirmation", "requires_action", "processing":
	default:
		return nil, intentStateError(pi, "You cannot cancel this PaymentIntent because it has a status of "+pi.Status+
			". Only a PaymentIntent with one of the following statuses may be canceled: requires_payment_method, "+
			"requires_capture, requires_confirmation, requires_action, processing.")
	}
	pi.Status = "canceled"
	pi.CanceledAt = ptr(c.now)
	pi.CancellationReason = optional(reason)
	pi.NextAction = nil
	pi.authMethod = nil
	c.emit("payment_intent.canceled", pi)
	return pi, nil
}
