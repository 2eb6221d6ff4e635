package settlement

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/payments"
)

// Refunder is what refunds need of the payment provider (payments.Gateway); a Gateway that
// cannot refund makes Refund answer ENOTIMPLEMENTED.
type Refunder interface {
	CreateRefund(ctx context.Context, paymentIntentID, reason, idempotencyKey string) (*payments.Refund, error)
}

// Refund refunds a succeeded donation in full through the provider, under an idempotency key
// derived from the donation, so that asking twice, or again after a crash, refunds once (and
// the provider refuses a second refund in full of one charge in any case); when
// the provider says the refund succeeded, the donation moves SUCCEEDED -> REFUNDED, which takes
// it out of the totals and queues the donor's refund e-mail in the same statement. A refund the
// provider is still processing settles when its charge.refunded event arrives. A donation
// refunded already is returned as it is.
func (s *Service) Refund(ctx context.Context, userID, donationID, reason string) (before, after *giveathon.Donation, err error) {
	d, err := s.Store.FindDonation(ctx, userID, donationID)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case d.Status == giveathon.StatusRefunded:
		return d, d, nil
	case !d.Status.CanMoveTo(giveathon.StatusRefunded) || d.PaymentIntentID == "":
		return nil, nil, giveathon.Errorf(giveathon.ECONFLICT, "only a succeeded donation can be refunded: this one is %s", d.Status)
	}
	refunder, ok := s.Gateway.(Refunder)
	if !ok {
		return nil, nil, giveathon.Errorf(giveathon.ENOTIMPLEMENTED, "the payment provider cannot refund")
	}
	if dp, err := s.Store.FindDispute(ctx, d.UserID, d.ID); err != nil {
		return nil, nil, err
	} else if dp != nil {
		return nil, nil, errDisputed(dp.Status)
	}
	reason = strings.TrimSpace(reason)
	re, err := refunder.CreateRefund(ctx, d.PaymentIntentID, reason, refundKey(d.ID, reason))
	if payments.IsRetryable(err) {
		// The provider saves a failure for its key and answers it again for a day: try once
		// more under a key of this call. A refund in full cannot be made twice (the second is
		// refused as charge_already_refunded), so a new key cannot refund twice.
		re, err = refunder.CreateRefund(ctx, d.PaymentIntentID, reason,
			requestKey(d.ID, "refund-", int(time.Now().UnixNano()%1e9)))
	}
	switch {
	case payments.IsDisputed(err):
		// Disputed before the dispute's event reached us.
		return nil, nil, errDisputed("")
	case payments.IsAlreadyRefunded(err):
		// Refunded before (in the provider's dashboard, by an earlier call whose answer was
		// lost): the donation follows.
	case payments.IsRetryable(err):
		return nil, nil, fmt.Errorf("%w: %w", giveathon.ErrRefundUnanswered, payments.ProviderError(err))
	case err != nil:
		return nil, nil, payments.ProviderError(err)
	case re.Status == payments.RefundPending:
		return d, d, nil
	case re.Status != payments.RefundSucceeded:
		return nil, nil, giveathon.Errorf(giveathon.ECONFLICT, "the payment provider did not refund this donation (%s)", re.Status)
	}
	// The refund's own event may have moved the donation first: the refund is still this
	// call's (before is SUCCEEDED), and its caller audits it.
	now, _, err := s.move(ctx, giveathon.Move{UserID: d.UserID, DonationID: d.ID, To: giveathon.StatusRefunded})
	return d, now, err
}

// refundKey is a refund's idempotency key: the donation's and its reason's, so that the same
// request asked again (a double click, a retry after a lost answer) is the same refund, and
// one asked again with another reason is a new request (which the provider refuses once the
// first has refunded the charge in full) rather than an idempotency error.
func refundKey(donationID, reason string) string {
	sum := sha256.Sum256([]byte(reason))
	return requestKeyPrefix(donationID, "refund-"+hex.EncodeToString(sum[:8]))
}

// errDisputed refuses a refund of a disputed donation: its card holder's bank takes the money
// back through the dispute, and a refund would give it back twice.
func errDisputed(status string) error {
	if status != "" {
		status = " (" + status + ")"
	}
	return giveathon.Errorf(giveathon.ECONFLICT, "this donation's charge is disputed%s: the card holder's bank takes the money back through the dispute, so it cannot also be refunded", status)
}

// HandleChargeEvent applies a provider event about a charge: a charge refunded in full (from
// the dashboard, or the answer of our own refund) moves its donation to REFUNDED, once per
// event, if the charge is the donation's own (its PaymentIntent, amount, currency, customer).
func (s *Service) HandleChargeEvent(ctx context.Context, eventID, eventType string, ch *payments.Charge) error {
	ev := giveathon.ProviderEvent{ID: eventID, Type: eventType}
	cc, err := s.findChargeDonation(ctx, ch.Metadata, ch.PaymentIntentID)
	if err != nil {
		return fmt.Errorf("handle %s %s: %w", eventType, eventID, err)
	}
	refunded := ch.Refunded && ch.AmountRefundedCents >= ch.AmountCents
	switch {
	case cc == nil || !refunded:
		refunded = false
	case cc.Donation.PaymentIntentID != ch.PaymentIntentID || ch.AmountCents != cc.Donation.AmountCents ||
		!strings.EqualFold(ch.Currency, cc.Donation.Currency) || ch.CustomerID != cc.ProviderCustomerID:
		s.Logger.WarnContext(ctx, "webhook refused: its charge is not the donation's", "event", eventID, "type", eventType,
			"donation", cc.Donation.ID, "charge", ch.ID)
		refunded = false
	}
	if !refunded {
		_, err := s.Store.RecordProviderEvent(ctx, ev)
		return err
	}
	_, _, err = s.move(ctx, giveathon.Move{UserID: cc.Donation.UserID, DonationID: cc.Donation.ID, To: giveathon.StatusRefunded, Event: &ev})
	if err != nil {
		return fmt.Errorf("handle %s %s: %w", eventType, eventID, err)
	}
	return nil
}

// HandleDisputeEvent records a card holder's dispute of a donation's charge, as the provider
// reports it (opened, updated, closed); a dispute lost takes the gift out of the totals as a
// refund does (SUCCEEDED -> REFUNDED, once per event).
func (s *Service) HandleDisputeEvent(ctx context.Context, eventID, eventType string, pd *payments.Dispute) error {
	ev := giveathon.ProviderEvent{ID: eventID, Type: eventType}
	cc, err := s.findChargeDonation(ctx, nil, pd.PaymentIntentID)
	if err != nil {
		return fmt.Errorf("handle %s %s: %w", eventType, eventID, err)
	}
	own := cc != nil && cc.Donation.PaymentIntentID == pd.PaymentIntentID
	if cc == nil && pd.PaymentIntentID != "" {
		// A dispute carries no metadata, and it can follow the charge before the donation has
		// recorded its PaymentIntent: the provider's PaymentIntent names its donation, and
		// vouches for it.
		pi, err := s.Gateway.RetrievePaymentIntent(ctx, pd.PaymentIntentID)
		if err != nil && !payments.IsNotFound(err) {
			return fmt.Errorf("handle %s %s: read %s from the provider: %w", eventType, eventID, pd.PaymentIntentID, err)
		}
		if pi != nil {
			if cc, err = s.findEventDonation(ctx, pi); err != nil {
				return fmt.Errorf("handle %s %s: %w", eventType, eventID, err)
			}
			own = cc != nil && pi.Metadata["donation_id"] == cc.Donation.ID && mismatch(cc, pi) == ""
		}
	}
	if !own {
		s.Logger.InfoContext(ctx, "webhook for a dispute that is not a donation's", "event", eventID, "dispute", pd.ID)
		_, err := s.Store.RecordProviderEvent(ctx, ev)
		return err
	}
	d := cc.Donation
	if err := s.Store.SaveDispute(ctx, giveathon.Dispute{ProviderDisputeID: pd.ID, UserID: d.UserID, DonationID: d.ID,
		Status: pd.Status, Reason: pd.Reason, AmountCents: pd.AmountCents}); err != nil {
		return fmt.Errorf("handle %s %s: %w", eventType, eventID, err)
	}
	if eventType == "charge.dispute.created" {
		s.Logger.WarnContext(ctx, "a donor disputed a donation", "donation", d.ID, "dispute", pd.ID, "reason", pd.Reason,
			"amount_cents", pd.AmountCents)
		if s.Alerts != nil {
			// Before the event is recorded: an alert that cannot go now fails the delivery, and
			// the provider's next one tries again (the same Message-ID, kept once).
			if err := s.Alerts.DisputeOpened(ctx, d, giveathon.Dispute{ProviderDisputeID: pd.ID, UserID: d.UserID,
				DonationID: d.ID, Status: pd.Status, Reason: pd.Reason, AmountCents: pd.AmountCents}); err != nil {
				return fmt.Errorf("handle %s %s: alert the admins: %w", eventType, eventID, err)
			}
		}
	}
	if pd.Status != payments.DisputeLost {
		_, err := s.Store.RecordProviderEvent(ctx, ev)
		return err
	}
	if _, _, err := s.move(ctx, giveathon.Move{UserID: d.UserID, DonationID: d.ID, To: giveathon.StatusRefunded, Event: &ev}); err != nil {
		return fmt.Errorf("handle %s %s: %w", eventType, eventID, err)
	}
	return nil
}

// Alerts tells the organisers what needs them (a card holder's dispute).
type Alerts interface {
	DisputeOpened(ctx context.Context, d *giveathon.Donation, dispute giveathon.Dispute) error
}

// findChargeDonation finds the donation of a charge or dispute: by the metadata the charge
// copied from its PaymentIntent (the donation and its donor), or by the PaymentIntent id; nil
// when it names none.
func (s *Service) findChargeDonation(ctx context.Context, metadata map[string]string, paymentIntentID string) (*giveathon.ChargeContext, error) {
	return s.findEventDonation(ctx, &payments.PaymentIntent{ID: paymentIntentID, Metadata: metadata})
}

// FindDispute returns a donation's dispute, or nil when it has none.
func (s *Service) FindDispute(ctx context.Context, d *giveathon.Donation) (*giveathon.Dispute, error) {
	return s.Store.FindDispute(ctx, d.UserID, d.ID)
}
