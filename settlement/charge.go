package settlement

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/payments"
)

// VerdictKind says what the queue should do with a charge job after one run.
type VerdictKind int

// Verdicts of a charge run.
const (
	// Done: nothing more to do for this job.
	Done VerdictKind = iota
	// Retry: try again after the queue's backoff (Verdict.Err says why).
	Retry
	// Snooze: try again after Verdict.Wait without spending an attempt.
	Snooze
	// Cancel: never try again (Verdict.Err says why).
	Cancel
)

// Verdict is the end of one charge run.
type Verdict struct {
	Kind VerdictKind
	Wait time.Duration
	Err  error
}

// Charge runs one attempt at charging a donation: ONE PaymentIntent per donation, created and
// confirmed off-session in one call under a key derived from the donation. Every attempt
// re-reads the donation and its PaymentIntent first, so a retry after a crash or a lost answer
// never charges twice. attempt and maxAttempts are the queue's count of this job's runs.
//
// The database sees one statement before the provider's call (the claim: PENDING ->
// PROCESSING, the attempt's start, the charge's context) and one after it (the finish: the
// attempt's end, the move, the totals, the outbox rows), when the call decides the donation.
func (s *Service) Charge(ctx context.Context, userID, donationID string, attempt, maxAttempts int) Verdict {
	claim, err := s.Store.ClaimCharge(ctx, userID, donationID, requestKeyPrefix(donationID, "a"))
	if giveathon.ErrorCode(err) == giveathon.ENOTFOUND {
		return Verdict{Kind: Cancel, Err: err}
	} else if err != nil {
		return Verdict{Kind: Retry, Err: err}
	}
	if claim.Moved {
		s.moved(ctx, claim.Donation)
	}
	if claim.AttemptNo == 0 {
		// Not PROCESSING after the claim: settled by someone else (webhook, reconciler)
		// meanwhile, or waiting for its donor (3-D Secure).
		return Verdict{}
	}
	cc, d, attemptNo := &claim.ChargeContext, claim.Donation, claim.AttemptNo
	pi, chargeErr := s.charge(ctx, cc, attemptNo)
	if o := outcome(pi, chargeErr); o.Decided {
		// The attempt's end, the move (which records the PaymentIntent) and its consequences
		// are one statement.
		m := o.move(d, piID(pi))
		m.Attempt = &giveathon.AttemptEnd{No: attemptNo, Status: statusOfAttempt(o.Status), Code: o.FailureCode, Message: o.FailureMessage}
		if _, _, err := s.move(ctx, m); err != nil {
			return Verdict{Kind: Retry, Err: err}
		}
		if o.Status == giveathon.StatusFailed {
			// Retrying a declined card is pointless.
			return Verdict{Kind: Cancel, Err: fmt.Errorf("donation %s failed: %s", donationID, o.FailureCode)}
		}
		return Verdict{}
	}

	if chargeErr == nil {
		chargeErr = fmt.Errorf("payment intent %s is %s: not decided yet", piID(pi), piStatus(pi))
	}
	code, msg := errorCode(chargeErr)
	if err := s.Store.FinishAttempt(ctx, donationID, giveathon.AttemptEnd{No: attemptNo, Status: giveathon.AttemptError, Code: code, Message: msg}); err != nil {
		return Verdict{Kind: Retry, Err: err}
	}
	if pe, ok := payments.AsError(chargeErr); ok && pe.HTTPStatus == 429 && attempt < maxAttempts {
		// Over the provider's rate limit: wait without spending an attempt.
		wait := pe.RetryAfter
		if wait <= 0 {
			wait = time.Second + time.Duration(rand.Int64N(int64(2*time.Second)))
		}
		return Verdict{Kind: Snooze, Wait: wait}
	}
	if attempt >= maxAttempts {
		if err := s.giveUp(ctx, cc, pi, chargeErr, attemptNo); err != nil {
			return Verdict{Kind: Retry, Err: err}
		}
		return Verdict{}
	}
	return Verdict{Kind: Retry, Err: chargeErr}
}

// charge finds or creates the donation's PaymentIntent and confirms it if a retryable failure
// left it unconfirmed. A PaymentIntent it learns of is recorded at once.
func (s *Service) charge(ctx context.Context, cc *giveathon.ChargeContext, attemptNo int) (*payments.PaymentIntent, error) {
	d := cc.Donation
	var pi *payments.PaymentIntent
	if d.PaymentIntentID != "" {
		var err error
		if pi, err = s.Gateway.RetrievePaymentIntent(ctx, d.PaymentIntentID); err != nil {
			return nil, err
		}
	} else {
		created, listed, err := s.create(ctx, cc, attemptNo)
		if created != nil && !OutcomeOf(created).Decided {
			// A decided outcome records the id with its move, in the next statement; an
			// undecided one records it now, for the next attempt.
			if err := s.Store.SetPaymentIntentID(ctx, d.UserID, d.ID, created.ID); err != nil {
				return created, err
			}
		}
		if !listed {
			return created, err
		}
		// Found in the donor's list after a create that failed: confirmed below if need be.
		pi = created
	}
	if o := OutcomeOf(pi); o.Decided || pi.Status == payments.PIStatusProcessing {
		return pi, nil
	}
	// The PaymentIntent exists but is not decided (a processing error, say): confirm it again
	// under a key of this attempt, since a reused key would replay the saved failure.
	confirmed, err := s.Gateway.ConfirmPaymentIntent(ctx, pi.ID, cc.ProviderPaymentMethodID, requestKey(d.ID, "confirm-a", attemptNo))
	if pe, ok := payments.AsError(err); ok && pe.PaymentIntent != nil {
		confirmed = pe.PaymentIntent
	}
	if confirmed == nil {
		confirmed = pi
	}
	return confirmed, err
}

// create creates and confirms the donation's PaymentIntent under the donation's create keys,
// sent in order on every attempt: key 1 (the first attempt's), and the next key only when the
// provider has answered the one before from its saved response with a server error (so that
// request has ended and will never run again) and the donor's PaymentIntents show none for the
// donation (that request made none before failing). Any other answer ends the walk: the
// PaymentIntent, a decline, a 409 for a key whose request is still running, a 429, no answer
// at all, or a server error the provider has not replayed (the next attempt sends that key
// again, and its request runs then, once). So a new key is sent only once every earlier one
// is known to have ended without a PaymentIntent: two creates never run for one donation, and
// a slow provider still working on a create whose answer we gave up on is never raced by a
// second one. listed says the PaymentIntent came from the list, not from a create's answer.
func (s *Service) create(ctx context.Context, cc *giveathon.ChargeContext, attemptNo int) (pi *payments.PaymentIntent, listed bool, err error) {
	d := cc.Donation
	for n := 1; ; n++ {
		pi, err = s.Gateway.CreatePaymentIntent(ctx, payments.ChargeRequest{
			DonationID: d.ID, UserID: d.UserID, AmountCents: d.AmountCents, Currency: d.Currency,
			CustomerID: cc.ProviderCustomerID, PaymentMethodID: cc.ProviderPaymentMethodID,
			Description: "Giveathon donation " + d.ID, IdempotencyKey: requestKey(d.ID, "a", n),
		})
		pe, ok := payments.AsError(err)
		if ok && pe.PaymentIntent != nil {
			pi = pe.PaymentIntent
		}
		// A key is passed over at most once per attempt so far: each key past the first
		// needed an attempt whose create ended in a server error.
		if pi != nil || !ok || !pe.Replayed || pe.HTTPStatus < 500 || n >= attemptNo {
			return pi, false, err
		}
		if pi, err = s.Gateway.FindPaymentIntentForDonation(ctx, cc.ProviderCustomerID, d.ID); err != nil || pi != nil {
			return pi, pi != nil, err
		}
	}
}

// createEnded reports whether err, the answer to the create key a walk stopped at (every key
// before it has ended, or the walk would not have passed it), shows that this key's request
// has ended at the provider too, so that nothing more can come of it: an answer replayed for
// the key; the API's own server error (type api_error, saved for the key: its request ran
// just now, so no earlier one with the key was still running, which would have met a 409); or
// the request refused for itself (any other 4xx). No answer at all (a timeout, a broken
// connection, our own rate limit), a 409 for the key still in flight, a 429 or another 5xx
// (answered in front of the API) say nothing of a request an earlier attempt left running.
func createEnded(err error) bool {
	pe, ok := payments.AsError(err)
	switch {
	case !ok || pe.HTTPStatus == 0:
		return false
	case pe.Replayed:
		return true
	case pe.HTTPStatus == http.StatusConflict || pe.HTTPStatus == http.StatusTooManyRequests:
		return false
	case pe.HTTPStatus >= 500:
		return pe.Type == "api_error"
	}
	return true
}

// findPaymentIntent returns the donation's PaymentIntent if one exists: by its recorded id,
// or by listing the donor's PaymentIntents and matching the donation id in their metadata (a
// create whose answer was lost). A PaymentIntent found in the list is recorded at once.
func (s *Service) findPaymentIntent(ctx context.Context, cc *giveathon.ChargeContext) (*payments.PaymentIntent, error) {
	d := cc.Donation
	if d.PaymentIntentID != "" {
		return s.Gateway.RetrievePaymentIntent(ctx, d.PaymentIntentID)
	}
	pi, err := s.Gateway.FindPaymentIntentForDonation(ctx, cc.ProviderCustomerID, d.ID)
	if err != nil || pi == nil {
		return nil, err
	}
	if err := s.Store.SetPaymentIntentID(ctx, d.UserID, d.ID, pi.ID); err != nil {
		return nil, err
	}
	return pi, nil
}

// giveUp ends a donation whose last attempt failed for a retryable reason. It first makes
// sure no charge went through unseen: a PaymentIntent that succeeded settles the donation as
// SUCCEEDED; any other is canceled, so it never can succeed later, before the donation FAILS.
// If the provider cannot be asked, the donation stays PROCESSING for the reconciler.
func (s *Service) giveUp(ctx context.Context, cc *giveathon.ChargeContext, pi *payments.PaymentIntent, lastErr error, attemptNo int) error {
	d := cc.Donation
	if pi == nil && d.PaymentIntentID == "" && !createEnded(lastErr) {
		// A create may still be running at the provider (this attempt's, or one an earlier
		// attempt left there that this one's answer says nothing of): failing the donation
		// now could see it charged afterwards. It stays PROCESSING; the reconciler looks
		// again later, and its charge sends the same key again.
		return fmt.Errorf("last attempt on %s: its charge may still be running at the provider (%w); the reconciler will look again", d.ID, lastErr)
	}
	if pi == nil {
		var err error
		if pi, err = s.findPaymentIntent(ctx, cc); err != nil {
			return fmt.Errorf("last attempt on %s: cannot tell whether it was charged (%w); the reconciler will look again", d.ID, err)
		}
	}
	if pi != nil && pi.Status != payments.PIStatusCanceled {
		if pi.Status == payments.PIStatusSucceeded {
			_, _, err := s.Apply(ctx, d, OutcomeOf(pi), pi.ID)
			return err
		}
		// A key of this attempt: a key the provider saved a failure for would replay it.
		canceled, err := s.Gateway.CancelPaymentIntent(ctx, pi.ID, requestKey(d.ID, "cancel-a", attemptNo))
		if err != nil {
			return fmt.Errorf("last attempt on %s: cancel %s: %w", d.ID, pi.ID, err)
		}
		if canceled.Status == payments.PIStatusSucceeded {
			_, _, err := s.Apply(ctx, d, OutcomeOf(canceled), pi.ID)
			return err
		}
	}
	code, _ := errorCode(lastErr)
	_, _, err := s.Apply(ctx, d, Failed(code, "", ""), piID(pi))
	return err
}

// outcome decides a donation's fate from a PaymentIntent and the error of the call.
func outcome(pi *payments.PaymentIntent, err error) Outcome {
	if pi != nil {
		if o := OutcomeOf(pi); o.Decided {
			return o
		}
	}
	if pe, ok := payments.AsError(err); ok {
		switch pe.Kind {
		case payments.Declined:
			return Failed(pe.Code, pe.DeclineCode, pe.Message)
		case payments.AuthenticationRequired:
			return Outcome{Decided: true, Status: giveathon.StatusRequiresAction}
		}
	}
	return Outcome{}
}

// statusOfAttempt names an attempt's end by the donation status it led to.
func statusOfAttempt(s giveathon.DonationStatus) string {
	switch s {
	case giveathon.StatusSucceeded:
		return giveathon.AttemptSucceeded
	case giveathon.StatusFailed:
		return giveathon.AttemptFailed
	case giveathon.StatusRequiresAction:
		return giveathon.AttemptRequiresAction
	}
	return giveathon.AttemptError
}

// requestKey derives an idempotency key from the donation: the same attempt always sends the
// same key, so the provider replays rather than repeats.
func requestKey(donationID, what string, n int) string {
	return requestKeyPrefix(donationID, what) + strconv.Itoa(n)
}

// requestKeyPrefix is requestKey without the number, for the database to complete.
func requestKeyPrefix(donationID, what string) string {
	return "donation-" + donationID + "-" + what
}

func errorCode(err error) (string, string) {
	if pe, ok := payments.AsError(err); ok {
		code := pe.Code
		if pe.DeclineCode != "" {
			code = pe.DeclineCode
		}
		if code == "" {
			code = "provider_unavailable"
		}
		return code, pe.Message
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout", err.Error()
	}
	return "provider_unavailable", err.Error()
}

func piID(pi *payments.PaymentIntent) string {
	if pi == nil {
		return ""
	}
	return pi.ID
}

func piStatus(pi *payments.PaymentIntent) string {
	if pi == nil {
		return "unknown"
	}
	return pi.Status
}
