package graph

import (
	"context"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/auth"
	"github.com/giveathon/giveathon/graph/model"
)

// ownDonation returns one of the signed-in donor's donations by global or raw id; anyone
// else's, and ids that are not donations, are NOT_FOUND.
func (r *Resolver) ownDonation(ctx context.Context, id string) (*giveathon.Donation, error) {
	u, raw, err := signedInAndDonationID(ctx, id)
	if err != nil {
		return nil, err
	}
	return r.DonationService.FindDonationByID(ctx, u.ID, raw)
}

// signedInAndDonationID returns the signed-in donor and the raw id of a donation's global or
// raw id.
func signedInAndDonationID(ctx context.Context, id string) (*giveathon.User, string, error) {
	u, err := auth.RequireUser(ctx)
	if err != nil {
		return nil, "", err
	}
	raw, err := parseID(typeDonation, id)
	if err != nil {
		return nil, "", err
	}
	return u, raw, nil
}

// submitInput decodes the GraphQL input: the ids must be a charity's and a payment method's.
func submitInput(in model.SubmitDonationInput) (giveathon.SubmitDonationInput, error) {
	charityID, err := parseID(typeCharity, in.CharityID)
	if err != nil {
		return giveathon.SubmitDonationInput{}, giveathon.Invalid("charityId", "charityId is not a charity's id")
	}
	pmID, err := parseID(typePaymentMethod, in.PaymentMethodID)
	if err != nil {
		return giveathon.SubmitDonationInput{}, giveathon.Invalid("paymentMethodId", "paymentMethodId is not a payment method's id")
	}
	out := giveathon.SubmitDonationInput{
		CharityID:       charityID,
		AmountCents:     int64(in.AmountCents),
		PaymentMethodID: pmID,
		IdempotencyKey:  in.IdempotencyKey,
	}
	if in.Currency != nil {
		out.Currency = *in.Currency
	}
	if in.ConfirmDuplicate != nil {
		out.ConfirmDuplicate = *in.ConfirmDuplicate
	}
	if in.Message != nil {
		out.Message = *in.Message
	}
	if in.Anonymous != nil {
		out.Anonymous = *in.Anonymous
	}
	return out, nil
}

// optional turns "" into null.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
