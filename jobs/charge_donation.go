package jobs

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/db"
	"github.com/giveathon/giveathon/payments"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
)

// ChargeDonationArgs charges one donation. Unique by donation: however often it is queued
// (the submit, the reconciler), one job runs it.
type ChargeDonationArgs struct {
	DonationID string `json:"donation_id" river:"unique"`
}

// Kind implements river.JobArgs.
func (ChargeDonationArgs) Kind() string { return "charge_donation" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (ChargeDonationArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueuePayments, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// ChargeDonationWorker charges a donation: ONE PaymentIntent per donation, created and
// confirmed off-session in one call. Every attempt re-reads the donation and its PaymentIntent
// first, so a retry after a crash or a lost answer never charges twice.
type ChargeDonationWorker struct {
	river.WorkerDefaults[ChargeDonationArgs]
	deps    Deps
	settler *Settler
}

// Work implements river.Worker.
func (w *ChargeDonationWorker) Work(ctx context.Context, job *river.Job[ChargeDonationArgs]) error {
	id := job.Args.DonationID
	cc, err := w.deps.DB.FindChargeContext(ctx, id)
	if giveathon.ErrorCode(err) == giveathon.ENOTFOUND {
		return river.JobCancel(err)
	} else if err != nil {
		return err
	}
	d := cc.Donation
	if d.Status.Final() || d.Status == giveathon.StatusRequiresAction {
		return nil // settled by someone else (webhook, reconciler) meanwhile
	}
	if d.Status == giveathon.StatusPending {
		now, moved, err := w.settler.Apply(ctx, id, payments.Outcome{Decided: true, Status: giveathon.StatusProcessing}, "")
		if err != nil {
			return err
		}
		if !moved && now.Status != giveathon.StatusProcessing {
			return nil
		}
	}

	attemptNo, key, err := w.deps.DB.StartAttempt(ctx, id, requestKeyPrefix(id, "a"))
	if err != nil {
		return err
	}
	pi, chargeErr := w.charge(ctx, cc, attemptNo, key)
	o := outcome(pi, chargeErr)
	if o.Decided {
		// The attempt's end, the move (which records the PaymentIntent) and the e-mail job
		// commit together.
		finish := func(tx pgx.Tx) (bool, error) {
			return true, db.FinishAttempt(ctx, tx, id, attemptNo, statusOfAttempt(o.Status), o.FailureCode, o.FailureMessage)
		}
		if _, _, err := w.settler.apply(ctx, id, o, piID(pi), finish); err != nil {
			return err
		}
		if o.Status == giveathon.StatusFailed {
			// Retrying a declined card is pointless.
			return river.JobCancel(fmt.Errorf("donation %s failed: %s", id, o.FailureCode))
		}
		return nil
	}

	if chargeErr == nil {
		chargeErr = fmt.Errorf("payment intent %s is %s: not decided yet", piID(pi), piStatus(pi))
	}
	code, msg := errorCode(chargeErr)
	if err := db.FinishAttempt(ctx, w.deps.DB.Pool, id, attemptNo, giveathon.AttemptError, code, msg); err != nil {
		return err
	}
	if pe, ok := payments.AsError(chargeErr); ok && pe.HTTPStatus == 429 && job.Attempt < job.MaxAttempts {
		// Over the provider's rate limit: wait without spending an attempt.
		wait := pe.RetryAfter
		if wait <= 0 {
			wait = time.Second + time.Duration(rand.Int64N(int64(2*time.Second)))
		}
		return river.JobSnooze(wait)
	}
	if job.Attempt >= job.MaxAttempts {
		return w.giveUp(ctx, cc, pi, chargeErr)
	}
	return chargeErr
}

// charge finds or creates the donation's PaymentIntent and confirms it if a retryable failure
// left it unconfirmed. A PaymentIntent it learns of is recorded at once.
func (w *ChargeDonationWorker) charge(ctx context.Context, cc *db.ChargeContext, attemptNo int, key string) (*payments.PaymentIntent, error) {
	d := cc.Donation
	pi, err := w.findPaymentIntent(ctx, cc, attemptNo)
	if err != nil {
		return nil, err
	}
	if pi == nil {
		pi, err = w.deps.Gateway.CreatePaymentIntent(ctx, payments.ChargeRequest{
			DonationID: d.ID, UserID: d.UserID, AmountCents: d.AmountCents, Currency: d.Currency,
			CustomerID: cc.ProviderCustomerID, PaymentMethodID: cc.ProviderPaymentMethodID,
			Description: "Giveathon donation " + d.ID, IdempotencyKey: key,
		})
		if pe, ok := payments.AsError(err); ok && pe.PaymentIntent != nil {
			pi = pe.PaymentIntent
		}
		if pi != nil && !payments.OutcomeOf(pi).Decided {
			// A decided outcome records the id with its move, in the next statement; an
			// undecided one records it now, for the next attempt.
			if err := w.deps.DB.SetPaymentIntentID(ctx, d.ID, pi.ID); err != nil {
				return pi, err
			}
		}
		return pi, err
	}
	if o := payments.OutcomeOf(pi); o.Decided || pi.Status == payments.PIStatusProcessing {
		return pi, nil
	}
	// The PaymentIntent exists but is not decided (a processing error, say): confirm it again
	// under a key of this attempt, since a reused key would replay the saved failure.
	confirmed, err := w.deps.Gateway.ConfirmPaymentIntent(ctx, pi.ID, cc.ProviderPaymentMethodID, requestKey(d.ID, "confirm-a", attemptNo))
	if pe, ok := payments.AsError(err); ok && pe.PaymentIntent != nil {
		confirmed = pe.PaymentIntent
	}
	if confirmed == nil {
		confirmed = pi
	}
	return confirmed, err
}

// findPaymentIntent returns the donation's PaymentIntent if one exists: by its recorded id,
// or, when an earlier attempt may have created one whose answer was lost, by listing the
// donor's PaymentIntents and matching the donation id in their metadata.
func (w *ChargeDonationWorker) findPaymentIntent(ctx context.Context, cc *db.ChargeContext, attemptNo int) (*payments.PaymentIntent, error) {
	d := cc.Donation
	if d.PaymentIntentID != "" {
		return w.deps.Gateway.RetrievePaymentIntent(ctx, d.PaymentIntentID)
	}
	if attemptNo == 1 {
		return nil, nil
	}
	pi, err := w.deps.Gateway.FindPaymentIntentForDonation(ctx, cc.ProviderCustomerID, d.ID)
	if err != nil || pi == nil {
		return nil, err
	}
	if err := w.deps.DB.SetPaymentIntentID(ctx, d.ID, pi.ID); err != nil {
		return nil, err
	}
	return pi, nil
}

// giveUp ends a donation whose last attempt failed for a retryable reason. It first makes
// sure no charge went through unseen: a PaymentIntent that succeeded settles the donation as
// SUCCEEDED; any other is canceled, so it never can succeed later, before the donation FAILS.
// If the provider cannot be asked, the donation stays PROCESSING for the reconciler.
func (w *ChargeDonationWorker) giveUp(ctx context.Context, cc *db.ChargeContext, pi *payments.PaymentIntent, lastErr error) error {
	d := cc.Donation
	if pi == nil {
		var err error
		if pi, err = w.findPaymentIntent(ctx, cc, 2); err != nil {
			return fmt.Errorf("last attempt on %s: cannot tell whether it was charged (%w); the reconciler will look again", d.ID, err)
		}
	}
	if pi != nil && pi.Status != payments.PIStatusCanceled {
		if pi.Status == payments.PIStatusSucceeded {
			_, _, err := w.settler.Apply(ctx, d.ID, payments.OutcomeOf(pi), pi.ID)
			return err
		}
		canceled, err := w.deps.Gateway.CancelPaymentIntent(ctx, pi.ID, requestKey(d.ID, "cancel", 1))
		if err != nil {
			return fmt.Errorf("last attempt on %s: cancel %s: %w", d.ID, pi.ID, err)
		}
		if canceled.Status == payments.PIStatusSucceeded {
			_, _, err := w.settler.Apply(ctx, d.ID, payments.OutcomeOf(canceled), pi.ID)
			return err
		}
	}
	code, _ := errorCode(lastErr)
	o := payments.Failed(code, "", "")
	_, _, err := w.settler.Apply(ctx, d.ID, o, piID(pi))
	return err
}

// outcome decides a donation's fate from a PaymentIntent and the error of the call.
func outcome(pi *payments.PaymentIntent, err error) payments.Outcome {
	if pi != nil {
		if o := payments.OutcomeOf(pi); o.Decided {
			return o
		}
	}
	if pe, ok := payments.AsError(err); ok {
		switch pe.Kind {
		case payments.Declined:
			return payments.Failed(pe.Code, pe.DeclineCode, pe.Message)
		case payments.AuthenticationRequired:
			return payments.Outcome{Decided: true, Status: giveathon.StatusRequiresAction}
		}
	}
	return payments.Outcome{}
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
