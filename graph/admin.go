package graph

import (
	"context"
	"encoding/json"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/auth"
	"github.com/giveathon/giveathon/graph/model"
)

// adminDonations is the adminDonations field: any donor's donations, for an admin.
func (r *Resolver) adminDonations(ctx context.Context, filter *model.AdminDonationFilter, first *int, after *string) (*model.AdminDonationConnection, error) {
	if _, err := auth.RequireAdmin(ctx); err != nil {
		return nil, err
	}
	f := giveathon.AdminDonationFilter{Page: page(first, after)}
	if filter != nil {
		f.Status, f.CreatedAfter, f.CreatedBefore = filter.Status, filter.CreatedAfter, filter.CreatedBefore
		if filter.Email != nil {
			f.Email = *filter.Email
		}
		if filter.CharityID != nil {
			raw, err := parseID(typeCharity, *filter.CharityID)
			if err != nil {
				return nil, giveathon.Invalid("charityId", "charityId is not a charity's id")
			}
			f.CharityID = raw
		}
	}
	list, cursors, total, err := r.Admin.FindAdminDonations(ctx, f)
	if err != nil {
		return nil, err
	}
	conn := &model.AdminDonationConnection{TotalCount: total}
	for i, d := range list {
		conn.Edges = append(conn.Edges, &model.AdminDonationEdge{Cursor: cursors[i], Node: d.Donation,
			Donor: &model.Donor{ID: globalID(typeUser, d.UserID), Email: d.DonorEmail, Name: d.DonorName}})
	}
	conn.Edges, conn.PageInfo = trimPage(conn.Edges, f.Page, func(e *model.AdminDonationEdge) string { return e.Cursor })
	return conn, nil
}

// adminAuditLog is the adminAuditLog field, for an admin.
func (r *Resolver) adminAuditLog(ctx context.Context, first *int, after *string) (*model.AdminActionConnection, error) {
	if _, err := auth.RequireAdmin(ctx); err != nil {
		return nil, err
	}
	p := page(first, after)
	list, cursors, total, err := r.Admin.FindAdminActions(ctx, p)
	if err != nil {
		return nil, err
	}
	conn := &model.AdminActionConnection{TotalCount: total}
	for i, a := range list {
		node := &model.AdminAction{ID: a.ID, ActorEmail: a.ActorEmail, Action: a.Action, ObjectType: a.ObjectType,
			ObjectID: a.ObjectID, Before: jsonText(a.Before), After: jsonText(a.After), CreatedAt: a.CreatedAt}
		if a.ActorID != "" {
			id := globalID(typeUser, a.ActorID)
			node.ActorID = &id
		}
		switch a.ObjectType {
		case typeCharity, typeDonation, typePartner, typeAPIKey, typeUser:
			// The id clients use for it (a Partner's and an ApiKey's were raw).
			if giveathon.IsUUID(a.ObjectID) {
				node.ObjectID = globalID(a.ObjectType, a.ObjectID)
			}
		}
		conn.Edges = append(conn.Edges, &model.AdminActionEdge{Cursor: cursors[i], Node: node})
	}
	conn.Edges, conn.PageInfo = trimPage(conn.Edges, p, func(e *model.AdminActionEdge) string { return e.Cursor })
	return conn, nil
}

// jsonText returns an audit line's object as JSON text (nil: none).
func jsonText(v any) *string {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	s := string(b)
	return &s
}

// createCharity is the createCharity mutation, for an admin.
func (r *Resolver) createCharity(ctx context.Context, in model.CreateCharityInput) (*giveathon.Charity, error) {
	admin, err := auth.RequireAdmin(ctx)
	if err != nil {
		return nil, err
	}
	return r.Admin.CreateCharity(ctx, admin, giveathon.CharityInput{Name: &in.Name, EIN: &in.Ein,
		Description: in.Description, Slug: in.Slug, Active: in.Active})
}

// updateCharity is the updateCharity mutation, for an admin.
func (r *Resolver) updateCharity(ctx context.Context, id string, in model.UpdateCharityInput) (*giveathon.Charity, error) {
	admin, err := auth.RequireAdmin(ctx)
	if err != nil {
		return nil, err
	}
	raw, err := parseID(typeCharity, id)
	if err != nil {
		return nil, err
	}
	return r.Admin.UpdateCharity(ctx, admin, raw, giveathon.CharityInput{Name: in.Name, EIN: in.Ein,
		Description: in.Description, Slug: in.Slug, Active: in.Active})
}
