package settlement

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/metrics"
	"github.com/giveathon/giveathon/payments"
)

// HandlePaymentIntentEvent applies a provider event about a PaymentIntent, once per event id:
// the event is recorded in the same statement as the move it causes. An event moves a
// donation only if it is the donation's own PaymentIntent: the id the donation recorded (once
// it has one), the donation's amount and currency, and the donor's customer. An event that
// fails the check is recorded and changes nothing: a signed event about another payment must
// not settle this one. An event whose PaymentIntent decides nothing (payment_intent.created,
// .processing, a failure the charge worker retries) can change nothing: it touches nothing;
// nor does one about a donation settled already, but for the read that tells.
func (s *Service) HandlePaymentIntentEvent(ctx context.Context, eventID, eventType string, pi *payments.PaymentIntent) error {
	o := OutcomeOf(pi)
	if !o.Decided {
		return nil
	}
	ev := giveathon.ProviderEvent{ID: eventID, Type: eventType}
	cc, err := s.findEventDonation(ctx, pi)
	if err != nil {
		return fmt.Errorf("handle %s %s: %w", eventType, eventID, err)
	}
	switch {
	case cc == nil:
		// Something else on the same provider account.
		s.Logger.InfoContext(ctx, "webhook for a PaymentIntent that is not a donation", "event", eventID, "payment_intent", pi.ID)
		o = Outcome{}
	case secondCharge(cc, pi):
		// Ours in every way but its id: the donor has paid twice for one gift. Nothing here
		// moves (the donation's own PaymentIntent decides it), but someone must refund it.
		metrics.SecondCharges.Inc()
		s.Logger.ErrorContext(ctx, "a second PaymentIntent succeeded for a donation: the donor was charged twice; refund it", "event", eventID,
			"donation", cc.Donation.ID, "payment_intent", pi.ID, "donation_payment_intent", cc.Donation.PaymentIntentID, "amount_cents", pi.AmountCents)
		o = Outcome{}
	case mismatch(cc, pi) != "":
		s.Logger.WarnContext(ctx, "webhook refused: its PaymentIntent is not the donation's", "event", eventID, "type", eventType,
			"donation", cc.Donation.ID, "payment_intent", pi.ID, "mismatch", mismatch(cc, pi))
		o = Outcome{}
	case pi.Status == payments.PIStatusCanceled:
		// Giveathon cancels a PaymentIntent only on its way to failing the donation with the
		// real reason (the charge worker's last attempt, the 3-D Secure timeout): that move,
		// not this echo of it, settles the donation.
		o = Outcome{}
	case cc.Donation.Status.Final() && !slices.Contains(o.Status.MovesInto(), cc.Donation.Status):
		// Settled already (usually by the charge worker, from the same answer): a final
		// status moves no further but to REFUNDED. The donation's own event changed nothing:
		// nothing is written (an event is recorded when it moves something, or is refused).
		return nil
	case cc.Donation.PaymentIntentID == "" && cc.OpenAttempt && cc.OpenAttemptAge < s.Config.AttemptTimeout:
		// A charge attempt is still running (the provider's events usually come before its
		// answer does): that answer, read over our own authenticated call, records the
		// PaymentIntent and settles the donation. Were the answer lost, the attempt's retry
		// finds the PaymentIntent at the provider, and so does the reconciler; a delivery of
		// this event after the attempt's time is checked with the provider below. Asking the
		// provider now would make a second call for every charge, and writing nothing here
		// spares the donation a second move.
		return nil
	case cc.Donation.PaymentIntentID == "":
		// The donation has not recorded its PaymentIntent yet (the charge's answer is late or
		// lost), so nothing here vouches for this one: ask the provider for it, and let only
		// the donation's own PaymentIntent, as the provider has it, decide.
		real, err := s.providerPaymentIntent(ctx, cc, pi.ID)
		if err != nil {
			return fmt.Errorf("handle %s %s: %w", eventType, eventID, err)
		}
		if real == nil {
			s.Logger.WarnContext(ctx, "webhook refused: the provider does not know its PaymentIntent as the donation's", "event", eventID,
				"type", eventType, "donation", cc.Donation.ID, "payment_intent", pi.ID)
			o = Outcome{}
		} else {
			o = OutcomeOf(real)
		}
	}
	if !o.Decided {
		// A refused event, or its PaymentIntent's cancel echoed: recorded in a statement of
		// its own.
		if _, err := s.Store.RecordProviderEvent(ctx, ev); err != nil {
			return fmt.Errorf("handle %s %s: %w", eventType, eventID, err)
		}
		return nil
	}
	m := o.move(cc.Donation, pi.ID)
	m.Event = &ev
	_, moved, err := s.move(ctx, m)
	if err != nil {
		return fmt.Errorf("handle %s %s: %w", eventType, eventID, err)
	}
	if moved {
		s.Logger.InfoContext(ctx, "webhook settled a donation", "event", eventID, "type", eventType, "donation", cc.Donation.ID)
	}
	return nil
}

// findEventDonation finds the donation an event's PaymentIntent names: by the metadata the
// charge worker set (the donation and its donor, which names its partition), or by the
// PaymentIntent id; nil when it names none.
func (s *Service) findEventDonation(ctx context.Context, pi *payments.PaymentIntent) (*giveathon.ChargeContext, error) {
	userID, id := pi.Metadata["user_id"], pi.Metadata["donation_id"]
	if id == "" {
		d, err := s.Store.FindDonationByPaymentIntent(ctx, pi.ID)
		if giveathon.ErrorCode(err) == giveathon.ENOTFOUND {
			return nil, nil
		} else if err != nil {
			return nil, err
		}
		userID, id = d.UserID, d.ID
	}
	cc, err := s.Store.FindChargeContext(ctx, userID, id)
	if giveathon.ErrorCode(err) == giveathon.ENOTFOUND {
		return nil, nil
	}
	return cc, err
}

// providerPaymentIntent reads a PaymentIntent from the provider and returns it when it is the
// donation's own (its metadata names the donation; its amount, currency and customer are the
// donation's), or nil: what vouches for an event about a donation that has not recorded its
// PaymentIntent yet.
func (s *Service) providerPaymentIntent(ctx context.Context, cc *giveathon.ChargeContext, id string) (*payments.PaymentIntent, error) {
	real, err := s.Gateway.RetrievePaymentIntent(ctx, id)
	if payments.IsNotFound(err) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("read %s from the provider: %w", id, err)
	}
	if real.Metadata["donation_id"] != cc.Donation.ID || mismatch(cc, real) != "" {
		return nil, nil
	}
	return real, nil
}

// secondCharge reports whether a succeeded PaymentIntent is the donation's in all but its id
// (the metadata names the donation; the amount, currency and customer are its), while the
// donation records another one: a second charge for one gift.
func secondCharge(cc *giveathon.ChargeContext, pi *payments.PaymentIntent) bool {
	if pi.Status != payments.PIStatusSucceeded || cc.Donation.PaymentIntentID == "" || pi.ID == cc.Donation.PaymentIntentID ||
		pi.Metadata["donation_id"] != cc.Donation.ID {
		return false
	}
	same := *cc
	d := *cc.Donation
	d.PaymentIntentID = pi.ID
	same.Donation = &d
	return mismatch(&same, pi) == ""
}

// mismatch says how a PaymentIntent differs from the donation's own, or "" when it does not.
func mismatch(cc *giveathon.ChargeContext, pi *payments.PaymentIntent) string {
	d := cc.Donation
	switch {
	case d.PaymentIntentID != "" && pi.ID != d.PaymentIntentID:
		return "payment intent id"
	case pi.AmountCents != d.AmountCents:
		return "amount"
	case !strings.EqualFold(pi.Currency, d.Currency):
		return "currency"
	case pi.CustomerID != cc.ProviderCustomerID:
		return "customer"
	}
	return ""
}

// Refresh reads a donation's PaymentIntent from the provider and applies what it says: after
// the donor completes 3-D Secure, say, without waiting for the webhook.
func (s *Service) Refresh(ctx context.Context, d *giveathon.Donation) (*giveathon.Donation, error) {
	if d.PaymentIntentID == "" || d.Status.Final() {
		return d, nil
	}
	pi, err := s.Gateway.RetrievePaymentIntent(ctx, d.PaymentIntentID)
	if err != nil {
		return nil, payments.ProviderError(err)
	}
	now, _, err := s.Apply(ctx, d, OutcomeOf(pi), pi.ID)
	return now, err
}
