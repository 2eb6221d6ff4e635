package db

import (
	"context"

	"errors"
	"fmt"
	"github.com/giveathon/giveathon"
	"github.com/google/uuid"

	"github.com/jackc/pgx/v5"
)

// NotificationContext is what a donation's e-mail says: the donation, its donor and charity.
type NotificationContext struct {
	Donation    *giveathon.Donation
	DonorName   string
	DonorEmail  string
	CharityName string
	CharityEIN  string
}

// FindNotificationContext reads a donation with its donor and charity, in one query.
func (db *DB) FindNotificationContext(ctx context.Context, donationID string) (*NotificationContext, error) {
	if _, err := uuid.Parse(donationID); err != nil {
		return nil, giveathon.Errorf(giveathon.ENOTFOUND, "donation not found")
	}
	n := &NotificationContext{}
	var err error
	n.Donation, err = scanDonation(db.Pool.QueryRow(ctx, `SELECT `+donationColumnsOf("d.")+`, u.name, u.email, c.name, c.ein
		FROM donations d JOIN users u ON u.id = d.user_id JOIN charities c ON c.id = d.charity_id
		WHERE d.id = $1`, donationID), &n.DonorName, &n.DonorEmail, &n.CharityName, &n.CharityEIN)
	if err != nil {
		return nil, oneRow(err, "donation", "find notification context of "+donationID)
	}
	return n, nil
}

// Notification statuses: sending (claimed, the e-mail may or may not have left), sent, and
// logged (no SMTP server configured: recorded only).
const (
	NotificationSending = "sending"
	NotificationSent    = "sent"
	NotificationLogged  = "logged"
)

// ClaimNotification records that the notice of kind for a donation is being sent, counting
// the delivery, and returns the status it had before: "" for a new claim, NotificationSending
// when an earlier try died before recording its delivery (send again), or sent/logged when it
// is done (send nothing, count nothing).
func (db *DB) ClaimNotification(ctx context.Context, userID, donationID, kind string) (string, error) {
	var before string
	err := db.InTx(ctx, func(tx pgx.Tx) error {
		before = ""
		err := tx.QueryRow(ctx, `SELECT status FROM notifications WHERE donation_id = $1 AND kind = $2`, donationID, kind).Scan(&before)
		if err == nil {
			if before == NotificationSending {
				_, err = tx.Exec(ctx, `UPDATE notifications SET deliveries = deliveries + 1 WHERE donation_id = $1 AND kind = $2`, donationID, kind)
			}
			return err
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO notifications (user_id, donation_id, kind, channel, status, deliveries)
			VALUES ($1, $2, $3, 'email', 'sending', 1)`, userID, donationID, kind)
		return err
	})
	if isUniqueViolation(err, "notifications_donation_kind_key") {
		return NotificationSending, nil
	} else if err != nil {
		return "", fmt.Errorf("claim %s notification of %s: %w", kind, donationID, err)
	}
	return before, nil
}

// FinishNotification marks a claimed notification sent (or logged).
func (db *DB) FinishNotification(ctx context.Context, donationID, kind, status string) error {
	_, err := db.Pool.Exec(ctx, `UPDATE notifications SET status = $3, sent_at = now() WHERE donation_id = $1 AND kind = $2`,
		donationID, kind, status)
	if err != nil {
		return fmt.Errorf("finish %s notification of %s: %w", kind, donationID, err)
	}
	return nil
}

// NotificationStatus returns the status of a donation's notification of kind, or "" when
// there is none.
func (db *DB) NotificationStatus(ctx context.Context, donationID, kind string) (string, error) {
	var status string
	err := db.Pool.QueryRow(ctx, `SELECT status FROM notifications WHERE donation_id = $1 AND kind = $2`, donationID, kind).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("read %s notification of %s: %w", kind, donationID, err)
	}
	return status, nil
}

// CountNotifications returns how many notifications a donation has, by kind.
func (db *DB) CountNotifications(ctx context.Context, donationID string) (map[string]int, error) {
	rows, err := db.Pool.Query(ctx, `SELECT kind, count(*) FROM notifications WHERE donation_id = $1 GROUP BY kind`, donationID)
	if err != nil {
		return nil, fmt.Errorf("count notifications: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var kind string
		var n int
		if err := rows.Scan(&kind, &n); err != nil {
			return nil, err
		}
		out[kind] = n
	}
	return out, rows.Err()
}
