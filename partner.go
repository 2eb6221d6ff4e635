package giveathon

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// APIScope is what a partner's API key may do.
type APIScope string

// API key scopes.
const (
	ScopeDonationsWrite APIScope = "DONATIONS_WRITE"
	ScopeDonationsRead  APIScope = "DONATIONS_READ"
	ScopeWebhooksManage APIScope = "WEBHOOKS_MANAGE"
	ScopeTotalsRead     APIScope = "TOTALS_READ"
)

// Partner is a system that gives through the API for its own donors.
type Partner struct {
	ID           string
	Name         string
	ContactEmail *string
	CreatedAt    time.Time
}

// APIKey is one of a partner's keys; its secret is never kept, only its SHA-256.
type APIKey struct {
	ID         string
	PartnerID  string
	Prefix     string
	Mode       string // live or test
	Scopes     []APIScope
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	RevokedAt  *time.Time
	LastUsedAt *time.Time
}

// Caller is the partner a request acts for: the key it authenticated with.
type Caller struct {
	Partner *Partner
	Key     *APIKey
}

// Can reports whether the caller's key has the scope.
func (c *Caller) Can(s APIScope) bool {
	return c != nil && c.Key != nil && slices.Contains(c.Key.Scopes, s)
}

type callerContextKey struct{}

// NewContextWithCaller returns a context that carries the partner the request acts for.
func NewContextWithCaller(ctx context.Context, c *Caller) context.Context {
	return context.WithValue(ctx, callerContextKey{}, c)
}

// CallerFromContext returns the partner the request acts for, or nil (a donor or a visitor).
func CallerFromContext(ctx context.Context) *Caller {
	c, _ := ctx.Value(callerContextKey{}).(*Caller)
	return c
}

// PartnerDonation is a gift through a partner, with the partner's donor.
type PartnerDonation struct {
	*Donation
	DonorEmail string
	DonorName  string
}

// Partner event types (webhook event types too).
const (
	EventDonationSucceeded      = "donation.succeeded"
	EventDonationFailed         = "donation.failed"
	EventDonationRequiresAction = "donation.requires_action"
	EventDonationRefunded       = "donation.refunded"
	EventDonationDisputed       = "donation.disputed"
	EventMilestone              = "event.milestone"
)

// PartnerEventTypes are every type of partner event, in the order the docs list them.
var PartnerEventTypes = []string{EventDonationSucceeded, EventDonationFailed, EventDonationRequiresAction,
	EventDonationRefunded, EventDonationDisputed, EventMilestone}

// PartnerEvent is one thing that happened to a partner's gifts or to the event. Seq is 0 until
// the sequencer gives it the partner's next sequence number.
type PartnerEvent struct {
	ID         string
	PartnerID  string
	DonationID string
	Type       string
	Data       json.RawMessage
	CreatedAt  time.Time
	Seq        int64
	TotalCents int64
	TotalCount int64
}

// WebhookID is the event's id as its webhooks carry it in webhook-id (and partnerEvents in
// id): "msg_" and the event's UUID without dashes, the same on every delivery.
func (e *PartnerEvent) WebhookID() string { return WebhookMessageID(e.ID) }

// TotalsCheckpoint is a partner's totals just after one of its events.
type TotalsCheckpoint struct {
	Sequence      int64
	TotalCents    int64
	DonationCount int64
}

// Webhook endpoint statuses.
const (
	EndpointEnabled  = "enabled"
	EndpointDisabled = "disabled"
	EndpointDeleted  = "deleted"
)

// Webhook delivery statuses.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// WebhookMessageID returns the webhook-id of an event: "msg_" and its UUID without dashes, the
// same on every try and every redelivery, so a receiver can drop what it already handled.
func WebhookMessageID(eventID string) string {
	return "msg_" + strings.ReplaceAll(eventID, "-", "")
}

// WebhookEndpoint is where a partner's events are sent.
type WebhookEndpoint struct {
	ID              string
	PartnerID       string
	URL             string
	Events          []string
	Status          string // enabled, disabled or deleted
	DisabledReason  *string
	SecretVersion   int
	PreviousVersion *int
	PreviousUntil   *time.Time
	CreatedAt       time.Time
}

// WebhookDelivery is one event sent to one endpoint, with all its tries.
type WebhookDelivery struct {
	ID            string
	EndpointID    string
	PartnerID     string
	EventID       string
	EventType     string
	Status        string // pending, delivered or failed
	AttemptCount  int
	NextAttemptAt *time.Time
	CreatedAt     time.Time
	DeliveredAt   *time.Time
	// AttemptLog holds the delivery's tries, oldest first, when the store loaded them.
	AttemptLog []*WebhookAttempt
}

// WebhookAttempt is one try of a delivery.
type WebhookAttempt struct {
	At         time.Time
	StatusCode *int
	DurationMs int
	Error      *string
}

// PartnerDonationFilter selects a partner's gifts.
type PartnerDonationFilter struct {
	PartnerID        string
	Status           *DonationStatus
	PartnerReference *string
	Page             Page
}

// Validate checks the filter's page and reference and returns it normalised.
func (f PartnerDonationFilter) Validate() (PartnerDonationFilter, error) {
	var err error
	if f.Page, err = f.Page.Validate(); err != nil {
		return f, err
	}
	if f.PartnerReference != nil {
		ref, err := NormalizePartnerReference("filter.partnerReference", *f.PartnerReference)
		if err != nil {
			return f, err
		}
		f.PartnerReference = &ref
	}
	return f, nil
}

// MaxPartnerEventsPage is the most partner events one page (or one read of a stream) holds.
const MaxPartnerEventsPage = 500

// PartnerGiftService takes partners' gifts and shows each partner its own gifts and events.
type PartnerGiftService interface {
	// PartnerSubmitDonation records a gift for the partner's donor (found or made by
	// e-mail), saves the card for the donor and queues the charge, as SubmitDonation does.
	PartnerSubmitDonation(ctx context.Context, partnerID string, in SubmitDonationInput) (*SubmitResult, error)
	// FindPartnerDonation returns one of the partner's gifts, or ENOTFOUND (another
	// partner's too).
	FindPartnerDonation(ctx context.Context, partnerID, id string) (*PartnerDonation, error)
	// FindPartnerDonations returns a page of the partner's gifts, newest first, with cursors.
	FindPartnerDonations(ctx context.Context, f PartnerDonationFilter) ([]*PartnerDonation, []string, error)
	// FindPartnerEvents returns up to first+1 of the partner's sequenced events after
	// sequence number after, in order.
	FindPartnerEvents(ctx context.Context, partnerID string, after int64, first int) ([]*PartnerEvent, error)
	// FindTotalsCheckpoint returns the partner's totals just after its event with sequence
	// number seq (the latest when nil; zeros for 0); EINVALID beyond its last event.
	FindTotalsCheckpoint(ctx context.Context, partnerID string, seq *int64) (*TotalsCheckpoint, error)
}
