package sandbox

import (
	"fmt"
	"net/http"
	"time"
)

// refund is Stripe's Refund object, the fields the sandbox keeps.
type refund struct {
	ID                 string            `json:"id"`
	Object             string            `json:"object"`
	Amount             int64             `json:"amount"`
	BalanceTransaction *string           `json:"balance_transaction"`
	Charge             *string           `json:"charge"`
	Created            int64             `json:"created"`
	Currency           string            `json:"currency"`
	Metadata           map[string]string `json:"metadata"`
	PaymentIntent      *string           `json:"payment_intent"`
	Reason             *string           `json:"reason"`
	Status             string            `json:"status"`
}

// dispute is Stripe's Dispute object, the fields the sandbox keeps.
type dispute struct {
	ID                 string            `json:"id"`
	Object             string            `json:"object"`
	Amount             int64             `json:"amount"`
	Charge             string            `json:"charge"`
	Created            int64             `json:"created"`
	Currency           string            `json:"currency"`
	IsChargeRefundable bool              `json:"is_charge_refundable"`
	Livemode           bool              `json:"livemode"`
	Metadata           map[string]string `json:"metadata"`
	PaymentIntent      *string           `json:"payment_intent"`
	Reason             string            `json:"reason"`
	Status             string            `json:"status"`
}

// createRefund refunds a charge, named by itself or by its PaymentIntent: the whole of what is
// left of it unless amount says less. A charge refunded in full refuses another refund
// (charge_already_refunded), so two refunds can never take back more than was charged, and a
// disputed charge refuses any (charge_disputed), so a refund never adds to a chargeback.
func (c *call) createRefund() (any, *stripeError) {
	p := c.params
	var ch *charge
	switch {
	case p.str("charge") != "":
		if ch = c.s.charges[p.str("charge")]; ch == nil {
			return nil, errNoSuch(http.StatusBadRequest, "charge", p.str("charge"), "charge")
		}
	case p.str("payment_intent") != "":
		pi := c.s.intents[p.str("payment_intent")]
		if pi == nil {
			return nil, errNoSuch(http.StatusBadRequest, "payment_intent", p.str("payment_intent"), "payment_intent")
		}
		if pi.LatestCharge == nil || c.s.charges[*pi.LatestCharge] == nil || pi.Status != "succeeded" {
			return nil, invalid("payment_intent", "This PaymentIntent (%s) does not have a successful charge to refund.", pi.ID)
		}
		ch = c.s.charges[*pi.LatestCharge]
	default:
		return nil, invalid("", "One of the following params should be provided for this request: payment_intent or charge.")
	}
	left := ch.Amount - ch.AmountRefunded
	amount, present, err := p.integer("amount")
	if err != nil {
		return nil, err
	}
	if !present {
		amount = left
	}
	reason, err := p.enum("reason", "", "duplicate", "fraudulent", "requested_by_customer")
	if err != nil {
		return nil, err
	}
	md, _, err := p.metadata()
	if err != nil {
		return nil, err
	}
	switch {
	case ch.Disputed:
		// As Stripe: the card holder's bank takes the money back through the dispute.
		e := invalid("charge", "Charge %s has been charged back; it cannot be refunded.", ch.ID)
		e.Code = "charge_disputed"
		return nil, e
	case left <= 0:
		e := invalid("charge", "Charge %s has already been refunded.", ch.ID)
		e.Code = "charge_already_refunded"
		return nil, e
	case amount <= 0 || amount > left:
		return nil, invalid("amount", "Refund amount (%d) is greater than unrefunded amount on charge (%d).", amount, left)
	}
	re := &refund{ID: newID("re_3", 23), Object: "refund", Amount: amount, BalanceTransaction: ptr(newID("txn_3", 23)),
		Charge: &ch.ID, Created: c.now, Currency: ch.Currency, Metadata: md, PaymentIntent: ch.PaymentIntent, Status: "succeeded"}
	if reason != "" {
		re.Reason = &reason
	}
	if re.Metadata == nil {
		re.Metadata = map[string]string{}
	}
	c.s.refunds[re.ID] = re
	ch.AmountRefunded += amount
	ch.Refunded = ch.AmountRefunded == ch.Amount
	if l := c.s.ledgerLine(ch); l != nil {
		l.Refunds++
		l.AmountRefunded += amount
	}
	c.emit("charge.refunded", ch)
	c.emit("refund.created", re)
	return re, nil
}

// openDispute opens the dispute a test card asks for (pm_card_createDispute) right after its
// charge succeeds, as Stripe's test mode does.
func (c *call) openDispute(ch *charge) {
	d := &dispute{ID: newID("dp_1", 23), Object: "dispute", Amount: ch.Amount, Charge: ch.ID, Created: c.now,
		Currency: ch.Currency, Metadata: map[string]string{}, PaymentIntent: ch.PaymentIntent,
		Reason: "fraudulent", Status: "needs_response", IsChargeRefundable: false}
	ch.Disputed = true
	c.s.disputes[d.ID] = d
	if l := c.s.ledgerLine(ch); l != nil {
		l.Dispute = d.ID
	}
	c.emit("charge.dispute.created", d)
}

// CloseDispute settles a dispute as Stripe would after the evidence: won or lost (the money
// goes back to the card holder). It sends charge.dispute.closed.
func (s *Server) CloseDispute(id, status string) error {
	if status != "won" && status != "lost" {
		return fmt.Errorf("a dispute closes as won or lost, not %q", status)
	}
	s.mu.Lock()
	d := s.disputes[id]
	if d == nil {
		s.mu.Unlock()
		return fmt.Errorf("no such dispute: %s", id)
	}
	d.Status = status
	c := &call{s: s, now: time.Now().Unix()}
	c.emit("charge.dispute.closed", d)
	s.mu.Unlock()
	s.dispatch(c.events)
	return nil
}
