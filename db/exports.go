package db

import (
	"context"
	"fmt"
	"time"

	"github.com/giveathon/giveathon"
)

// ExportRow is one donation of the CSV export, with its charity and donor.
type ExportRow struct {
	Donation    giveathon.Donation
	CharityName string
	DonorEmail  string
	DonorName   string
}

// ExportDonations calls fn for every donation that f selects (its page is ignored), oldest
// first, reading them row by row from one query: the set is never held in memory.
func (db *DB) ExportDonations(ctx context.Context, f giveathon.AdminDonationFilter, fn func(*ExportRow) error) error {
	where, args, err := adminDonationsWhere(f)
	if err != nil {
		return err
	}
	rows, err := db.Pool.Query(ctx, `SELECT `+donationColumnsOf("d.")+`, c.name, u.email, u.name
		FROM donations d JOIN users u ON u.id = d.user_id JOIN charities c ON c.id = d.charity_id
		WHERE `+where+` ORDER BY d.created_at, d.id`, args...)
	if err != nil {
		return fmt.Errorf("export donations: %w", err)
	}
	defer rows.Close()
	var r ExportRow
	for rows.Next() {
		d, err := scanDonation(rows, &r.CharityName, &r.DonorEmail, &r.DonorName)
		if err != nil {
			return fmt.Errorf("export donations: %w", err)
		}
		r.Donation = *d
		if err := fn(&r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("export donations: %w", err)
	}
	return nil
}

// CharityPayout is one charity's totals for the payout.
type CharityPayout struct {
	Charity        giveathon.Charity
	Succeeded      int64
	SucceededCents int64
	Refunded       int64
	RefundedCents  int64
	LastGiftAt     *time.Time
}

// ExportCharityPayouts calls fn for every charity, by name, with its succeeded and refunded
// donations counted from the donations themselves.
func (db *DB) ExportCharityPayouts(ctx context.Context, fn func(*CharityPayout) error) error {
	rows, err := db.Pool.Query(ctx, `SELECT `+charityColumnsOf("c.")+`,
		count(d.id) FILTER (WHERE d.status = $1), coalesce(sum(d.amount_cents) FILTER (WHERE d.status = $1), 0),
		count(d.id) FILTER (WHERE d.status = $2), coalesce(sum(d.amount_cents) FILTER (WHERE d.status = $2), 0),
		max(d.settled_at) FILTER (WHERE d.status = $1)
		FROM charities c LEFT JOIN donations d ON d.charity_id = c.id
		GROUP BY c.id ORDER BY c.name, c.id`, string(giveathon.StatusSucceeded), string(giveathon.StatusRefunded))
	if err != nil {
		return fmt.Errorf("export charities: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var p CharityPayout
		c, err := scanCharity(rows, &p.Succeeded, &p.SucceededCents, &p.Refunded, &p.RefundedCents, &p.LastGiftAt)
		if err != nil {
			return fmt.Errorf("export charities: %w", err)
		}
		p.Charity = *c
		if err := fn(&p); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("export charities: %w", err)
	}
	return nil
}
