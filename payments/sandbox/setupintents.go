package sandbox

import (
	"net/http"
)

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
		PaymentMethodOptions: cardOptions,
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
