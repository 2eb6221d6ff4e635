package webhooks

import (
	"context"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/db"
)

// DefaultMaxEndpoints is how many endpoints (not deleted) a partner may have.
const DefaultMaxEndpoints = 20

// MaxOverlapHours bounds how long an old secret keeps signing after a rotation.
const MaxOverlapHours = 168

// Queue runs a delivery again now (jobs.Jobs).
type Queue interface {
	Redeliver(ctx context.Context, deliveryID string) error
}

// Service is what a partner does with its endpoints and their deliveries. Every call names
// the partner: another partner's endpoint or delivery is ENOTFOUND.
type Service struct {
	DB    *db.DB
	Keys  *Keyring
	Queue Queue
	// Development allows http and internal addresses.
	Development  bool
	MaxEndpoints int
}

// CreateEndpoint registers an endpoint and returns it with its signing secret.
func (s *Service) CreateEndpoint(ctx context.Context, partnerID, url string, events []string) (*giveathon.WebhookEndpoint, string, error) {
	if err := ValidateURL(url, s.Development); err != nil {
		return nil, "", err
	}
	events, err := ValidateEvents(events)
	if err != nil {
		return nil, "", err
	}
	ep, err := s.DB.CreateWebhookEndpoint(ctx, partnerID, url, events, orDefault(s.MaxEndpoints, DefaultMaxEndpoints))
	if err != nil {
		return nil, "", err
	}
	return ep, s.Keys.Secret(ep.ID, ep.SecretVersion), nil
}

func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// UpdateEndpoint changes an endpoint's URL or events, or turns it on (enabled true) or off.
func (s *Service) UpdateEndpoint(ctx context.Context, partnerID, id string, url *string, events []string, enabled *bool) (*giveathon.WebhookEndpoint, error) {
	if url != nil {
		if err := ValidateURL(*url, s.Development); err != nil {
			return nil, err
		}
	}
	if events != nil {
		var err error
		if events, err = ValidateEvents(events); err != nil {
			return nil, err
		}
	}
	return s.DB.UpdateWebhookEndpoint(ctx, partnerID, id, db.WebhookEndpointUpdate{URL: url, Events: events, Enabled: enabled})
}

// DeleteEndpoint deletes an endpoint; its pending deliveries fail.
func (s *Service) DeleteEndpoint(ctx context.Context, partnerID, id string) error {
	return s.DB.DeleteWebhookEndpoint(ctx, partnerID, id)
}

// RotateSecret gives an endpoint a new secret and returns it; the old one signs beside it
// for overlapHours (0 to MaxOverlapHours).
func (s *Service) RotateSecret(ctx context.Context, partnerID, id string, overlapHours int) (*giveathon.WebhookEndpoint, string, error) {
	if overlapHours < 0 || overlapHours > MaxOverlapHours {
		return nil, "", giveathon.Invalid("overlapHours", "overlapHours must be from 0 to %d", MaxOverlapHours)
	}
	ep, err := s.DB.RotateWebhookSecret(ctx, partnerID, id, time.Duration(overlapHours)*time.Hour)
	if err != nil {
		return nil, "", err
	}
	return ep, s.Keys.Secret(ep.ID, ep.SecretVersion), nil
}

// Endpoints returns the partner's endpoints.
func (s *Service) Endpoints(ctx context.Context, partnerID string) ([]*giveathon.WebhookEndpoint, error) {
	return s.DB.FindWebhookEndpoints(ctx, partnerID)
}

// Endpoint returns one of the partner's endpoints.
func (s *Service) Endpoint(ctx context.Context, partnerID, id string) (*giveathon.WebhookEndpoint, error) {
	return s.DB.FindWebhookEndpoint(ctx, partnerID, id)
}

// Deliveries returns a page of an endpoint's deliveries, newest first, with their cursors.
func (s *Service) Deliveries(ctx context.Context, partnerID, endpointID string, p giveathon.Page) ([]*giveathon.WebhookDelivery, []string, error) {
	return s.DB.FindWebhookDeliveries(ctx, partnerID, endpointID, p)
}

// Delivery returns one of the partner's deliveries with its tries.
func (s *Service) Delivery(ctx context.Context, partnerID, id string) (*giveathon.WebhookDelivery, error) {
	return s.DB.FindWebhookDelivery(ctx, partnerID, id)
}

// Redeliver sends a delivery again now, with the same webhook-id: a delivered or failed one
// goes back to pending. Were queueing to fail after that, the sweep queues it within minutes.
func (s *Service) Redeliver(ctx context.Context, partnerID, id string) (*giveathon.WebhookDelivery, error) {
	d, err := s.DB.RedeliverWebhook(ctx, partnerID, id)
	if err != nil {
		return nil, err
	}
	if err := s.Queue.Redeliver(ctx, d.ID); err != nil {
		return nil, err
	}
	return d, nil
}
