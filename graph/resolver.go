// Package graph is Giveathon's GraphQL adapter: thin gqlgen resolvers that authenticate,
// call the domain services and convert, and the HTTP handler that serves them.
package graph

import (
	"context"
	"log/slog"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/auth"
	"github.com/giveathon/giveathon/graph/model"
)

//go:generate go tool gqlgen generate

// Resolver holds the services the resolvers call.
type Resolver struct {
	Auth                 giveathon.AuthService
	CharityService       giveathon.CharityService
	DonationService      giveathon.DonationService
	PaymentMethodService giveathon.PaymentMethodService
	// Admin serves the admins' fields (the console, charities, the audit log).
	Admin giveathon.AdminService
	// Partners are the partners and their API keys; Keys issues and checks the keys.
	Partners giveathon.PartnerService
	Keys     giveathon.KeyService

	// AccountService gives donors their own data and deletes their accounts.
	AccountService giveathon.AccountService
	// Guard enforces the abuse limits on donations and cards; nil: none.
	Guard     *auth.Guard
	Refresher Refresher
	Refunds   Refunds
	// PartnerGifts takes partners' gifts and shows them their gifts and events.
	PartnerGifts   giveathon.PartnerGiftService
	PaymentIntents ClientSecrets
	// AuthenticateURL, when set (the sandbox), gives the page where a donor completes 3-D
	// Secure for a PaymentIntent, which then sends them back to returnPath (the donation's
	// page in the web app).
	// Secure for a PaymentIntent.
	AuthenticateURL func(paymentIntentID, clientSecret, returnPath string) string
	// Live serves the event, its totals and the subscriptions.
	Live *Live
	// Payments tells the web app how to collect cards.
	Payments model.PaymentsConfig
	// Webhooks serves partners' webhook endpoints and their deliveries.
	Webhooks WebhookService
	Logger   *slog.Logger
}

// Refunds refunds donations and reads their disputes (settlement.Service).
type Refunds interface {
	// Refund returns the donation before and after the refund.
	Refund(ctx context.Context, userID, donationID, reason string) (before, after *giveathon.Donation, err error)
	FindDispute(ctx context.Context, d *giveathon.Donation) (*giveathon.Dispute, error)
}

// Refresher re-reads a donation's payment from the provider and applies it.
type Refresher interface {
	Refresh(ctx context.Context, d *giveathon.Donation) (*giveathon.Donation, error)
}

// ClientSecrets reads a PaymentIntent's client secret, for the donor's browser.
type ClientSecrets interface {
	ClientSecret(ctx context.Context, paymentIntentID string) (string, error)
}

// giveBackIfUnavailable gives a donor's counted try back when the payment provider never
// answered it (busy, unreachable: EUNAVAILABLE), so a donor who retries through an outage is not
// locked out by the limits; it returns err unchanged.
func (r *Resolver) giveBackIfUnavailable(ctx context.Context, hold *auth.Reservation, err error) error {
	if giveathon.ErrorCode(err) == giveathon.EUNAVAILABLE {
		if rerr := hold.Release(context.WithoutCancel(ctx)); rerr != nil {
			r.Logger.WarnContext(ctx, "give back a donor's try", "err", rerr)
		}
	}
	return err
}
