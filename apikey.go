package giveathon

import (
	"context"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// API key modes: a live key gives with real cards; a test key in development or with Stripe's
// test keys (the sandbox).
const (
	KeyModeLive = "live"
	KeyModeTest = "test"
)

// APIScopes are every scope, in the order the schema lists them.
var APIScopes = []APIScope{ScopeDonationsWrite, ScopeDonationsRead, ScopeWebhooksManage, ScopeTotalsRead}

// MaxPartnerNameLen is the longest partner name.
const MaxPartnerNameLen = 100

// PartnerInput is what an admin gives to register a partner.
type PartnerInput struct {
	Name         string
	ContactEmail *string
}

// Validate checks the input and returns the partner to create.
func (in PartnerInput) Validate() (*Partner, error) {
	p := &Partner{Name: strings.TrimSpace(in.Name)}
	switch {
	case p.Name == "":
		return nil, Invalid("name", "name is required")
	case utf8.RuneCountInString(p.Name) > MaxPartnerNameLen || !utf8.ValidString(p.Name) || HasControl(p.Name):
		return nil, Invalid("name", "name must be 1 to %d plain characters", MaxPartnerNameLen)
	}
	if in.ContactEmail != nil && strings.TrimSpace(*in.ContactEmail) != "" {
		email, err := NormalizeEmail(*in.ContactEmail)
		if err != nil {
			return nil, Invalid("contactEmail", "contactEmail is not an e-mail address")
		}
		p.ContactEmail = &email
	}
	return p, nil
}

// APIKeyInput is what an admin gives to issue a key to a partner.
type APIKeyInput struct {
	PartnerID string
	Scopes    []APIScope
	ExpiresAt *time.Time
}

// Validate checks the scopes (at least one, each known; repeats dropped) and that the key
// expires in the future, if at all. That the partner exists is the store's to check.
func (in APIKeyInput) Validate(now time.Time) (APIKeyInput, error) {
	if len(in.Scopes) == 0 {
		return in, Invalid("scopes", "scopes must name at least one scope")
	}
	var scopes []APIScope
	for _, s := range in.Scopes {
		if !slices.Contains(APIScopes, s) {
			return in, Invalid("scopes", "%q is not a scope", s)
		}
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	in.Scopes = scopes
	if in.ExpiresAt != nil && !in.ExpiresAt.After(now) {
		return in, Invalid("expiresAt", "expiresAt must be in the future")
	}
	return in, nil
}

// PartnerService is the partners and their keys, for the admins' fields (every change is
// written to the audit log with its actor) and for API key authentication.
type PartnerService interface {
	CreatePartner(ctx context.Context, actor *User, p *Partner) (*Partner, error)
	// FindPartners returns a page of partners, newest first, and each one's cursor.
	FindPartners(ctx context.Context, p Page) ([]*Partner, []string, error)
	FindPartnerByID(ctx context.Context, id string) (*Partner, error)
	// CreateAPIKey stores a key (only the SHA-256 of its secret); a partner that does not
	// exist is EINVALID on partnerId.
	CreateAPIKey(ctx context.Context, actor *User, key *APIKey, keyHash []byte) (*APIKey, error)
	// FindAPIKeys returns a partner's keys, newest first, revoked ones included.
	FindAPIKeys(ctx context.Context, partnerID string) ([]*APIKey, error)
	FindAPIKeyByID(ctx context.Context, id string) (*APIKey, error)
	// RevokeAPIKey revokes a key; a revoked key is returned unchanged.
	RevokeAPIKey(ctx context.Context, actor *User, id string) (*APIKey, error)
	// FindAPIKeyByHash returns the key stored under the hash with its partner, or ENOTFOUND.
	FindAPIKeyByHash(ctx context.Context, keyHash []byte) (*Caller, error)
	// TouchAPIKey records that the key was used, at most once a minute.
	TouchAPIKey(ctx context.Context, id string) error
}

// KeyService issues partners' API keys and checks them (auth.Keys).
type KeyService interface {
	// IssueAPIKey makes a key for a partner and returns it with its secret, shown this once.
	IssueAPIKey(ctx context.Context, actor *User, in APIKeyInput) (*APIKey, string, error)
	// AuthenticateKey returns the partner a key's secret acts for: EUNAUTHORIZED, with the
	// reason, for a malformed, unknown, revoked or expired key or one of the other mode.
	AuthenticateKey(ctx context.Context, secret string) (*Caller, error)
}
