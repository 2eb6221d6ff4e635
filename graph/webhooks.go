package graph

import (
	"context"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/auth"
	"github.com/giveathon/giveathon/graph/model"
)

// Global ID type names of webhooks.
const (
	typeWebhookEndpoint = "WebhookEndpoint"
	typeWebhookDelivery = "WebhookDelivery"
)

// WebhookService is what a partner does with its webhook endpoints (webhooks.Service).
type WebhookService interface {
	CreateEndpoint(ctx context.Context, partnerID, url string, events []string) (*giveathon.WebhookEndpoint, string, error)
	UpdateEndpoint(ctx context.Context, partnerID, id string, url *string, events []string, enabled *bool) (*giveathon.WebhookEndpoint, error)
	DeleteEndpoint(ctx context.Context, partnerID, id string) error
	RotateSecret(ctx context.Context, partnerID, id string, overlapHours int) (*giveathon.WebhookEndpoint, string, error)
	Endpoints(ctx context.Context, partnerID string) ([]*giveathon.WebhookEndpoint, error)
	Endpoint(ctx context.Context, partnerID, id string) (*giveathon.WebhookEndpoint, error)
	Deliveries(ctx context.Context, partnerID, endpointID string, p giveathon.Page) ([]*giveathon.WebhookDelivery, []string, error)
	Delivery(ctx context.Context, partnerID, id string) (*giveathon.WebhookDelivery, error)
	Redeliver(ctx context.Context, partnerID, id string) (*giveathon.WebhookDelivery, error)
}

// webhookPartner returns the id of the partner whose key may manage webhooks.
func webhookPartner(ctx context.Context) (string, error) {
	c, err := auth.RequireScope(ctx, giveathon.ScopeWebhooksManage)
	if err != nil {
		return "", err
	}
	return c.Partner.ID, nil
}

// webhookTarget returns the calling partner and the UUID of one of its endpoints or
// deliveries by global ID.
func webhookTarget(ctx context.Context, typ, rawID string) (partnerID, id string, err error) {
	if partnerID, err = webhookPartner(ctx); err != nil {
		return "", "", err
	}
	id, err = parseID(typ, rawID)
	return partnerID, id, err
}

func (r *Resolver) createWebhookEndpoint(ctx context.Context, in model.CreateWebhookEndpointInput) (*model.CreateWebhookEndpointPayload, error) {
	pid, err := webhookPartner(ctx)
	if err != nil {
		return nil, err
	}
	ep, secret, err := r.Webhooks.CreateEndpoint(ctx, pid, in.URL, in.Events)
	if err != nil {
		return nil, err
	}
	return &model.CreateWebhookEndpointPayload{Endpoint: ep, Secret: secret}, nil
}

func (r *Resolver) updateWebhookEndpoint(ctx context.Context, in model.UpdateWebhookEndpointInput) (*giveathon.WebhookEndpoint, error) {
	pid, id, err := webhookTarget(ctx, typeWebhookEndpoint, in.ID)
	if err != nil {
		return nil, err
	}
	if in.Events == nil && in.URL == nil && in.Enabled == nil {
		return r.Webhooks.Endpoint(ctx, pid, id)
	}
	return r.Webhooks.UpdateEndpoint(ctx, pid, id, in.URL, in.Events, in.Enabled)
}

func (r *Resolver) deleteWebhookEndpoint(ctx context.Context, rawID string) (bool, error) {
	pid, id, err := webhookTarget(ctx, typeWebhookEndpoint, rawID)
	if err != nil {
		return false, err
	}
	if err := r.Webhooks.DeleteEndpoint(ctx, pid, id); err != nil {
		return false, err
	}
	return true, nil
}

func (r *Resolver) rotateWebhookSecret(ctx context.Context, rawID string, overlapHours *int) (*model.CreateWebhookEndpointPayload, error) {
	pid, id, err := webhookTarget(ctx, typeWebhookEndpoint, rawID)
	if err != nil {
		return nil, err
	}
	overlap := 24
	if overlapHours != nil {
		overlap = *overlapHours
	}
	ep, secret, err := r.Webhooks.RotateSecret(ctx, pid, id, overlap)
	if err != nil {
		return nil, err
	}
	return &model.CreateWebhookEndpointPayload{Endpoint: ep, Secret: secret}, nil
}

func (r *Resolver) redeliverWebhook(ctx context.Context, rawID string) (*giveathon.WebhookDelivery, error) {
	pid, id, err := webhookTarget(ctx, typeWebhookDelivery, rawID)
	if err != nil {
		return nil, err
	}
	return r.Webhooks.Redeliver(ctx, pid, id)
}

func (r *Resolver) webhookEndpoints(ctx context.Context) ([]*giveathon.WebhookEndpoint, error) {
	pid, err := webhookPartner(ctx)
	if err != nil {
		return nil, err
	}
	return r.Webhooks.Endpoints(ctx, pid)
}

func (r *Resolver) webhookDeliveries(ctx context.Context, endpointID string, first *int, after *string) (*model.WebhookDeliveryConnection, error) {
	pid, id, err := webhookTarget(ctx, typeWebhookEndpoint, endpointID)
	if err != nil {
		return nil, err
	}
	p := page(first, after)
	list, cursors, err := r.Webhooks.Deliveries(ctx, pid, id, p)
	if err != nil {
		return nil, err
	}
	conn := &model.WebhookDeliveryConnection{}
	for i, d := range list {
		conn.Edges = append(conn.Edges, &model.WebhookDeliveryEdge{Cursor: cursors[i], Node: d})
	}
	conn.Edges, conn.PageInfo = trimPage(conn.Edges, p, func(e *model.WebhookDeliveryEdge) string { return e.Cursor })
	return conn, nil
}

func (r *Resolver) webhookDeliveryAttempts(ctx context.Context, d *giveathon.WebhookDelivery) ([]*giveathon.WebhookAttempt, error) {
	if d.AttemptLog != nil {
		return d.AttemptLog, nil
	}
	pid, err := webhookPartner(ctx)
	if err != nil {
		return nil, err
	}
	full, err := r.Webhooks.Delivery(ctx, pid, d.ID)
	if err != nil {
		return nil, err
	}
	return full.AttemptLog, nil
}

// webhookNode resolves a webhook endpoint's or delivery's global ID for its own partner;
// anyone else gets null.
func (r *Resolver) webhookNode(ctx context.Context, typ, id string) (model.Node, error) {
	c := giveathon.CallerFromContext(ctx)
	if c == nil || c.Partner == nil || !c.Can(giveathon.ScopeWebhooksManage) {
		return nil, nil
	}
	var n model.Node
	var err error
	if typ == typeWebhookEndpoint {
		n, err = r.Webhooks.Endpoint(ctx, c.Partner.ID, id)
	} else {
		n, err = r.Webhooks.Delivery(ctx, c.Partner.ID, id)
	}
	if giveathon.ErrorCode(err) == giveathon.ENOTFOUND {
		return nil, nil
	}
	return n, err
}
