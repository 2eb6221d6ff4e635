package payments

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/giveathon/giveathon"
)

// MethodStore is the storage MethodService needs.
type MethodStore interface {
	FindProviderCustomerID(ctx context.Context, userID string) (string, error)
	SetProviderCustomerID(ctx context.Context, userID, customerID string) (string, error)
	CreatePaymentMethod(ctx context.Context, pm *giveathon.PaymentMethod) (*giveathon.PaymentMethod, error)
	FindPaymentMethods(ctx context.Context, userID string) ([]*giveathon.PaymentMethod, error)
	FindEveryPaymentMethod(ctx context.Context, userID string) ([]*giveathon.PaymentMethod, error)
	FindPaymentMethodByID(ctx context.Context, userID, id string) (*giveathon.PaymentMethod, error)
	RemovePaymentMethod(ctx context.Context, userID, id string) (*giveathon.PaymentMethod, error)
}

// MethodService implements giveathon.PaymentMethodService: cards live at the provider, and
// Giveathon keeps their ids, brand, last four digits and expiry.
type MethodService struct {
	Store          MethodStore
	Gateway        *Gateway
	PublishableKey string
	Logger         *slog.Logger
}

var _ giveathon.PaymentMethodService = (*MethodService)(nil)

var providerIDPattern = regexp.MustCompile(`^pm_[A-Za-z0-9_]{1,250}$`)

// customer returns the donor's provider customer, creating it on first use. One whose
// creation answer was lost (or whose id was not stored) is found at the provider by its
// metadata first, so a retry makes no second customer. Two first cards at the same moment may
// still make two: the first stored is the donor's, the other is left without cards.
func (s *MethodService) customer(ctx context.Context, u *giveathon.User) (string, error) {
	id, err := s.Store.FindProviderCustomerID(ctx, u.ID)
	if err != nil || id != "" {
		return id, err
	}
	id, err = s.Gateway.FindCustomer(ctx, u.ID, u.Email)
	if err == nil && id == "" {
		id, err = s.Gateway.CreateCustomer(ctx, u.ID, u.Email, u.Name)
	}
	if err != nil {
		return "", ProviderError(err)
	}
	return s.Store.SetProviderCustomerID(ctx, u.ID, id)
}

// CreateSetupIntent implements giveathon.PaymentMethodService.
func (s *MethodService) CreateSetupIntent(ctx context.Context, u *giveathon.User) (*giveathon.SetupIntent, error) {
	cus, err := s.customer(ctx, u)
	if err != nil {
		return nil, err
	}
	secret, err := s.Gateway.CreateSetupIntent(ctx, cus)
	if err != nil {
		return nil, ProviderError(err)
	}
	return &giveathon.SetupIntent{ClientSecret: secret, PublishableKey: s.PublishableKey}, nil
}

// AddPaymentMethod implements giveathon.PaymentMethodService.
func (s *MethodService) AddPaymentMethod(ctx context.Context, u *giveathon.User, in giveathon.AddPaymentMethodInput) (*giveathon.PaymentMethod, error) {
	if !providerIDPattern.MatchString(in.ProviderPaymentMethodID) {
		return nil, giveathon.Invalid("providerPaymentMethodId", "providerPaymentMethodId must be a payment method id such as pm_1Nq...")
	}
	cus, err := s.customer(ctx, u)
	if err != nil {
		return nil, err
	}
	card, err := s.Gateway.AttachPaymentMethod(ctx, in.ProviderPaymentMethodID, cus)
	if pe, ok := AsError(err); ok && pe.Kind != Retryable {
		return nil, giveathon.Invalid("providerPaymentMethodId", "providerPaymentMethodId was refused by the payment provider: %s", pe.Message)
	} else if err != nil {
		return nil, ProviderError(err)
	}
	return s.Store.CreatePaymentMethod(ctx, &giveathon.PaymentMethod{
		UserID: u.ID, ProviderCustomerID: cus, ProviderPaymentMethodID: card.PaymentMethodID,
		Brand: card.Brand, Last4: card.Last4, ExpMonth: card.ExpMonth, ExpYear: card.ExpYear, IsDefault: in.MakeDefault,
	})
}

// RemovePaymentMethod implements giveathon.PaymentMethodService. The card is detached at the
// provider after it is removed here; a failed detach is logged, not shown: the donor's card is
// gone from Giveathon either way.
func (s *MethodService) RemovePaymentMethod(ctx context.Context, u *giveathon.User, id string) error {
	pm, err := s.Store.RemovePaymentMethod(ctx, u.ID, id)
	if err != nil {
		return err
	}
	if err := s.Gateway.DetachPaymentMethod(ctx, pm.ProviderPaymentMethodID); err != nil {
		s.Logger.WarnContext(ctx, "detach removed payment method", "payment_method", pm.ID, "err", err)
	}
	return nil
}

// FindPaymentMethods implements giveathon.PaymentMethodService.
func (s *MethodService) FindPaymentMethods(ctx context.Context, userID string) ([]*giveathon.PaymentMethod, error) {
	return s.Store.FindPaymentMethods(ctx, userID)
}

// FindPaymentMethodByID implements giveathon.PaymentMethodService.
func (s *MethodService) FindPaymentMethodByID(ctx context.Context, userID, id string) (*giveathon.PaymentMethod, error) {
	return s.Store.FindPaymentMethodByID(ctx, userID, id)
}

// ProviderError turns a provider failure into what a donor may see: a retryable one is
// EUNAVAILABLE, with the wait the provider (or our own rate limit) asked for.
func ProviderError(err error) error {
	pe, ok := AsError(err)
	if !ok || pe.Kind != Retryable {
		return err
	}
	e := giveathon.Errorf(giveathon.EUNAVAILABLE, "the payment provider is not answering: try again in a moment")
	if pe.Code == codeClientRateLimit {
		e.Message = "the payment provider is busy: try again in a moment"
	}
	e.RetryAfter = max(pe.RetryAfter, time.Second)
	return e
}

// ForgetDonor is what the erasure of a donor's account asks of the provider: every card the
// donor saved detached (removed ones too: the erasure marks every card removed before it asks,
// and a removal's own detach may have failed), and the customer's e-mail address and name
// erased. A card the provider refuses to detach (it holds it detached already, or not at all)
// counts as done; a provider that does not answer is EUNAVAILABLE, and the call may be made
// again.
func (s *MethodService) ForgetDonor(ctx context.Context, userID string) error {
	cards, err := s.Store.FindEveryPaymentMethod(ctx, userID)
	if err != nil {
		return err
	}
	for _, pm := range cards {
		err := s.Gateway.DetachPaymentMethod(ctx, pm.ProviderPaymentMethodID)
		if pe, ok := AsError(err); ok && pe.Kind != Retryable {
			s.Logger.InfoContext(ctx, "a card to detach is not attached at the provider", "payment_method", pm.ID, "err", err)
		} else if err != nil {
			return ProviderError(fmt.Errorf("detach payment method %s: %w", pm.ID, err))
		}
	}
	cus, err := s.Store.FindProviderCustomerID(ctx, userID)
	if err != nil || cus == "" {
		return err
	}
	if err := s.Gateway.EraseCustomer(ctx, cus); err != nil {
		return ProviderError(fmt.Errorf("erase customer %s: %w", cus, err))
	}
	return nil
}
