package settlement

import (
	"context"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/auth"
	"github.com/giveathon/giveathon/metrics"
)

// SubmitDonation implements giveathon.DonationService: it records a gift (PENDING) under the
// donor's idempotency key and queues its charge, in the gift's own transaction when the jobs
// share its database, otherwise right after commit (the reconciler queues one whose queuing
// was lost).
func (s *Service) SubmitDonation(ctx context.Context, userID string, in giveathon.SubmitDonationInput) (*giveathon.SubmitResult, error) {
	in, err := in.Validate(s.Config.Limits)
	if err != nil {
		return nil, err
	}
	hash := in.RequestHash()
	if !s.Config.CardTesting.Off() && in.Partner == nil {
		in.DeclinedCardsSince = time.Now().Add(-s.Config.CardTesting.Window)
	}
	res, err := s.Store.SubmitDonation(ctx, userID, in, hash, func(f giveathon.SubmitFacts) (*giveathon.SubmitResult, bool, error) {
		return decideSubmit(f, in, hash, s.Config.Event, s.Config.CardTesting, time.Now())
	})
	if err != nil {
		return nil, err
	}
	if !res.Created {
		return res, nil
	}
	metrics.Donations.WithLabelValues(string(giveathon.StatusPending)).Inc()
	if !res.Queued {
		if _, err := s.Queue.Enqueue(ctx, res.Donation); err != nil {
			// The donation is recorded and the donor gets their answer: the reconciler queues
			// it after StalePending.
			s.Logger.WarnContext(ctx, "queue charge after commit: the reconciler will queue it", "donation", res.Donation.ID, "err", err)
		}
	}
	return res, nil
}

// decideSubmit rules on a submission from what its transaction read: the same key again
// answers with its donation (or CONFLICT when the gift differs); a new gift must fall inside
// the event's window, pass the card-testing limit, name a charity that takes donations and
// one of the donor's cards, and not repeat an equal gift of the last minute unless the donor
// confirms it.
func decideSubmit(f giveathon.SubmitFacts, in giveathon.SubmitDonationInput, hash string, event *giveathon.Event, cardTesting auth.Limit, now time.Time) (*giveathon.SubmitResult, bool, error) {
	if f.Existing != nil {
		if f.Existing.RequestHash != hash {
			return nil, false, giveathon.Invalid("idempotencyKey", "this idempotencyKey was used for a different donation: use a new key for a new gift").WithCode(giveathon.ECONFLICT)
		}
		return &giveathon.SubmitResult{Donation: f.Existing}, false, nil
	}
	// Checked only for a new gift: a retry of one accepted just before the close still gets
	// its answer.
	if event != nil {
		if err := event.CheckOpen(now); err != nil {
			return nil, false, err
		}
	}
	if err := auth.CardTesting(cardTesting, f.DeclinedCards, f.CardSucceeded); err != nil {
		return nil, false, err
	}
	if err := charityRefusal(f.CharityActive); err != nil {
		return nil, false, err
	}
	if f.CardRemoved == nil || *f.CardRemoved {
		return nil, false, giveathon.Invalid("paymentMethodId", "paymentMethodId is not one of your saved payment methods")
	}
	if f.Duplicate != nil && !in.ConfirmDuplicate {
		return &giveathon.SubmitResult{NeedsConfirmation: true, DuplicateOf: f.Duplicate}, false, nil
	}
	return nil, true, nil
}

// charityRefusal refuses a gift to a charity that is not one (active nil) or takes no gifts.
func charityRefusal(active *bool) error {
	if active == nil || !*active {
		return giveathon.Invalid("charityId", "charityId is not a charity that takes donations")
	}
	return nil
}
