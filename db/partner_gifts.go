package db

import (
	"context"
	"errors"
	"fmt"

	"github.com/giveathon/giveathon"
	"github.com/jackc/pgx/v5"
)

// noPassword is the password hash of an account that can never sign in: no argon2id hash
// matches it (a partner's donor, an erased account).
const noPassword = "!"

// EnsurePartnerDonor returns the partner's donor with a case-folded e-mail, made (with the
// name, and no password: it never signs in) when the partner has none yet. Two first gifts at
// once make one donor: the second finds the first's row.
func (db *DB) EnsurePartnerDonor(ctx context.Context, partnerID, email, name string) (*giveathon.User, error) {
	u, err := scanUser(db.QueryRow(ctx, `INSERT INTO users (email, name, password_hash, partner_id) VALUES ($2, $3, $4, $1)
		ON CONFLICT (partner_id, email) WHERE partner_id IS NOT NULL DO NOTHING RETURNING `+userColumns,
		partnerID, email, name, noPassword))
	if errors.Is(err, pgx.ErrNoRows) {
		u, err = scanUser(db.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE partner_id = $1 AND email = $2`, partnerID, email))
	}
	if err != nil {
		return nil, fmt.Errorf("find or make the donor of partner %s: %w", partnerID, err)
	}
	return u, nil
}

// FindPartnerGift returns the partner's gift under its idempotency key, or nil when there is
// none.
func (db *DB) FindPartnerGift(ctx context.Context, partnerID, idempotencyKey string) (*giveathon.Donation, error) {
	d, err := scanDonation(db.QueryRow(ctx, `SELECT `+donationColumnsOf("d.")+` FROM partner_gifts g
		JOIN donations d ON d.user_id = g.user_id AND d.id = g.donation_id
		WHERE g.partner_id = $1 AND g.idempotency_key = $2`, partnerID, idempotencyKey))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("find the gift of partner %s under its key: %w", partnerID, err)
	}
	return d, nil
}

// sqlPartnerDonationColumns are a partner's gift's columns: the donation's, then its donor's
// e-mail and name.
var sqlPartnerDonationColumns = donationColumnsOf("d.") + `, u.email, u.name`

func scanPartnerDonation(row pgx.Row) (*giveathon.PartnerDonation, error) {
	var p giveathon.PartnerDonation
	var err error
	p.Donation, err = scanDonation(row, &p.DonorEmail, &p.DonorName)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// FindPartnerDonation returns one of the partner's gifts with its donor, or ENOTFOUND: another
// partner's gift, and a donor's own, are not found.
func (db *DB) FindPartnerDonation(ctx context.Context, partnerID, id string) (*giveathon.PartnerDonation, error) {
	if !giveathon.IsUUID(id) {
		return nil, giveathon.Errorf(giveathon.ENOTFOUND, "donation not found")
	}
	p, err := scanPartnerDonation(db.QueryRow(ctx, `SELECT `+sqlPartnerDonationColumns+`
		FROM donations d JOIN users u ON u.id = d.user_id
		WHERE d.id = $2 AND d.partner_id = $1`, partnerID, id))
	return p, oneRow(err, "donation", "find a partner's donation")
}

// A page of a partner's gifts (pageAfter), and a page of those with one reference ($6). The
// reference's is a statement of its own, which reads donations_partner_reference_idx: a
// generic plan cannot drop "$5 IS NULL OR ..." (as it was written) by its argument, and would look for the
// reference among all the partner's gifts, hundreds of thousands at an event.
var (
	sqlPartnerGiftsPage        = partnerGiftsPage("")
	sqlPartnerGiftsByReference = partnerGiftsPage("AND d.partner_reference = $6")
)

func partnerGiftsPage(cond string) string {
	return `SELECT ` + sqlPartnerDonationColumns + `
	FROM donations d JOIN users u ON u.id = d.user_id
	WHERE d.partner_id = $1 AND (d.created_at, d.id) < ($2, $3::uuid) AND ($4::text IS NULL OR d.status = $4) ` + cond + `
	ORDER BY d.created_at DESC, d.id DESC LIMIT $5`
}

// FindPartnerDonations returns a page of the partner's gifts, newest first by (created_at, id),
// from donations_partner_created_idx (or donations_partner_reference_idx), with their cursors.
func (db *DB) FindPartnerDonations(ctx context.Context, f giveathon.PartnerDonationFilter) ([]*giveathon.PartnerDonation, []string, error) {
	f, err := f.Validate()
	if err != nil {
		return nil, nil, err
	}
	page := f.Page
	var status any
	if f.Status != nil {
		status = string(*f.Status)
	}
	after, err := pageAfter(page.After)
	if err != nil {
		return nil, nil, err
	}
	sql, args := sqlPartnerGiftsPage, []any{f.PartnerID, after.CreatedAt, after.ID, status, page.First + 1}
	if f.PartnerReference != nil {
		sql, args = sqlPartnerGiftsByReference, append(args, *f.PartnerReference)
	}
	rows, err := db.Pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("find a partner's donations: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*giveathon.PartnerDonation, error) { return scanPartnerDonation(r) })
	if err != nil {
		return nil, nil, fmt.Errorf("find a partner's donations: %w", err)
	}
	cursors := make([]string, len(list))
	for i, p := range list {
		cursors[i] = keysetCursor(p.CreatedAt, p.ID)
	}
	return list, cursors, nil
}
