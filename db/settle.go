package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Move is a decided change of a donation's status.
type Move struct {
	To             giveathon.DonationStatus
	FailureCode    string
	FailureMessage string
	// PaymentIntentID is recorded if the donation has none yet.
	PaymentIntentID string
}

// Execer runs a statement: a transaction, or the pool for a statement of its own.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Querier runs a query: a transaction, or the pool for a statement of its own.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// MoveDonation applies a move inside tx (or as a statement of its own) as a conditional
// UPDATE: only from a status that may move to m.To, so of two writers racing only one wins.
// A move into SUCCEEDED adds the gift to the event's totals, and one into REFUNDED takes it
// back out, in the same statement. It returns the donation as it is now and whether this
// call moved it.
func MoveDonation(ctx context.Context, tx Querier, id string, m Move) (*giveathon.Donation, bool, error) {
	from := make([]string, 0, 4)
	for _, f := range m.To.MovesInto() {
		from = append(from, string(f))
	}
	d, err := scanDonation(tx.QueryRow(ctx, `WITH moved AS (UPDATE donations SET status = $2,
			failure_code = CASE WHEN $2 = 'FAILED' THEN nullif($3, '') ELSE failure_code END,
			failure_message = CASE WHEN $2 = 'FAILED' THEN nullif($4, '') ELSE failure_message END,
			payment_intent_id = coalesce(payment_intent_id, nullif($5, '')),
			updated_at = now(),
			settled_at = CASE WHEN $2 IN ('SUCCEEDED', 'FAILED') THEN now() ELSE settled_at END
		WHERE id = $1 AND status = ANY($6::text[])
		RETURNING `+donationColumns+`), counted AS (
			INSERT INTO event_totals (charity_id, shard, total_cents, donation_count)
			SELECT charity_id::uuid, floor(random() * 64)::int, sign * amount_cents, sign
			FROM moved, (SELECT CASE $2 WHEN 'SUCCEEDED' THEN 1 ELSE -1 END AS sign) s
			WHERE $2 IN ('SUCCEEDED', 'REFUNDED')
			ON CONFLICT (charity_id, shard) DO UPDATE SET
				total_cents = event_totals.total_cents + excluded.total_cents,
				donation_count = event_totals.donation_count + excluded.donation_count)
		SELECT * FROM moved`, id, string(m.To), m.FailureCode, m.FailureMessage, m.PaymentIntentID, from))
	if err == nil {
		return d, true, nil
	} else if !errors.Is(err, pgx.ErrNoRows) {
		return nil, false, fmt.Errorf("move donation %s to %s: %w", id, m.To, err)
	}
	d, err = scanDonation(tx.QueryRow(ctx, `SELECT `+donationColumns+` FROM donations WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, giveathon.Errorf(giveathon.ENOTFOUND, "donation not found")
	} else if err != nil {
		return nil, false, fmt.Errorf("read donation %s: %w", id, err)
	}
	return d, false, nil
}

// SetPaymentIntentID records a donation's PaymentIntent as soon as it is known (once).
func (db *DB) SetPaymentIntentID(ctx context.Context, donationID, paymentIntentID string) error {
	_, err := db.Pool.Exec(ctx, `UPDATE donations SET payment_intent_id = $2, updated_at = now()
		WHERE id = $1 AND payment_intent_id IS NULL`, donationID, paymentIntentID)
	if err != nil {
		return fmt.Errorf("record payment intent of %s: %w", donationID, err)
	}
	return nil
}

// FindDonationByPaymentIntent returns the donation a PaymentIntent belongs to, or ENOTFOUND.
func (db *DB) FindDonationByPaymentIntent(ctx context.Context, paymentIntentID string) (*giveathon.Donation, error) {
	d, err := scanDonation(db.Pool.QueryRow(ctx, `SELECT `+donationColumns+` FROM donations WHERE payment_intent_id = $1`, paymentIntentID))
	return d, oneRow(err, "donation", "find donation by payment intent")
}

// ChargeContext is what charging a donation needs besides the donation.
type ChargeContext struct {
	Donation                *giveathon.Donation
	ProviderCustomerID      string
	ProviderPaymentMethodID string
	DonorEmail              string
	DonorName               string
}

// FindChargeContext returns a donation with its donor's and card's provider ids, in one query.
func (db *DB) FindChargeContext(ctx context.Context, donationID string) (*ChargeContext, error) {
	if _, err := uuid.Parse(donationID); err != nil {
		return nil, giveathon.Errorf(giveathon.ENOTFOUND, "donation not found")
	}
	c := &ChargeContext{}
	var err error
	c.Donation, err = scanDonation(db.Pool.QueryRow(ctx, `SELECT `+donationColumnsOf("d.")+`,
			pm.provider_customer_id, pm.provider_payment_method_id, u.email, u.name
		FROM donations d JOIN payment_methods pm ON pm.id = d.payment_method_id JOIN users u ON u.id = d.user_id
		WHERE d.id = $1`, donationID), &c.ProviderCustomerID, &c.ProviderPaymentMethodID, &c.DonorEmail, &c.DonorName)
	if err != nil {
		return nil, oneRow(err, "donation", "find charge context of "+donationID)
	}
	return c, nil
}

// StartAttempt records the start of a payment attempt, numbered one more than the donation's
// attempts so far (whoever made them), with the provider request key keyPrefix+number; it
// returns the number and the key. One statement; two attempts racing for a number retry.
func (db *DB) StartAttempt(ctx context.Context, donationID, keyPrefix string) (int, string, error) {
	for round := 0; ; round++ {
		var no int
		var key string
		err := db.Pool.QueryRow(ctx, `INSERT INTO payment_attempts (donation_id, attempt_no, provider_request_key, status)
			SELECT $1, n, $2 || n, 'started' FROM (SELECT coalesce(max(attempt_no), 0) + 1 AS n FROM payment_attempts WHERE donation_id = $1) AS next
			RETURNING attempt_no, provider_request_key`, donationID, keyPrefix).Scan(&no, &key)
		if isUniqueViolation(err, "payment_attempts_donation_attempt_key") && round < 5 {
			continue
		} else if err != nil {
			return 0, "", fmt.Errorf("start attempt on %s: %w", donationID, err)
		}
		return no, key, nil
	}
}

// FinishAttempt records how an attempt ended, in tx or as a statement of its own (the pool).
func FinishAttempt(ctx context.Context, tx Execer, donationID string, attemptNo int, status, code, message string) error {
	_, err := tx.Exec(ctx, `UPDATE payment_attempts SET status = $3, error_code = nullif($4, ''),
		error_message = nullif($5, ''), finished_at = now()
		WHERE donation_id = $1 AND attempt_no = $2`, donationID, attemptNo, status, code, message)
	if err != nil {
		return fmt.Errorf("finish attempt %d on %s: %w", attemptNo, donationID, err)
	}
	return nil
}

// FindStaleDonations returns up to limit donations in status whose last change is older than
// olderThan, oldest first.
func (db *DB) FindStaleDonations(ctx context.Context, status giveathon.DonationStatus, olderThan time.Duration, limit int) ([]*giveathon.Donation, error) {
	rows, err := db.Pool.Query(ctx, `SELECT `+donationColumns+` FROM donations
		WHERE status = $1 AND settled_at IS NULL AND updated_at < $2 ORDER BY updated_at LIMIT $3`,
		string(status), time.Now().Add(-olderThan), limit)
	if err != nil {
		return nil, fmt.Errorf("find stale %s donations: %w", status, err)
	}
	list, err := collectDonations(rows)
	if err != nil {
		return nil, fmt.Errorf("find stale %s donations: %w", status, err)
	}
	return list, nil
}

// FindDisagreeingDonations returns donations whose attempts say the charge succeeded while the
// donation says otherwise.
func (db *DB) FindDisagreeingDonations(ctx context.Context, limit int) ([]*giveathon.Donation, error) {
	rows, err := db.Pool.Query(ctx, `SELECT `+donationColumns+` FROM donations d
		WHERE d.status NOT IN ('SUCCEEDED', 'REFUNDED')
		  AND EXISTS (SELECT 1 FROM payment_attempts a WHERE a.donation_id = d.id AND a.status = 'succeeded')
		LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("find disagreeing donations: %w", err)
	}
	return collectDonations(rows)
}

// CloseAbandonedAttempts marks attempts left "started" (their worker died) on settled
// donations as errors, and returns how many it closed.
func (db *DB) CloseAbandonedAttempts(ctx context.Context, olderThan time.Duration) (int64, error) {
	tag, err := db.Pool.Exec(ctx, `UPDATE payment_attempts a SET status = 'error', error_code = 'abandoned',
		error_message = 'the worker stopped before the attempt finished', finished_at = now()
		FROM donations d
		WHERE a.donation_id = d.id AND a.status = 'started' AND a.started_at < $1 AND d.settled_at IS NOT NULL`,
		time.Now().Add(-olderThan))
	if err != nil {
		return 0, fmt.Errorf("close abandoned attempts: %w", err)
	}
	return tag.RowsAffected(), nil
}

// RecordWebhookEvent records a provider event inside tx and reports whether it is new: an
// event seen before is not handled again.
func RecordWebhookEvent(ctx context.Context, tx Execer, eventID, eventType string) (bool, error) {
	tag, err := tx.Exec(ctx, `INSERT INTO webhook_events (provider_event_id, type, processed_at) VALUES ($1, $2, now())
		ON CONFLICT (provider_event_id) DO NOTHING`, eventID, eventType)
	if err != nil {
		return false, fmt.Errorf("record webhook event %s: %w", eventID, err)
	}
	return tag.RowsAffected() == 1, nil
}
