package db

import (
	"context"
	"errors"
	"fmt"

	"github.com/giveathon/giveathon"
	"github.com/jackc/pgx/v5"
)

const paymentMethodColumns = `id::text, user_id::text, provider_customer_id, provider_payment_method_id, brand, last4,
	exp_month, exp_year, is_default, created_at, removed_at`

func scanPaymentMethod(row pgx.Row) (*giveathon.PaymentMethod, error) {
	var pm giveathon.PaymentMethod
	err := row.Scan(&pm.ID, &pm.UserID, &pm.ProviderCustomerID, &pm.ProviderPaymentMethodID, &pm.Brand, &pm.Last4,
		&pm.ExpMonth, &pm.ExpYear, &pm.IsDefault, &pm.CreatedAt, &pm.RemovedAt)
	if err != nil {
		return nil, err
	}
	return &pm, nil
}

// FindProviderCustomerID returns the user's provider customer id, or "" when none was made yet.
func (db *DB) FindProviderCustomerID(ctx context.Context, userID string) (string, error) {
	var id *string
	if err := db.QueryRow(ctx, `SELECT provider_customer_id FROM users WHERE id = $1`, userID).Scan(&id); err != nil {
		return "", fmt.Errorf("find provider customer: %w", err)
	}
	if id == nil {
		return "", nil
	}
	return *id, nil
}

// SetProviderCustomerID stores the user's provider customer id unless one is stored already,
// and returns the one that is stored: one conditional statement, safe to run again.
func (db *DB) SetProviderCustomerID(ctx context.Context, userID, customerID string) (string, error) {
	var stored string
	err := db.QueryRow(ctx, `UPDATE users SET provider_customer_id = coalesce(provider_customer_id, $2)
		WHERE id = $1 RETURNING provider_customer_id`, userID, customerID).Scan(&stored)
	if err != nil {
		return "", fmt.Errorf("store provider customer: %w", err)
	}
	return stored, nil
}

// CreatePaymentMethod saves a card. The first card, or one saved with IsDefault, becomes the
// default. Saving a card the donor already has (and has not removed) returns that one. The
// transaction runs at db.Isolation: "the first card becomes the default" is a count read
// before the write, which only SERIALIZABLE keeps exact for two cards saved at once.
func (db *DB) CreatePaymentMethod(ctx context.Context, pm *giveathon.PaymentMethod) (*giveathon.PaymentMethod, error) {
	saved, err := db.createPaymentMethod(ctx, pm)
	if isUniqueViolation(err, "payment_methods_user_provider_key") {
		// The same card saved twice at once (below SERIALIZABLE): this time the other's row is
		// there to be found.
		saved, err = db.createPaymentMethod(ctx, pm)
	}
	if err != nil && giveathon.ErrorCode(err) == giveathon.EINTERNAL {
		return nil, fmt.Errorf("save payment method: %w", err)
	}
	return saved, err
}

func (db *DB) createPaymentMethod(ctx context.Context, pm *giveathon.PaymentMethod) (*giveathon.PaymentMethod, error) {
	var saved *giveathon.PaymentMethod
	err := db.InTx(ctx, func(tx pgx.Tx) error {
		existing, err := scanPaymentMethod(tx.QueryRow(ctx, `SELECT `+paymentMethodColumns+` FROM payment_methods
			WHERE user_id = $1 AND provider_payment_method_id = $2`, pm.UserID, pm.ProviderPaymentMethodID))
		if err == nil && existing.RemovedAt == nil {
			saved = existing
			return nil
		} else if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		var live int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM payment_methods WHERE user_id = $1 AND removed_at IS NULL`, pm.UserID).Scan(&live); err != nil {
			return err
		}
		makeDefault := pm.IsDefault || live == 0
		if makeDefault {
			if _, err := tx.Exec(ctx, `UPDATE payment_methods SET is_default = false WHERE user_id = $1 AND is_default`, pm.UserID); err != nil {
				return err
			}
		}
		if existing != nil {
			// Saved again after removal: bring it back.
			saved, err = scanPaymentMethod(tx.QueryRow(ctx, `UPDATE payment_methods SET removed_at = NULL, is_default = $2
				WHERE user_id = $3 AND id = $1 RETURNING `+paymentMethodColumns, existing.ID, makeDefault, pm.UserID))
			return err
		}
		saved, err = scanPaymentMethod(tx.QueryRow(ctx, `INSERT INTO payment_methods
			(user_id, provider_customer_id, provider_payment_method_id, brand, last4, exp_month, exp_year, is_default)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING `+paymentMethodColumns,
			pm.UserID, pm.ProviderCustomerID, pm.ProviderPaymentMethodID, pm.Brand, pm.Last4, pm.ExpMonth, pm.ExpYear, makeDefault))
		return err
	})
	return saved, err
}

// FindPaymentMethodByID returns one of the user's saved cards (removed ones too), or ENOTFOUND.
func (db *DB) FindPaymentMethodByID(ctx context.Context, userID, id string) (*giveathon.PaymentMethod, error) {
	if !giveathon.IsUUID(id) {
		return nil, giveathon.Errorf(giveathon.ENOTFOUND, "payment method not found")
	}
	pm, err := scanPaymentMethod(db.QueryRow(ctx, `SELECT `+paymentMethodColumns+` FROM payment_methods
		WHERE id = $1 AND user_id = $2`, id, userID))
	return pm, oneRow(err, "payment method", "find payment method")
}

// FindPaymentMethods returns the user's saved (not removed) cards, the default first.
func (db *DB) FindPaymentMethods(ctx context.Context, userID string) ([]*giveathon.PaymentMethod, error) {
	return db.findPaymentMethods(ctx, userID, `removed_at IS NULL`)
}

// FindEveryPaymentMethod returns every card the user ever saved, removed ones too (what an
// account's erasure detaches at the provider), the default first.
func (db *DB) FindEveryPaymentMethod(ctx context.Context, userID string) ([]*giveathon.PaymentMethod, error) {
	return db.findPaymentMethods(ctx, userID, `true`)
}

// findPaymentMethods returns the user's cards that meet which (SQL on payment_methods).
func (db *DB) findPaymentMethods(ctx context.Context, userID, which string) ([]*giveathon.PaymentMethod, error) {
	var list []*giveathon.PaymentMethod
	err := db.Retry(ctx, func(ctx context.Context) error {
		rows, err := db.Pool.Query(ctx, `SELECT `+paymentMethodColumns+` FROM payment_methods
			WHERE user_id = $1 AND `+which+` ORDER BY is_default DESC, created_at, id`, userID)
		if err == nil {
			list, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*giveathon.PaymentMethod, error) { return scanPaymentMethod(r) })
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("find payment methods: %w", err)
	}
	return list, nil
}

// RemovePaymentMethod marks one of the user's cards removed and returns it; donations that
// used it keep pointing at it. Removing a removed card is ENOTFOUND.
func (db *DB) RemovePaymentMethod(ctx context.Context, userID, id string) (*giveathon.PaymentMethod, error) {
	if !giveathon.IsUUID(id) {
		return nil, giveathon.Errorf(giveathon.ENOTFOUND, "payment method not found")
	}
	// One conditional statement: of two removals, one wins.
	pm, err := scanPaymentMethod(db.QueryRow(ctx, `UPDATE payment_methods SET removed_at = now(), is_default = false
		WHERE id = $1 AND user_id = $2 AND removed_at IS NULL RETURNING `+paymentMethodColumns, id, userID))
	return pm, oneRow(err, "payment method", "remove payment method")
}
