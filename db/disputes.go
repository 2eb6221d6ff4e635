package db

import (
	"context"
	"errors"
	"fmt"

	"github.com/giveathon/giveathon"
	"github.com/jackc/pgx/v5"
)

// SaveDispute records a dispute as the provider reports it now (a new one, or its later state).
// A dispute of a partner's gift writes the partner's donation.disputed event in the same
// statement, once: the first report of it, whichever it is.
func (db *DB) SaveDispute(ctx context.Context, d giveathon.Dispute) error {
	_, err := db.Exec(ctx, `WITH saved AS (
			INSERT INTO disputes (provider_dispute_id, user_id, donation_id, status, reason, amount_cents)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (provider_dispute_id) DO UPDATE SET status = excluded.status, reason = excluded.reason,
				amount_cents = excluded.amount_cents, updated_at = now()
			-- Events come in any order: a closed dispute is not reopened by a late one.
			WHERE disputes.status <> ALL($8::text[]) OR excluded.status = ANY($8::text[])
			RETURNING 1),
		m AS (SELECT `+donationColumns+` FROM donations WHERE user_id = $2 AND id = $3 AND partner_id IS NOT NULL)
		INSERT INTO partner_events (partner_id, donation_id, type, data)
		SELECT m.partner_id::uuid, m.id::uuid, $7, `+sqlPartnerEventData("m", "c")+`
		FROM m JOIN charities c ON c.id = m.charity_id::uuid WHERE EXISTS (SELECT 1 FROM saved)
		ON CONFLICT (donation_id, type) WHERE donation_id IS NOT NULL DO NOTHING`,
		d.ProviderDisputeID, d.UserID, d.DonationID, d.Status, d.Reason, d.AmountCents, giveathon.EventDonationDisputed, giveathon.ClosedDisputeStatuses)
	if err != nil {
		return fmt.Errorf("save dispute %s: %w", d.ProviderDisputeID, err)
	}
	return nil
}

// FindDispute returns a donation's latest dispute, or nil when it has none.
func (db *DB) FindDispute(ctx context.Context, userID, donationID string) (*giveathon.Dispute, error) {
	d := &giveathon.Dispute{}
	err := db.QueryRow(ctx, `SELECT provider_dispute_id, user_id::text, donation_id::text, status, reason, amount_cents
		FROM disputes WHERE user_id = $1 AND donation_id = $2 ORDER BY created_at DESC LIMIT 1`, userID, donationID).
		Scan(&d.ProviderDisputeID, &d.UserID, &d.DonationID, &d.Status, &d.Reason, &d.AmountCents)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("find the dispute of %s: %w", donationID, err)
	}
	return d, nil
}
