package auth

import (
	"context"
	"time"

	"github.com/giveathon/giveathon"
)

// AccountStore is the storage Accounts needs.
type AccountStore interface {
	FindDataExport(ctx context.Context, userID string) (*giveathon.DataExport, error)
	StartErasure(ctx context.Context, userID string, statuses []giveathon.DonationStatus) error
	EraseAccount(ctx context.Context, userID string, statuses []giveathon.DonationStatus) ([][]byte, error)
}

// Provider is what the payment provider is asked when an account is erased.
type Provider interface {
	// ForgetDonor detaches the donor's saved cards and erases what the provider was told of
	// the donor (the e-mail and name of the customer); it may be called again.
	ForgetDonor(ctx context.Context, userID string) error
}

// Accounts implements giveathon.AccountService: a donor's export and the deletion of the
// account.
type Accounts struct {
	// Auth checks the password (under the sign-in limits) and ends the sessions.
	Auth  *Service
	Store AccountStore
	// Provider forgets the donor at the payment provider.
	Provider Provider
	// SendDeleted sends the confirmation of the deletion to the account as it was before it.
	// Sent again, it must be recognisably the same e-mail (the same Message-ID).
	SendDeleted func(ctx context.Context, u giveathon.User) error
}

var _ giveathon.AccountService = (*Accounts)(nil)

// ExportData implements giveathon.AccountService.
func (a *Accounts) ExportData(ctx context.Context, u *giveathon.User) (*giveathon.DataExport, error) {
	x, err := a.Store.FindDataExport(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	x.ExportedAt = a.Auth.Now().UTC()
	return x, nil
}

// DeleteAccount implements giveathon.AccountService. Each step can be run again, so a donor
// whose deletion failed halfway (UNAVAILABLE) asks again and it finishes: the saved cards are
// marked removed first (nothing unfinished, and no gift can start after it), then detached
// and the provider's customer erased (one the provider holds detached already
// counts as done), then the e-mail is
// sent, to the address the erasure is about to take away, then the erasure is committed in
// one transaction. The e-mail goes before the commit because after it the address is gone:
// it is delivered at least once (again, with the same Message-ID, when a failed erasure is
// asked again), and a donor who never asks again after a failed commit keeps an account that
// the e-mail said was deleted.
func (a *Accounts) DeleteAccount(ctx context.Context, u *giveathon.User, password string) error {
	if _, err := a.Auth.checkPassword(ctx, u.Email, password); err == errBadLogin {
		return giveathon.Invalid("password", "the password is wrong")
	} else if err != nil {
		return err
	}
	// From here no gift can start (the cards are removed under the donor's lock, which a
	// submit takes before it reads its card): one accepted meanwhile would be charged to a
	// card the provider no longer holds, and keep the account from its erasure.
	if err := a.Store.StartErasure(ctx, u.ID, giveathon.Undecided); err != nil {
		return err
	}
	if err := a.Provider.ForgetDonor(ctx, u.ID); err != nil {
		return err
	}
	if err := a.SendDeleted(ctx, *u); giveathon.ErrorCode(err) == giveathon.EINVALID {
		// An address that cannot be written to keeps no one's account alive.
		a.Auth.Logger.WarnContext(ctx, "the confirmation of an account's deletion cannot be sent", "user_id", u.ID, "err", err)
	} else if err != nil {
		a.Auth.Logger.ErrorContext(ctx, "send the confirmation of an account's deletion", "user_id", u.ID, "err", err)
		e := giveathon.Errorf(giveathon.EUNAVAILABLE, "the confirmation e-mail could not be sent: try again in a moment")
		e.RetryAfter = 5 * time.Second
		return e
	}
	ended, err := a.Store.EraseAccount(ctx, u.ID, giveathon.Undecided)
	if err != nil {
		return err
	}
	a.Auth.Logger.InfoContext(ctx, "account deleted", "user_id", u.ID, "sessions_ended", len(ended))
	a.Auth.endSessions(ended)
	return nil
}
