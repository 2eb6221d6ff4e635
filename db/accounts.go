package db

import (
	"context"
	"errors"
	"fmt"

	"github.com/giveathon/giveathon"
	"github.com/jackc/pgx/v5"
)

// FindDataExport reads everything kept about a donor in one snapshot: the account, every
// card (removed ones too) and every donation with its charity's name and its card.
func (db *DB) FindDataExport(ctx context.Context, userID string) (*giveathon.DataExport, error) {
	var x giveathon.DataExport
	err := db.InTxAt(ctx, pgx.RepeatableRead, func(tx pgx.Tx) error {
		u, err := scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, userID))
		if err != nil {
			return err
		}
		x.Account = giveathon.ExportAccount{ID: u.ID, Email: u.Email, Name: u.Name, HomeRegion: u.HomeRegion, CreatedAt: u.CreatedAt}
		rows, err := tx.Query(ctx, sqlExportCards, userID)
		if err != nil {
			return err
		}
		x.PaymentMethods, err = pgx.CollectRows(rows, pgx.RowToStructByPos[giveathon.ExportCard])
		if err != nil {
			return err
		}
		rows, err = tx.Query(ctx, sqlExportDonations, userID)
		if err != nil {
			return err
		}
		x.Donations, err = pgx.CollectRows(rows, pgx.RowToStructByPos[giveathon.ExportDonation])
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, giveathon.Errorf(giveathon.ENOTFOUND, "user not found")
	} else if err != nil {
		return nil, fmt.Errorf("export data of user %s: %w", userID, err)
	}
	return &x, nil
}

// StartErasure is an account erasure's first step, in one transaction: it locks the donor's
// row (a submit locks it before it reads its card, so none is half-way), refuses with
// giveathon.ErrAccountBusy while something is unfinished (lockForErasure), and marks every
// saved card removed, so that no gift can start from here on: a submit after it finds its
// card removed. The cards stay removed if the erasure stops halfway (the provider detaches
// them next). An account erased already is ENOTFOUND. It may be run again.
func (db *DB) StartErasure(ctx context.Context, userID string, statuses []giveathon.DonationStatus) error {
	err := db.InTx(ctx, func(tx pgx.Tx) error {
		if err := lockForErasure(ctx, tx, userID, statuses); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, sqlEraseCards, userID)
		return err
	})
	return erasureError(userID, err)
}

// The statements of a donor's export and erasure on the partitioned tables (each names the
// donor: one partition).
const (
	sqlExportCards = `SELECT brand, last4, exp_month, exp_year, is_default, created_at, removed_at
		FROM payment_methods WHERE user_id = $1 ORDER BY created_at, id`
	sqlExportDonations = `SELECT d.id::text, d.charity_id::text, c.name, d.amount_cents, d.currency, d.status,
		d.message, d.anonymous, coalesce(pm.brand || ' ' || pm.last4, ''), coalesce(d.failure_code, ''), d.created_at, d.settled_at
		FROM donations d JOIN charities c ON c.id = d.charity_id
		LEFT JOIN payment_methods pm ON pm.user_id = d.user_id AND pm.id = d.payment_method_id
		WHERE d.user_id = $1 ORDER BY d.created_at, d.id`
	sqlEraseCards     = `UPDATE payment_methods SET removed_at = now(), is_default = false WHERE user_id = $1 AND removed_at IS NULL`
	sqlEraseDonations = `UPDATE donations SET message = '', anonymous = true WHERE user_id = $1 AND (message <> '' OR NOT anonymous)`
)

const sqlCountUnfinished = `SELECT (SELECT count(*) FROM donations WHERE user_id = $1 AND status = ANY($2::text[]))
	+ (SELECT count(*) FROM notifications WHERE user_id = $1 AND status = ANY($3::text[]))`

// EraseAccount erases a donor's personal data in one transaction, unless something is
// unfinished (lockForErasure with statuses: giveathon.ErrAccountBusy): it ends every session, marks every
// card removed, takes the messages off the donations and makes them anonymous, and replaces
// the e-mail with giveathon.ErasedEmail, the name with "" and the password hash with one no
// password matches. The donations keep their amounts, charities, statuses and dates. It
// returns the hashes of the sessions it ended; an account erased already is ENOTFOUND.
func (db *DB) EraseAccount(ctx context.Context, userID string, statuses []giveathon.DonationStatus) ([][]byte, error) {
	var ended [][]byte
	err := db.InTx(ctx, func(tx pgx.Tx) error {
		if err := lockForErasure(ctx, tx, userID, statuses); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL RETURNING token_hash`, userID)
		if err != nil {
			return err
		}
		if ended, err = pgx.CollectRows(rows, pgx.RowTo[[]byte]); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, sqlEraseCards, userID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, sqlEraseDonations, userID); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE users SET email = $2, name = '', password_hash = $3 WHERE id = $1`,
			userID, giveathon.ErasedEmail(userID), noPassword)
		return err
	})
	if err := erasureError(userID, err); err != nil {
		return nil, err
	}
	return ended, nil
}

// lockForErasure locks the donor's row for an erasure's step and refuses it while something is
// unfinished: the donor's donations in one of statuses, and e-mails to the donor still in the
// outbox (they are addressed when sent). An account erased already is pgx.ErrNoRows.
func lockForErasure(ctx context.Context, tx pgx.Tx, userID string, statuses []giveathon.DonationStatus) error {
	var email string
	if err := tx.QueryRow(ctx, `SELECT email FROM users WHERE id = $1 FOR UPDATE`, userID).Scan(&email); err != nil {
		return err
	}
	if email == giveathon.ErasedEmail(userID) {
		return pgx.ErrNoRows
	}
	var n int
	if err := tx.QueryRow(ctx, sqlCountUnfinished, userID, statuses, []string{NotificationPending, NotificationSending}).Scan(&n); err != nil {
		return err
	} else if n > 0 {
		return errUnfinished
	}
	return nil
}

// erasureError is what an erasure's step answers for err.
func erasureError(userID string, err error) error {
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return giveathon.Errorf(giveathon.ENOTFOUND, "user not found")
	case errors.Is(err, errUnfinished):
		return giveathon.ErrAccountBusy
	case err != nil:
		return fmt.Errorf("erase user %s: %w", userID, err)
	}
	return nil
}

var errUnfinished = errors.New("unfinished donations")
