package testenv

import (
	"context"
	"testing"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/db"
	"github.com/google/uuid"
)

// Donor is a donor with a saved card, written straight into the database for tests below the
// API.
type Donor struct {
	UserID, CharityID, PaymentMethodID string
	// CustomerID and CardID are the provider's ids of the donor and the card.
	CustomerID, CardID string
}

// NewDonor writes a donor, a charity and the donor's card.
func NewDonor(t testing.TB, d *db.DB) *Donor {
	t.Helper()
	ctx := context.Background()
	n := uuid.NewString()
	don := &Donor{CustomerID: "cus_" + n[:8], CardID: "pm_card_visa"}
	err := d.Pool.QueryRow(ctx, `WITH u AS (
			INSERT INTO users (email, name, password_hash, provider_customer_id) VALUES ($1, 'Test Donor', 'x', $2) RETURNING id),
		c AS (INSERT INTO charities (slug, name, description, ein, active) VALUES ($3, 'Test Charity', '', '12-3456789', true) RETURNING id),
		pm AS (INSERT INTO payment_methods (user_id, provider_customer_id, provider_payment_method_id, brand, last4, exp_month, exp_year, is_default)
			SELECT id, $2, $4, 'visa', '4242', 12, 2040, true FROM u RETURNING id)
		SELECT u.id::text, c.id::text, pm.id::text FROM u, c, pm`,
		n+"@example.test", don.CustomerID, "charity-"+n, don.CardID).Scan(&don.UserID, &don.CharityID, &don.PaymentMethodID)
	if err != nil {
		t.Fatalf("write a donor: %v", err)
	}
	return don
}

// Donation writes one of the donor's donations in status, as if it had got there.
func (don *Donor) Donation(t testing.TB, d *db.DB, status giveathon.DonationStatus, amountCents int64) *giveathon.Donation {
	t.Helper()
	ctx := context.Background()
	var id string
	err := d.Pool.QueryRow(ctx, `INSERT INTO donations
		(user_id, charity_id, amount_cents, currency, status, idempotency_key, request_hash, payment_method_id)
		VALUES ($1, $2, $3, 'USD', $4, $5, 'test', $6) RETURNING id::text`,
		don.UserID, don.CharityID, amountCents, string(status), uuid.NewString(), don.PaymentMethodID).Scan(&id)
	if err != nil {
		t.Fatalf("write a donation: %v", err)
	}
	dn, err := d.FindDonation(ctx, don.UserID, id)
	if err != nil {
		t.Fatal(err)
	}
	return dn
}

// NewPartner writes a partner and returns its id.
func NewPartner(t testing.TB, d *db.DB) string {
	t.Helper()
	var id string
	if err := d.Pool.QueryRow(context.Background(), `INSERT INTO partners (name) VALUES ('Stream Co') RETURNING id::text`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}
