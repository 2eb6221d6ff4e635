package sandbox

import (
	"cmp"
	"net/http"
	"slices"
	"strings"
)

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
		seq:                 creationSeq.Add(1),
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

// listCustomers lists customers newest first, those with the given e-mail address only when
// one is asked for (Stripe matches it exactly, case included). Unlike search, a list sees a
// customer as soon as it is created.
func (c *call) listCustomers() (any, *stripeError) {
	email := c.params.str("email")
	items := make([]*customer, 0)
	for _, cus := range c.s.customers {
		if email == "" || (cus.Email != nil && *cus.Email == email) {
			items = append(items, cus)
		}
	}
	slices.SortFunc(items, func(a, b *customer) int { return cmp.Compare(b.seq, a.seq) })
	return paginate(c, items, func(cus *customer) string { return cus.ID }, "customer", "/v1/customers")
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
