package settlement

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/auth"
)

// PartnerStore is what partners' gifts need of storage besides Store (db.DB).
type PartnerStore interface {
	FindPartnerGift(ctx context.Context, partnerID, idempotencyKey string) (*giveathon.Donation, error)
	EnsurePartnerDonor(ctx context.Context, partnerID, email, name string) (*giveathon.User, error)
	FindPartnerDonation(ctx context.Context, partnerID, id string) (*giveathon.PartnerDonation, error)
	FindPartnerDonations(ctx context.Context, f giveathon.PartnerDonationFilter) ([]*giveathon.PartnerDonation, []string, error)
	FindPartnerEvents(ctx context.Context, partnerID string, after int64, first int) ([]*giveathon.PartnerEvent, error)
	FindTotalsCheckpoint(ctx context.Context, partnerID string, seq *int64) (*giveathon.TotalsCheckpoint, error)
	FindCharityByID(ctx context.Context, id string) (*giveathon.Charity, error)
}

// Cards saves a donor's card at the provider and here (payments.MethodService).
type Cards interface {
	AddPaymentMethod(ctx context.Context, u *giveathon.User, in giveathon.AddPaymentMethodInput) (*giveathon.PaymentMethod, error)
}

// Partners serves partners' gifts: a partner's gift is a donor's gift (SubmitDonation, every
// rule of it) whose donor is the partner's and whose idempotency key is the partner's.
type Partners struct {
	*Service
	Gifts PartnerStore
	Cards Cards

	// keys serialises, on this process, a partner's requests under one idempotency key.
	keys keyLocks
}

// keyLocks are locks by key, each held only while someone uses it.
type keyLocks struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	sync.Mutex
	users int
}

// lock takes key's lock and returns the function that lets it go.
func (k *keyLocks) lock(key string) func() {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyLock{}
	}
	l := k.m[key]
	if l == nil {
		l = &keyLock{}
		k.m[key] = l
	}
	l.users++
	k.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		k.mu.Lock()
		if l.users--; l.users == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}

var _ giveathon.PartnerGiftService = (*Partners)(nil)

// errNotPartnerGift is what a partner's gift may not lack.
var errNotPartnerGift = errors.New("a partner's gift needs its partner")

// PartnerSubmitDonation implements giveathon.PartnerGiftService. The partner's key is looked
// up first: the same request again answers with its gift and calls no one; another request
// under it is a CONFLICT. A gift no donor could make is refused next. Otherwise the donor is found or made by e-mail, the card saved for
// them (one provider customer per donor) and the gift submitted as a donor's own, with the
// partner's key recorded in the gift's transaction (two racing submits make one gift).
func (p *Partners) PartnerSubmitDonation(ctx context.Context, partnerID string, in giveathon.SubmitDonationInput) (*giveathon.SubmitResult, error) {
	if in.Partner == nil {
		return nil, errNotPartnerGift
	}
	in.Partner.PartnerID = partnerID
	in, err := in.Validate(p.Config.Limits)
	if err != nil {
		return nil, err
	}
	hash := in.RequestHash()
	// Requests racing under one key wait for each other here, so that the later ones find the
	// first's gift below instead of each recording its donor and card before the gift's own
	// transaction answers them (the same gift, or CONFLICT). Across instances the race is
	// still possible: docs/partners.md says so.
	defer p.keys.lock(partnerID + " " + in.IdempotencyKey)()
	existing, err := p.Gifts.FindPartnerGift(ctx, partnerID, in.IdempotencyKey)
	if err != nil {
		return nil, err
	}
	if existing != nil {
		// The same answer SubmitDonation's transaction gives for a key it finds.
		res, _, err := decideSubmit(giveathon.SubmitFacts{Existing: existing}, in, hash, nil, auth.Limit{}, time.Now())
		return res, err
	}
	if err := p.refusedWhoeverGives(ctx, in); err != nil {
		return nil, err
	}
	donor, err := p.Gifts.EnsurePartnerDonor(ctx, partnerID, in.Partner.DonorEmail, in.Partner.DonorName)
	if err != nil {
		return nil, err
	}
	card, err := p.Cards.AddPaymentMethod(ctx, donor, giveathon.AddPaymentMethodInput{ProviderPaymentMethodID: in.Partner.ProviderPaymentMethodID})
	if err != nil {
		return nil, err
	}
	in.PaymentMethodID = card.ID
	return p.SubmitDonation(ctx, donor.ID, in)
}

// refusedWhoeverGives refuses, before a donor is made for it, a gift that no donor could make:
// outside the event's window, or to a charity that takes no gifts. A refused partner gift then
// leaves no account (the donor's e-mail and name) and no provider customer behind. The gift's
// own transaction rules on both again (decideSubmit): the charity is read before it, from a
// replica if there is one, and a refusal only once the primary agrees (the replica may not
// have replayed a charity just made, or opened again, yet).
func (p *Partners) refusedWhoeverGives(ctx context.Context, in giveathon.SubmitDonationInput) error {
	if p.Config.Event != nil {
		if err := p.Config.Event.CheckOpen(time.Now()); err != nil {
			return err
		}
	}
	err := p.charityRefusal(ctx, in.CharityID)
	if giveathon.ErrorCode(err) == giveathon.EINVALID && !giveathon.FreshReadsFromContext(ctx) {
		err = p.charityRefusal(giveathon.NewContextWithFreshReads(ctx), in.CharityID)
	}
	return err
}

// charityRefusal reads the charity and refuses a gift to it as charityRefusal does.
func (p *Partners) charityRefusal(ctx context.Context, charityID string) error {
	var active *bool
	c, err := p.Gifts.FindCharityByID(ctx, charityID)
	switch {
	case err == nil:
		active = &c.Active
	case giveathon.ErrorCode(err) != giveathon.ENOTFOUND:
		return err
	}
	return charityRefusal(active)
}

// FindPartnerDonation implements giveathon.PartnerGiftService.
func (p *Partners) FindPartnerDonation(ctx context.Context, partnerID, id string) (*giveathon.PartnerDonation, error) {
	return p.Gifts.FindPartnerDonation(ctx, partnerID, id)
}

// FindPartnerDonations implements giveathon.PartnerGiftService.
func (p *Partners) FindPartnerDonations(ctx context.Context, f giveathon.PartnerDonationFilter) ([]*giveathon.PartnerDonation, []string, error) {
	return p.Gifts.FindPartnerDonations(ctx, f)
}

// FindPartnerEvents implements giveathon.PartnerGiftService.
func (p *Partners) FindPartnerEvents(ctx context.Context, partnerID string, after int64, first int) ([]*giveathon.PartnerEvent, error) {
	return p.Gifts.FindPartnerEvents(ctx, partnerID, after, first)
}

// FindTotalsCheckpoint implements giveathon.PartnerGiftService.
func (p *Partners) FindTotalsCheckpoint(ctx context.Context, partnerID string, seq *int64) (*giveathon.TotalsCheckpoint, error) {
	return p.Gifts.FindTotalsCheckpoint(ctx, partnerID, seq)
}
