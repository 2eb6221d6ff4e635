package main

import (
	"context"
	"slices"
	"time"

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
	admins, err := a.admins(ctx)
	if err != nil {
		return err
	}
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

// admins returns every admin's e-mail, by configuration and recorded in the database.
func (a *alerts) admins(ctx context.Context) ([]string, error) {
	recorded, err := a.db.FindAdminEmails(ctx)
	if err != nil {
		return nil, err
	}
	admins := append(slices.Clone(a.configured), recorded...)
	slices.Sort(admins)
	return slices.Compact(admins), nil
}

// EndpointDisabled implements webhooks.Notifier: the partner's contact e-mail, or every
// admin when it has none.
func (a *alerts) EndpointDisabled(ctx context.Context, ep *giveathon.WebhookEndpoint, reason string) error {
	name, contact, err := a.db.WebhookContact(ctx, ep.PartnerID)
	if err != nil {
		return err
	}
	to := []string{}
	if contact != nil && *contact != "" {
		to = append(to, *contact)
	} else if to, err = a.admins(ctx); err != nil {
		return err
	}
	if len(to) == 0 {
		return nil
	}
	return a.mailer.SendEndpointDisabled(ctx, notify.EndpointEmail{EndpointID: ep.ID, PartnerName: name, URL: ep.URL,
		Reason: reason, DisabledAt: time.Now()}, to)
}
