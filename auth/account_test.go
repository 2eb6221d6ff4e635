package auth_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/auth"
	"github.com/giveathon/giveathon/internal/testenv"
)

// provider is a Provider double that fails while err is set.
type provider struct {
	err   error
	calls int
}

func (c *provider) ForgetDonor(ctx context.Context, userID string) error {
	c.calls++
	return c.err
}

// TestDeleteAccountStepsRunAgain: a deletion that fails at the provider or the mail server
// erases nothing and answers UNAVAILABLE; asked again, it finishes, and the e-mail goes to the
// address as it was, the same both times. A session the process had cached ends at once.
// Wrong passwords are counted with sign-ins' and then limited.
func TestDeleteAccountStepsRunAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := testenv.DB(t)
	cheap := auth.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}
	svc := &auth.Service{Store: d, Params: cheap, Now: time.Now, SessionCacheTTL: time.Minute, Logger: slog.New(slog.DiscardHandler),
		Guard: &auth.Guard{Store: d, Limits: auth.Limits{LoginPerAccount: auth.Limit{Max: 3, Window: time.Minute}}}}
	detacher := &provider{}
	var sent []giveathon.User
	var mailErr error
	accounts := &auth.Accounts{Auth: svc, Store: d, Provider: detacher, SendDeleted: func(ctx context.Context, u giveathon.User) error {
		sent = append(sent, u)
		return mailErr
	}}
	email := fmt.Sprintf("steps-%d@example.org", time.Now().UnixNano())
	s, err := svc.Register(ctx, giveathon.RegisterInput{Email: email, Name: "Steps", Password: "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	u, err := svc.Authenticate(ctx, s.Token) // now cached for a minute
	if err != nil {
		t.Fatal(err)
	}
	intact := func(when string) {
		t.Helper()
		if got, err := d.FindUserByID(ctx, u.ID); err != nil || got.Email != email || got.Name != "Steps" {
			t.Fatalf("%s: the account is %+v (%v)", when, got, err)
		}
	}

	if err := accounts.DeleteAccount(ctx, u, "wrong horse"); giveathon.ErrorCode(err) != giveathon.EINVALID {
		t.Fatalf("a wrong password: %v, want EINVALID", err)
	}
	if detacher.calls != 0 || len(sent) != 0 {
		t.Fatalf("a wrong password detached %d times and sent %d e-mails", detacher.calls, len(sent))
	}
	intact("after a wrong password")

	detacher.err = giveathon.Errorf(giveathon.EUNAVAILABLE, "the payment provider is not answering")
	if err := accounts.DeleteAccount(ctx, u, "correct horse"); giveathon.ErrorCode(err) != giveathon.EUNAVAILABLE {
		t.Fatalf("the provider down: %v, want EUNAVAILABLE", err)
	}
	if len(sent) != 0 {
		t.Fatal("an e-mail was sent though the cards were not detached")
	}
	intact("with the provider down")

	detacher.err, mailErr = nil, errors.New("421 try later")
	if err := accounts.DeleteAccount(ctx, u, "correct horse"); giveathon.ErrorCode(err) != giveathon.EUNAVAILABLE {
		t.Fatalf("the mail server down: %v, want EUNAVAILABLE", err)
	}
	intact("with the mail server down")

	mailErr = nil
	if err := accounts.DeleteAccount(ctx, u, "correct horse"); err != nil {
		t.Fatalf("asked again: %v", err)
	}
	if len(sent) != 2 || sent[0] != *u || sent[1] != *u {
		t.Errorf("e-mails sent for %+v, want twice for %+v", sent, *u)
	}
	if _, err := svc.Authenticate(ctx, s.Token); giveathon.ErrorCode(err) != giveathon.EUNAUTHORIZED {
		t.Errorf("the cached session after the deletion: %v, want EUNAUTHORIZED", err)
	}
	if got, err := d.FindUserByID(ctx, u.ID); err != nil || got.Email != giveathon.ErasedEmail(u.ID) || got.Name != "" {
		t.Errorf("erased account %+v (%v)", got, err)
	}
	if err := accounts.DeleteAccount(ctx, u, "correct horse"); giveathon.ErrorCode(err) != giveathon.EINVALID {
		t.Errorf("the erased account's old password: %v, want EINVALID", err)
	}

	// Two failures so far (the first wrong password and the one just now) of three allowed.
	_ = accounts.DeleteAccount(ctx, u, "wrong horse")
	if err := accounts.DeleteAccount(ctx, u, "wrong horse"); giveathon.ErrorCode(err) != giveathon.ERATELIMITED {
		t.Errorf("the fourth wrong password: %v, want ERATELIMITED", err)
	}
}
