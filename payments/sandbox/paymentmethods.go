package sandbox

import (
	"cmp"
	"encoding/json"
	"net/http"
	"slices"
)

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
