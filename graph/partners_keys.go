package graph

import (
	"context"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/auth"
	"github.com/giveathon/giveathon/graph/model"
)

// Global ID type names of partners and their keys.
const (
	typePartner = "Partner"
	typeAPIKey  = "ApiKey"
)

// partners is the partners field: every partner, newest first, for an admin.
func (r *Resolver) partners(ctx context.Context, first *int, after *string) (*model.PartnerConnection, error) {
	if _, err := auth.RequireAdmin(ctx); err != nil {
		return nil, err
	}
	p := page(first, after)
	list, cursors, err := r.Partners.FindPartners(ctx, p)
	if err != nil {
		return nil, err
	}
	conn := &model.PartnerConnection{}
	for i, partner := range list {
		conn.Edges = append(conn.Edges, &model.PartnerEdge{Cursor: cursors[i], Node: partner})
	}
	conn.Edges, conn.PageInfo = trimPage(conn.Edges, p, func(e *model.PartnerEdge) string { return e.Cursor })
	return conn, nil
}

// callerPartner is the partner field: the partner the request's API key acts for (any scope);
// null to a donor or a visitor, and UNAUTHENTICATED, with the reason, when the API key sent
// was refused.
func (r *Resolver) callerPartner(ctx context.Context) (*giveathon.Partner, error) {
	if c := giveathon.CallerFromContext(ctx); c != nil {
		return c.Partner, nil
	}
	if err := auth.AuthError(ctx); err != nil && auth.IsAPIKey(auth.RequestToken(ctx)) {
		return nil, err
	}
	return nil, nil
}

// partnerAPIKeys is Partner.apiKeys: the partner's keys, for an admin.
func (r *Resolver) partnerAPIKeys(ctx context.Context, p *giveathon.Partner) ([]*giveathon.APIKey, error) {
	if _, err := auth.RequireAdmin(ctx); err != nil {
		return nil, err
	}
	return r.Partners.FindAPIKeys(ctx, p.ID)
}

// createPartner is the createPartner mutation, for an admin.
func (r *Resolver) createPartner(ctx context.Context, in model.CreatePartnerInput) (*giveathon.Partner, error) {
	admin, err := auth.RequireAdmin(ctx)
	if err != nil {
		return nil, err
	}
	p, err := giveathon.PartnerInput{Name: in.Name, ContactEmail: in.ContactEmail}.Validate()
	if err != nil {
		return nil, err
	}
	return r.Partners.CreatePartner(ctx, admin, p)
}

// createAPIKey is the createApiKey mutation, for an admin: the key, and its secret shown this
// once.
func (r *Resolver) createAPIKey(ctx context.Context, in model.CreateAPIKeyInput) (*model.CreateAPIKeyPayload, error) {
	admin, err := auth.RequireAdmin(ctx)
	if err != nil {
		return nil, err
	}
	partnerID, err := parseID(typePartner, in.PartnerID)
	if err != nil {
		return nil, giveathon.Invalid("partnerId", "partnerId is not a partner's id")
	}
	key, secret, err := r.Keys.IssueAPIKey(ctx, admin, giveathon.APIKeyInput{PartnerID: partnerID, Scopes: in.Scopes, ExpiresAt: in.ExpiresAt})
	if err != nil {
		return nil, err
	}
	return &model.CreateAPIKeyPayload{APIKey: key, Secret: secret}, nil
}

// revokeAPIKey is the revokeApiKey mutation, for an admin.
func (r *Resolver) revokeAPIKey(ctx context.Context, id string) (*giveathon.APIKey, error) {
	admin, err := auth.RequireAdmin(ctx)
	if err != nil {
		return nil, err
	}
	raw, err := parseID(typeAPIKey, id)
	if err != nil {
		return nil, err
	}
	key, err := r.Partners.RevokeAPIKey(ctx, admin, raw)
	if err == nil {
		// Its open connections on this process end now, before another event goes out.
		if w, ok := r.Keys.(KeyWatcher); ok {
			w.Revoked(key.ID)
		}
	}
	return key, err
}

// partnerNode resolves node(id) for a Partner or an ApiKey: an admin's only; to anyone else
// it is null, as an id that does not exist.
func (r *Resolver) partnerNode(ctx context.Context, typ, raw string) (model.Node, error) {
	if _, err := auth.RequireAdmin(ctx); err != nil {
		return nil, nil
	}
	var n model.Node
	var err error
	switch typ {
	case typePartner:
		n, err = r.Partners.FindPartnerByID(ctx, raw)
	case typeAPIKey:
		n, err = r.Partners.FindAPIKeyByID(ctx, raw)
	default:
		return nil, nil
	}
	if giveathon.ErrorCode(err) == giveathon.ENOTFOUND {
		return nil, nil
	}
	return n, err
}
