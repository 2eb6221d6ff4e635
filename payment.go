package giveathon

import (
	"context"
	"time"
)

// PaymentMethod is a donor's saved card: only the provider's ids and what may be shown
// (brand, last four digits, expiry). Card numbers and CVCs never reach Giveathon.
type PaymentMethod struct {
	ID                      string
	UserID                  string
	ProviderCustomerID      string
	ProviderPaymentMethodID string
	Brand                   string
	Last4                   string
	ExpMonth                int
	ExpYear                 int
	IsDefault               bool
	CreatedAt               time.Time
	RemovedAt               *time.Time
}

// AddPaymentMethodInput saves a card the browser gave to the provider.
type AddPaymentMethodInput struct {
	ProviderPaymentMethodID string
	MakeDefault             bool
}

// SetupIntent lets the browser collect a card straight to the provider.
type SetupIntent struct {
	ClientSecret   string
	PublishableKey string
}

// PaymentMethodService saves and removes donors' cards.
type PaymentMethodService interface {
	CreateSetupIntent(ctx context.Context, u *User) (*SetupIntent, error)
	AddPaymentMethod(ctx context.Context, u *User, in AddPaymentMethodInput) (*PaymentMethod, error)
	RemovePaymentMethod(ctx context.Context, u *User, id string) error
	FindPaymentMethods(ctx context.Context, userID string) ([]*PaymentMethod, error)
	FindPaymentMethodByID(ctx context.Context, userID, id string) (*PaymentMethod, error)
}
