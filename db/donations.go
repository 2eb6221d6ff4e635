package db

import (
	"context"
	"fmt"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/metrics"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// donationColumnsOf lists a donation's columns, each qualified with the table alias t ("d.").
func donationColumnsOf(t string) string {
	return t + `id::text, ` + t + `user_id::text, ` + t + `charity_id::text, ` + t + `amount_cents, ` + t + `currency, ` +
		t + `status, ` + t + `idempotency_key, ` + t + `request_hash, ` + t + `payment_method_id::text, coalesce(` +
		t + `payment_intent_id, ''), coalesce(` + t + `failure_code, ''), coalesce(` + t + `failure_message, ''), ` +
		t + `message, ` + t + `anonymous, ` + t + `created_at, ` + t + `updated_at, ` + t + `settled_at`
}

var donationColumns = donationColumnsOf("")

// scanDonation scans donationColumns, then any extra columns into extra.
func scanDonation(row pgx.Row, extra ...any) (*giveathon.Donation, error) {
	var d giveathon.Donation
	err := row.Scan(append([]any{&d.ID, &d.UserID, &d.CharityID, &d.AmountCents, &d.Currency, &d.Status, &d.IdempotencyKey,
		&d.RequestHash, &d.PaymentMethodID, &d.PaymentIntentID, &d.FailureCode, &d.FailureMessage, &d.Message,
		&d.Anonymous, &d.CreatedAt, &d.UpdatedAt, &d.SettledAt}, extra...)...)
	if err != nil {
		return nil, err
	}
	return &d, nil
}

func collectDonations(rows pgx.Rows) ([]*giveathon.Donation, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*giveathon.Donation, error) { return scanDonation(r) })
}

// Enqueuer queues a donation's charge. Within a transaction (tx non-nil) it must insert the job
// in that transaction; with tx nil it inserts on its own.
type Enqueuer func(ctx context.Context, tx pgx.Tx, donationID string) error

// DonationService implements giveathon.DonationService on the database.
type DonationService struct {
	DB     *DB
	Limits giveathon.DonationLimits
	// Enqueue queues the charge of a new donation.
	Enqueue Enqueuer
	// EnqueueInTx says the jobs live in this database, so the job is inserted in the
	// donation's own transaction; otherwise it is inserted right after commit and the
	// reconciler catches a crash in between.
	EnqueueInTx bool
	// Event, when set, takes donations only inside its window.
	Event *giveathon.Event
}

var _ giveathon.DonationService = (*DonationService)(nil)

// SubmitDonation implements giveathon.DonationService.
func (s *DonationService) SubmitDonation(ctx context.Context, userID string, in giveathon.SubmitDonationInput) (*giveathon.SubmitResult, error) {
	in, err := in.Validate(s.Limits)
	if err != nil {
		return nil, err
	}
	hash := in.RequestHash()
	// Concurrent submits with one key race to insert: the loser's unique violation (or
	// serialization failure, retried inside InTx) sends it round again to find the winner's row.
	for round := 0; ; round++ {
		res, err := s.submitOnce(ctx, userID, in, hash)
		if isUniqueViolation(err, "donations_user_idempotency_key") && round < 3 {
			continue
		}
		if err != nil {
			return nil, err
		}
		if res.Created {
			metrics.Donations.WithLabelValues(string(giveathon.StatusPending)).Inc()
		}
		if !s.EnqueueInTx && res.Created {
			if err := s.Enqueue(ctx, nil, res.Donation.ID); err != nil {
				// The donation is recorded; the reconciler will queue it.
				return res, nil //nolint:nilerr // accepted: the reconciler is the safety net
			}
		}
		return res, nil
	}
}

func (s *DonationService) submitOnce(ctx context.Context, userID string, in giveathon.SubmitDonationInput, hash string) (*giveathon.SubmitResult, error) {
	var res *giveathon.SubmitResult
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		res = nil
		// One round trip for everything a new gift is checked against: a donation under this
		// key, the charity, the card, and an equal gift in the duplicate window.
		var existingID, dupID *string
		var charityActive, cardRemoved *bool
		err := tx.QueryRow(ctx, `SELECT
			(SELECT id::text FROM donations WHERE user_id = $1 AND idempotency_key = $2),
			(SELECT active FROM charities WHERE id = $3),
			(SELECT removed_at IS NOT NULL FROM payment_methods WHERE id = $4 AND user_id = $1),
			(SELECT id::text FROM donations WHERE NOT $7 AND user_id = $1 AND charity_id = $3 AND amount_cents = $5
				AND status <> 'FAILED' AND created_at > $6 ORDER BY created_at DESC LIMIT 1)`,
			userID, in.IdempotencyKey, in.CharityID, in.PaymentMethodID, in.AmountCents,
			time.Now().Add(-giveathon.DuplicateWindow), in.ConfirmDuplicate).Scan(&existingID, &charityActive, &cardRemoved, &dupID)
		if err != nil {
			return err
		}
		if existingID != nil {
			existing, err := scanDonation(tx.QueryRow(ctx, `SELECT `+donationColumns+` FROM donations WHERE id = $1`, *existingID))
			if err != nil {
				return err
			}
			if existing.RequestHash != hash {
				return giveathon.Invalid("idempotencyKey", "this idempotencyKey was used for a different donation: use a new key for a new gift").WithCode(giveathon.ECONFLICT)
			}
			res = &giveathon.SubmitResult{Donation: existing}
			return nil
		}
		// Checked only for a new gift: a retry of one accepted just before the close still
		// gets its answer.
		if s.Event != nil {
			if err := s.Event.CheckOpen(time.Now()); err != nil {
				return err
			}
		}
		if charityActive == nil || !*charityActive {
			return giveathon.Invalid("charityId", "charityId is not a charity that takes donations")
		}
		if cardRemoved == nil || *cardRemoved {
			return giveathon.Invalid("paymentMethodId", "paymentMethodId is not one of your saved payment methods")
		}
		if dupID != nil {
			dup, err := scanDonation(tx.QueryRow(ctx, `SELECT `+donationColumns+` FROM donations WHERE id = $1`, *dupID))
			if err != nil {
				return err
			}
			res = &giveathon.SubmitResult{NeedsConfirmation: true, DuplicateOf: dup}
			return nil
		}

		d, err := scanDonation(tx.QueryRow(ctx, `INSERT INTO donations
			(user_id, charity_id, amount_cents, currency, status, idempotency_key, request_hash, payment_method_id, message, anonymous)
			VALUES ($1, $2, $3, $4, 'PENDING', $5, $6, $7, $8, $9) RETURNING `+donationColumns,
			userID, in.CharityID, in.AmountCents, in.Currency, in.IdempotencyKey, hash, in.PaymentMethodID, in.Message, in.Anonymous))
		if err != nil {
			return err
		}
		if s.EnqueueInTx {
			if err := s.Enqueue(ctx, tx, d.ID); err != nil {
				return fmt.Errorf("queue charge: %w", err)
			}
		}
		res = &giveathon.SubmitResult{Donation: d, Created: true}
		return nil
	})
	if err != nil && giveathon.ErrorCode(err) == giveathon.EINTERNAL && !isUniqueViolation(err, "donations_user_idempotency_key") {
		return nil, fmt.Errorf("submit donation: %w", err)
	}
	return res, err
}

// FindDonationByID implements giveathon.DonationService.
func (s *DonationService) FindDonationByID(ctx context.Context, userID, id string) (*giveathon.Donation, error) {
	d, err := s.DB.FindDonation(ctx, id)
	if err != nil || d.UserID != userID {
		if err == nil || giveathon.ErrorCode(err) == giveathon.ENOTFOUND {
			return nil, giveathon.Errorf(giveathon.ENOTFOUND, "donation not found")
		}
		return nil, err
	}
	return d, nil
}

// FindDonation returns any donation by id, or ENOTFOUND (for workers: no owner check).
func (db *DB) FindDonation(ctx context.Context, id string) (*giveathon.Donation, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, giveathon.Errorf(giveathon.ENOTFOUND, "donation not found")
	}
	d, err := scanDonation(db.Pool.QueryRow(ctx, `SELECT `+donationColumns+` FROM donations WHERE id = $1`, id))
	return d, oneRow(err, "donation", "find donation")
}

// donationCursor is a donation's keyset position in newest-first order.
type donationCursor struct {
	CreatedAt time.Time `json:"t"`
	ID        string    `json:"i"`
}

// FindDonations implements giveathon.DonationService: newest first, by (created_at, id), so
// donations made while a donor pages through appear before the first page and never shift
// the pages after it.
func (s *DonationService) FindDonations(ctx context.Context, f giveathon.DonationFilter) ([]*giveathon.Donation, []string, int, error) {
	page, err := f.Page.Validate()
	if err != nil {
		return nil, nil, 0, err
	}
	var status any
	if f.Status != nil {
		status = string(*f.Status)
	}
	var after donationCursor
	if page.After != "" {
		if err := decodeCursor(page.After, &after); err != nil {
			return nil, nil, 0, err
		}
		if _, err := uuid.Parse(after.ID); err != nil || after.CreatedAt.IsZero() {
			return nil, nil, 0, giveathon.Invalid("after", "after is not a cursor this list gave out")
		}
	}
	var list []*giveathon.Donation
	var total int
	err = s.DB.InTx(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM donations WHERE user_id = $1 AND ($2::text IS NULL OR status = $2)`,
			f.UserID, status).Scan(&total); err != nil {
			return err
		}
		var rows pgx.Rows
		var err error
		if page.After == "" {
			rows, err = tx.Query(ctx, `SELECT `+donationColumns+` FROM donations
				WHERE user_id = $1 AND ($2::text IS NULL OR status = $2)
				ORDER BY created_at DESC, id DESC LIMIT $3`, f.UserID, status, page.First+1)
		} else {
			rows, err = tx.Query(ctx, `SELECT `+donationColumns+` FROM donations
				WHERE user_id = $1 AND ($2::text IS NULL OR status = $2) AND (created_at, id) < ($3, $4::uuid)
				ORDER BY created_at DESC, id DESC LIMIT $5`, f.UserID, status, after.CreatedAt, after.ID, page.First+1)
		}
		if err != nil {
			return err
		}
		list, err = collectDonations(rows)
		return err
	})
	if err != nil {
		return nil, nil, 0, fmt.Errorf("find donations: %w", err)
	}
	cursors := make([]string, len(list))
	for i, d := range list {
		cursors[i] = encodeCursor(donationCursor{CreatedAt: d.CreatedAt, ID: d.ID})
	}
	return list, cursors, total, nil
}

// FindPaymentAttempts implements giveathon.DonationService.
func (s *DonationService) FindPaymentAttempts(ctx context.Context, donationID string) ([]*giveathon.PaymentAttempt, error) {
	return s.DB.FindPaymentAttempts(ctx, donationID)
}

// FindPaymentAttempts returns a donation's attempts in order.
func (db *DB) FindPaymentAttempts(ctx context.Context, donationID string) ([]*giveathon.PaymentAttempt, error) {
	rows, err := db.Pool.Query(ctx, `SELECT id::text, donation_id::text, attempt_no, provider_request_key, status,
		coalesce(error_code, ''), coalesce(error_message, ''), started_at, finished_at
		FROM payment_attempts WHERE donation_id = $1 ORDER BY attempt_no`, donationID)
	if err != nil {
		return nil, fmt.Errorf("find payment attempts: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*giveathon.PaymentAttempt, error) {
		var a giveathon.PaymentAttempt
		err := r.Scan(&a.ID, &a.DonationID, &a.AttemptNo, &a.ProviderRequestKey, &a.Status, &a.ErrorCode, &a.ErrorMessage, &a.StartedAt, &a.FinishedAt)
		return &a, err
	})
	if err != nil {
		return nil, fmt.Errorf("find payment attempts: %w", err)
	}
	return list, nil
}
