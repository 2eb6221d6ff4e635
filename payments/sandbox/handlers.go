package sandbox

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Every handler runs with s.mu held. It checks all parameters before it changes anything, so
// that a refused request (which saves nothing for its idempotency key) leaves no trace.

// ---- customers ----

func validEmail(e string) bool {
	at := strings.IndexByte(e, '@')
	return at > 0 && at < len(e)-1 && !strings.ContainsAny(e, " \t\r\n")
}

func (c *call) createCustomer() (any, *stripeError) {
	p := c.params
	email := p.str("email")
	if email != "" && !validEmail(email) {
		e := invalid("email", "Invalid email address: %s", email)
		e.Code = "email_invalid"
		return nil, e
	}
	md, clear, err := p.metadata()
	if err != nil {
		return nil, err
	}
	var pm *paymentMethod
	pmID := p.str("payment_method")
	if pmID != "" && testCards[pmID] == nil {
		if pm, err = c.methodParam(pmID, "payment_method"); err != nil {
			return nil, err
		}
		if pm.detached {
			return nil, errDetached()
		}
		if pm.Customer != nil {
			return nil, invalid("payment_method", "The payment method you provided has already been attached to a customer.")
		}
	}
	def := p.str("invoice_settings[default_payment_method]")
	if def != "" && def != pmID {
		return nil, invalid("invoice_settings[default_payment_method]",
			"The customer does not have a payment method with the ID %s. The payment method must be attached to the customer.", def)
	}
	if pmID != "" && pm == nil {
		pm, _ = c.methodParam(pmID, "payment_method")
	}
	cus := &customer{
		ID:                  newID("cus_", 14),
		Object:              "customer",
		Created:             c.now,
		Description:         optional(p.str("description")),
		Email:               optional(email),
		InvoicePrefix:       strings.ToUpper(newID("", 8)),
		Metadata:            applyMetadata(nil, md, clear),
		Name:                optional(p.str("name")),
		NextInvoiceSequence: 1,
		Phone:               optional(p.str("phone")),
		PreferredLocales:    p.list("preferred_locales"),
		TaxExempt:           "none",
	}
	c.s.customers[cus.ID] = cus
	if pm != nil {
		pm.Customer = &cus.ID
		if def != "" {
			cus.InvoiceSettings.DefaultPaymentMethod = &pm.ID
		}
	}
	return cus, nil
}

func (c *call) customerPath() (*customer, *stripeError) {
	cus := c.s.customers[c.id]
	if cus == nil {
		return nil, errNoSuch(http.StatusNotFound, "customer", c.id, "id")
	}
	return cus, nil
}

// customerParam finds the customer a parameter names.
func (c *call) customerParam(param string) (*customer, *stripeError) {
	id := c.params.str(param)
	if id == "" {
		return nil, nil
	}
	cus := c.s.customers[id]
	if cus == nil {
		return nil, errNoSuch(http.StatusBadRequest, "customer", id, param)
	}
	return cus, nil
}

func (c *call) getCustomer() (any, *stripeError) {
	return c.customerPath()
}

func (c *call) updateCustomer() (any, *stripeError) {
	cus, err := c.customerPath()
	if err != nil {
		return nil, err
	}
	p := c.params
	if p.has("email") && p.str("email") != "" && !validEmail(p.str("email")) {
		e := invalid("email", "Invalid email address: %s", p.str("email"))
		e.Code = "email_invalid"
		return nil, e
	}
	md, clear, err := p.metadata()
	if err != nil {
		return nil, err
	}
	const defKey = "invoice_settings[default_payment_method]"
	if def := p.str(defKey); def != "" {
		pm := c.s.methods[def]
		if pm == nil || pm.Customer == nil || *pm.Customer != cus.ID {
			return nil, invalid(defKey,
				"The customer does not have a payment method with the ID %s. The payment method must be attached to the customer.", def)
		}
	}
	for _, f := range []struct {
		name string
		dst  **string
	}{{"email", &cus.Email}, {"name", &cus.Name}, {"description", &cus.Description}, {"phone", &cus.Phone}} {
		if p.has(f.name) {
			*f.dst = optional(p.str(f.name))
		}
	}
	if p.has(defKey) {
		cus.InvoiceSettings.DefaultPaymentMethod = optional(p.str(defKey))
	}
	if len(md) > 0 || clear {
		cus.Metadata = applyMetadata(cus.Metadata, md, clear)
	}
	return cus, nil
}

// ---- payment methods ----

// methodParam resolves a payment method id given as a parameter. A test name (pm_card_visa)
// creates a new method of that card, as Stripe's test mode does.
func (c *call) methodParam(id, param string) (*paymentMethod, *stripeError) {
	return c.method(id, http.StatusBadRequest, param)
}

// method resolves a payment method id (or test name); an unknown one is a status error
// about param.
func (c *call) method(id string, status int, param string) (*paymentMethod, *stripeError) {
	if tc := testCards[id]; tc != nil {
		pm := newPaymentMethod(tc, c.now)
		c.s.methods[pm.ID] = pm
		return pm, nil
	}
	pm := c.s.methods[id]
	if pm == nil {
		return nil, errNoSuch(status, "PaymentMethod", id, param)
	}
	return pm, nil
}

func (c *call) getMethod() (any, *stripeError) {
	pm, err := c.method(c.id, http.StatusNotFound, "payment_method")
	if err != nil {
		return nil, err
	}
	return pm, nil
}

func (c *call) attachMethod() (any, *stripeError) {
	if !c.params.has("customer") {
		return nil, errMissingParam("customer")
	}
	cus, err := c.customerParam("customer")
	if err != nil {
		return nil, err
	}
	if cus == nil {
		return nil, errMissingParam("customer")
	}
	if tc := testCards[c.id]; tc != nil {
		pm := newPaymentMethod(tc, c.now)
		pm.Customer = &cus.ID
		c.s.methods[pm.ID] = pm
		return pm, nil
	}
	pm := c.s.methods[c.id]
	switch {
	case pm == nil:
		return nil, errNoSuch(http.StatusNotFound, "PaymentMethod", c.id, "payment_method")
	case pm.detached:
		return nil, errDetached()
	case pm.Customer != nil && *pm.Customer == cus.ID:
		return pm, nil
	case pm.Customer != nil:
		return nil, invalid("payment_method", "The payment method you provided has already been attached to a customer.")
	}
	pm.Customer = &cus.ID
	return pm, nil
}

func errDetached() *stripeError {
	return invalid("payment_method", "The provided PaymentMethod was previously used with a PaymentIntent without "+
		"Customer attachment, shared with a connected account without Customer attachment, or was detached from a "+
		"Customer. It may not be used again. To use a PaymentMethod multiple times, you must attach it to a Customer first.")
}

func (c *call) detachMethod() (any, *stripeError) {
	pm := c.s.methods[c.id]
	if pm == nil {
		return nil, errNoSuch(http.StatusNotFound, "PaymentMethod", c.id, "payment_method")
	}
	if pm.Customer == nil {
		return nil, invalid("", "The payment method you provided is not attached to a customer so detachment is impossible.")
	}
	if cus := c.s.customers[*pm.Customer]; cus != nil {
		if d := cus.InvoiceSettings.DefaultPaymentMethod; d != nil && *d == pm.ID {
			cus.InvoiceSettings.DefaultPaymentMethod = nil
		}
	}
	pm.Customer = nil
	pm.detached = true
	return pm, nil
}

func (c *call) listMethods() (any, *stripeError) {
	cus, err := c.customerParam("customer")
	if err != nil {
		return nil, err
	}
	id := ""
	if cus != nil {
		id = cus.ID
	}
	return c.methodList(id, "/v1/payment_methods")
}

func (c *call) listCustomerMethods() (any, *stripeError) {
	cus, err := c.customerPath()
	if err != nil {
		return nil, err
	}
	return c.methodList(cus.ID, "/v1/customers/"+cus.ID+"/payment_methods")
}

func (c *call) methodList(customerID, path string) (any, *stripeError) {
	if t := c.params.str("type"); t != "" && t != "card" {
		return c.emptyList(path)
	}
	var items []*paymentMethod
	for _, pm := range c.s.methods {
		if pm.Customer != nil && (customerID == "" || *pm.Customer == customerID) {
			items = append(items, pm)
		}
	}
	// Newest first, as Stripe lists.
	slices.SortFunc(items, func(a, b *paymentMethod) int { return cmp.Compare(b.seq, a.seq) })
	return paginate(c, items, func(pm *paymentMethod) string { return pm.ID }, "PaymentMethod", path)
}

func (c *call) emptyList(path string) (any, *stripeError) {
	return &list{Object: "list", Data: []json.RawMessage{}, URL: path}, nil
}

// paginate cuts a newest-first list as limit, starting_after and ending_before ask.
func paginate[T any](c *call, items []T, id func(T) string, kind, path string) (any, *stripeError) {
	limit, present, err := c.params.integer("limit")
	if err != nil {
		return nil, err
	}
	if !present {
		limit = 10
	}
	if limit < 1 || limit > 100 {
		return nil, invalid("limit", "Invalid limit: must be between 1 and 100")
	}
	after, before := c.params.str("starting_after"), c.params.str("ending_before")
	if after != "" && before != "" {
		return nil, invalid("starting_after", "You may only specify one of these parameters: ending_before, starting_after.")
	}
	find := func(cursor, param string) (int, *stripeError) {
		for i, it := range items {
			if id(it) == cursor {
				return i, nil
			}
		}
		return 0, errNoSuch(http.StatusBadRequest, kind, cursor, param)
	}
	var lo, hi int
	var hasMore bool
	switch {
	case after != "":
		i, err := find(after, "starting_after")
		if err != nil {
			return nil, err
		}
		lo = i + 1
		hi = min(len(items), lo+int(limit))
		hasMore = hi < len(items)
	case before != "":
		i, err := find(before, "ending_before")
		if err != nil {
			return nil, err
		}
		hi = i
		lo = max(0, hi-int(limit))
		hasMore = lo > 0
	default:
		hi = min(len(items), int(limit))
		hasMore = hi < len(items)
	}
	out := &list{Object: "list", Data: make([]json.RawMessage, 0, hi-lo), HasMore: hasMore, URL: path}
	for _, it := range items[lo:hi] {
		b, err := json.Marshal(it)
		if err != nil {
			return nil, &stripeError{status: http.StatusInternalServerError, Type: typeAPI, Message: "sandbox: " + err.Error()}
		}
		out.Data = append(out.Data, b)
	}
	return out, nil
}

// ---- setup intents ----

func (c *call) paymentMethodTypes() ([]string, *stripeError) {
	types := c.params.list("payment_method_types")
	for _, t := range types {
		if t != "card" {
			return nil, invalid("payment_method_types", "The payment method type %q is not supported by the Stripe sandbox, which has cards only.", t)
		}
	}
	return []string{"card"}, nil
}

func (c *call) createSetupIntent() (any, *stripeError) {
	p := c.params
	cus, err := c.customerParam("customer")
	if err != nil {
		return nil, err
	}
	usage, err := p.enum("usage", "off_session", "on_session", "off_session")
	if err != nil {
		return nil, err
	}
	types, err := c.paymentMethodTypes()
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
	var pm *paymentMethod
	if id := p.str("payment_method"); id != "" {
		if pm, err = c.methodParam(id, "payment_method"); err != nil {
			return nil, err
		}
		if pm.detached || (pm.Customer != nil && cus != nil && *pm.Customer != cus.ID) {
			return nil, checkMethodOwner(pm, cus)
		}
	}
	if confirm && pm == nil {
		e := invalid("", "You cannot confirm this SetupIntent because it's missing a payment method. Update the SetupIntent with a payment method and then confirm it again.")
		e.Code = "setup_intent_unexpected_state"
		return nil, e
	}
	id := newID("seti_1", 23)
	si := &setupIntent{
		ID:                   id,
		Object:               "setup_intent",
		ClientSecret:         id + "_secret_" + newID("", 32),
		Created:              c.now,
		Description:          optional(p.str("description")),
		Metadata:             applyMetadata(nil, md, clear),
		PaymentMethodOptions: cardOptions(),
		PaymentMethodTypes:   types,
		Status:               "requires_payment_method",
		Usage:                usage,
	}
	if cus != nil {
		si.Customer = &cus.ID
	}
	if pm != nil {
		si.PaymentMethod = &pm.ID
		si.Status = "requires_confirmation"
	}
	if confirm {
		// A SetupIntent confirmed with a customer saves the card to that customer.
		if cus != nil && pm.Customer == nil {
			pm.Customer = &cus.ID
		}
		si.Status = "succeeded"
	}
	c.s.setups[si.ID] = si
	return si, nil
}

func (c *call) getSetupIntent() (any, *stripeError) {
	si := c.s.setups[c.id]
	if si == nil {
		return nil, errNoSuch(http.StatusNotFound, "setupintent", c.id, "intent")
	}
	return si, nil
}

// ---- payment intents ----

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
		AmountDetails:             map[string]any{"tip": map[string]any{}},
		CaptureMethod:             "automatic",
		ClientSecret:              id + "_secret_" + newID("", 25),
		ConfirmationMethod:        confirmationMethod,
		Created:                   c.now,
		Currency:                  currency,
		Description:               optional(p.str("description")),
		Metadata:                  applyMetadata(nil, md, clear),
		PaymentMethodOptions:      cardOptions(),
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
	c.s.ledger = append(c.s.ledger, Charge{ID: ch.ID, PaymentIntent: pi.ID, Customer: cusID, Currency: pi.Currency,
		Amount: pi.Amount, Metadata: cloneMap(pi.Metadata), Created: ch.Created})
	pi.Status = "succeeded"
	pi.AmountReceived = pi.Amount
	pi.LatestCharge = &ch.ID
	pi.LastPaymentError = nil
	pi.NextAction = nil
	pi.PaymentMethod = &pm.ID
	pi.authMethod = nil
	c.emit("payment_intent.succeeded", pi)
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
		Metadata:      cloneMap(pi.Metadata),
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

// ---- charges ----

func (c *call) getCharge() (any, *stripeError) {
	ch := c.s.charges[c.id]
	if ch == nil {
		return nil, errNoSuch(http.StatusNotFound, "charge", c.id, "id")
	}
	return ch, nil
}
