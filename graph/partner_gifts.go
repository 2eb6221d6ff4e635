package graph

import (
	"context"
	"strconv"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/auth"
	"github.com/giveathon/giveathon/graph/model"
)

// typePartnerDonation is the global ID type of a gift as its partner sees it.
const typePartnerDonation = "PartnerDonation"

// partnerEventsPoll is how often a partnerEvents subscription looks for new events once it has
// sent all there are.
var partnerEventsPoll = 500 * time.Millisecond

// defaultPartnerEventsPage is partnerEvents' page when first is not given (the schema's
// default).
const defaultPartnerEventsPage = 100

// partnerSubmitDonation gives for one of the calling partner's donors (DONATIONS_WRITE).
func (r *Resolver) partnerSubmitDonation(ctx context.Context, input model.PartnerSubmitDonationInput) (*giveathon.SubmitResult, error) {
	c, err := auth.RequireScope(ctx, giveathon.ScopeDonationsWrite)
	if err != nil {
		return nil, err
	}
	charityID, err := parseID(typeCharity, input.CharityID)
	if err != nil {
		return nil, giveathon.Invalid("charityId", "charityId is not a charity's id")
	}
	in := giveathon.SubmitDonationInput{
		CharityID: charityID, AmountCents: int64(input.AmountCents), IdempotencyKey: input.IdempotencyKey,
		Partner: &giveathon.PartnerGift{ProviderPaymentMethodID: input.ProviderPaymentMethodID},
	}
	if d := input.Donor; d != nil {
		in.Partner.DonorEmail, in.Partner.DonorName = d.Email, d.Name
	}
	for _, o := range []struct {
		from *string
		to   *string
	}{{input.Currency, &in.Currency}, {input.Message, &in.Message}, {input.PartnerReference, &in.Partner.Reference}} {
		if o.from != nil {
			*o.to = *o.from
		}
	}
	if input.Anonymous != nil {
		in.Anonymous = *input.Anonymous
	}
	if input.ConfirmDuplicate != nil {
		in.ConfirmDuplicate = *input.ConfirmDuplicate
	}
	return r.PartnerGifts.PartnerSubmitDonation(ctx, c.Partner.ID, in)
}

// partnerDonation returns one of the calling partner's gifts by its PartnerDonation or
// Donation id (DONATIONS_READ); another partner's, or no gift, is null.
func (r *Resolver) partnerDonation(ctx context.Context, id string) (*giveathon.PartnerDonation, error) {
	c, err := auth.RequireScope(ctx, giveathon.ScopeDonationsRead)
	if err != nil {
		return nil, err
	}
	raw, err := parseID(typePartnerDonation, id)
	if err != nil {
		if raw, err = parseID(typeDonation, id); err != nil {
			return nil, nil
		}
	}
	p, err := r.PartnerGifts.FindPartnerDonation(ctx, c.Partner.ID, raw)
	if giveathon.ErrorCode(err) == giveathon.ENOTFOUND {
		return nil, nil
	}
	return p, err
}

// partnerDonations pages through the calling partner's gifts, newest first (DONATIONS_READ).
func (r *Resolver) partnerDonations(ctx context.Context, first *int, after *string, filter *model.PartnerDonationFilter) (*model.PartnerDonationConnection, error) {
	c, err := auth.RequireScope(ctx, giveathon.ScopeDonationsRead)
	if err != nil {
		return nil, err
	}
	p := page(first, after)
	f := giveathon.PartnerDonationFilter{PartnerID: c.Partner.ID, Page: p}
	if filter != nil {
		f.Status, f.PartnerReference = filter.Status, filter.PartnerReference
	}
	list, cursors, err := r.PartnerGifts.FindPartnerDonations(ctx, f)
	if err != nil {
		return nil, err
	}
	conn := &model.PartnerDonationConnection{}
	for i, d := range list {
		conn.Edges = append(conn.Edges, &model.PartnerDonationEdge{Cursor: cursors[i], Node: d})
	}
	conn.Edges, conn.PageInfo = trimPage(conn.Edges, p, func(e *model.PartnerDonationEdge) string { return e.Cursor })
	return conn, nil
}

// nodePartnerDonation resolves a PartnerDonation's global ID for its own partner only.
func (r *Resolver) nodePartnerDonation(ctx context.Context, id string) (model.Node, error) {
	if giveathon.CallerFromContext(ctx) == nil {
		return nil, nil
	}
	p, err := r.partnerDonation(ctx, id)
	if p == nil || err != nil {
		return nil, err
	}
	return p, nil
}

// mayActOn reports whether the request acts for the donation's owner: its signed-in donor, or
// the partner it came through.
func mayActOn(ctx context.Context, d *giveathon.Donation) bool {
	if u := giveathon.UserFromContext(ctx); u != nil && u.ID == d.UserID {
		return true
	}
	c := giveathon.CallerFromContext(ctx)
	return c != nil && c.Partner != nil && d.PartnerID != "" && c.Partner.ID == d.PartnerID
}

// afterSequence reads a partnerEvents cursor: a sequence number as a decimal string ("" or
// null: from the start).
func afterSequence(after *string) (int64, error) {
	if after == nil || *after == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(*after, 10, 64)
	if err != nil || n < 0 {
		return 0, giveathon.Invalid("after", "after must be an event's cursor: its sequence number, as a string")
	}
	return n, nil
}

// partnerEvents pages through the calling partner's events in sequence order (DONATIONS_READ).
func (r *Resolver) partnerEvents(ctx context.Context, after *string, first *int) (*model.PartnerEventConnection, error) {
	c, err := auth.RequireScope(ctx, giveathon.ScopeDonationsRead)
	if err != nil {
		return nil, err
	}
	from, err := afterSequence(after)
	if err != nil {
		return nil, err
	}
	n, err := firstArg(first, defaultPartnerEventsPage, giveathon.MaxPartnerEventsPage)
	if err != nil {
		return nil, err
	}
	list, err := r.PartnerGifts.FindPartnerEvents(ctx, c.Partner.ID, from, n)
	if err != nil {
		return nil, err
	}
	conn := &model.PartnerEventConnection{}
	for _, e := range list {
		conn.Edges = append(conn.Edges, &model.PartnerEventEdge{Cursor: strconv.FormatInt(e.Seq, 10), Node: e})
	}
	conn.Edges, conn.PageInfo = trimEdges(conn.Edges, n, from > 0, func(e *model.PartnerEventEdge) string { return e.Cursor })
	return conn, nil
}

// totalsCheckpoint gives the calling partner's totals at a sequence number (TOTALS_READ or
// DONATIONS_READ).
func (r *Resolver) totalsCheckpoint(ctx context.Context, sequence *int64) (*giveathon.TotalsCheckpoint, error) {
	c, err := auth.RequireScope(ctx, giveathon.ScopeTotalsRead)
	if giveathon.ErrorCode(err) == giveathon.EFORBIDDEN && giveathon.CallerFromContext(ctx) != nil {
		c, err = auth.RequireScope(ctx, giveathon.ScopeDonationsRead)
	}
	if err != nil {
		return nil, err
	}
	return r.PartnerGifts.FindTotalsCheckpoint(ctx, c.Partner.ID, sequence)
}

// subscribePartnerEvents streams the calling partner's events after a cursor (null: from its
// latest), in order, then live (DONATIONS_READ). It ends with the connection, which the socket
// closes when its key stops being valid.
func (r *Resolver) subscribePartnerEvents(ctx context.Context, after *string) (<-chan *giveathon.PartnerEvent, error) {
	c, err := auth.RequireScope(ctx, giveathon.ScopeDonationsRead)
	if err != nil {
		return nil, err
	}
	from, err := afterSequence(after)
	if err != nil {
		return nil, err
	}
	if after == nil {
		now, err := r.PartnerGifts.FindTotalsCheckpoint(ctx, c.Partner.ID, nil)
		if err != nil {
			return nil, err
		}
		from = now.Sequence
	}
	out := make(chan *giveathon.PartnerEvent, 1)
	go func() {
		defer close(out)
		wait := time.Duration(0)
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			list, err := r.PartnerGifts.FindPartnerEvents(ctx, c.Partner.ID, from, giveathon.MaxPartnerEventsPage)
			if err != nil {
				if ctx.Err() == nil {
					r.Logger.WarnContext(ctx, "partnerEvents subscription: read failed, will try again", "err", err)
				}
				wait = time.Second
				continue
			}
			for _, e := range list {
				select {
				case out <- e:
					from = e.Seq
				case <-ctx.Done():
					return
				}
			}
			wait = partnerEventsPoll
			if len(list) > giveathon.MaxPartnerEventsPage {
				wait = 0
			}
		}
	}()
	return out, nil
}
