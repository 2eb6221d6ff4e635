package main

import (
	"context"
	"slices"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/db"
	"github.com/giveathon/giveathon/notify"
)

// alerts e-mails the organisers (settlement.Alerts): every admin, by configuration
// (ADMIN_EMAILS) and recorded in the database (giveathon admin grant).
type alerts struct {
	db         *db.DB
	mailer     *notify.Mailer
	configured []string
	publicURL  string
}

// DisputeOpened implements settlement.Alerts.
func (a *alerts) DisputeOpened(ctx context.Context, d *giveathon.Donation, dispute giveathon.Dispute) error {
	recorded, err := a.db.FindAdminEmails(ctx)
	if err != nil {
		return err
	}
	admins := append(slices.Clone(a.configured), recorded...)
	slices.Sort(admins)
	admins = slices.Compact(admins)
	if len(admins) == 0 {
		return nil
	}
	charity := ""
	if c, err := a.db.FindCharityByID(ctx, d.CharityID); err == nil {
		charity = c.Name
	}
	return a.mailer.SendDisputeOpened(ctx, notify.DisputeEmail{DisputeID: dispute.ProviderDisputeID, DonationID: d.ID,
		CharityName: charity, AmountCents: dispute.AmountCents, Currency: d.Currency, Reason: dispute.Reason,
		ConsoleURL: a.publicURL + "/console"}, admins)
}
