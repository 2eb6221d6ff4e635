package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/auth"
	"github.com/giveathon/giveathon/db"
	"github.com/giveathon/giveathon/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestSessionCache: a cached session is trusted for the TTL and no longer; signing out
// through the same service forgets it at once; one signed out elsewhere (another instance,
// sharing the database) is refused once its entry ages out.
func TestSessionCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, err := db.Open(ctx, testenv.URL(t), 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	now := time.Now()
	clock := func() time.Time { return now }
	cheap := auth.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}
	here := &auth.Service{Store: d, Params: cheap, Now: clock, SessionCacheTTL: 5 * time.Second}
	elsewhere := &auth.Service{Store: d, Params: cheap, Now: clock}

	s, err := here.Register(ctx, giveathon.RegisterInput{Email: "cache@example.org", Name: "Cache", Password: "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	if u, err := here.Authenticate(ctx, s.Token); err != nil || u.Email != "cache@example.org" {
		t.Fatalf("authenticate: %v, %v", u, err)
	}
	// Signed out through the other instance: this one still trusts its entry for the TTL...
	if err := elsewhere.Logout(ctx, s.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := elsewhere.Authenticate(ctx, s.Token); giveathon.ErrorCode(err) != giveathon.EUNAUTHORIZED {
		t.Fatalf("the instance that signed out still accepts the token: %v", err)
	}
	now = now.Add(4 * time.Second)
	if _, err := here.Authenticate(ctx, s.Token); err != nil {
		t.Fatalf("within the TTL: %v", err)
	}
	// ...and no longer.
	now = now.Add(2 * time.Second)
	if _, err := here.Authenticate(ctx, s.Token); giveathon.ErrorCode(err) != giveathon.EUNAUTHORIZED {
		t.Fatalf("after the TTL a signed-out token is still accepted: %v", err)
	}

	// Signing out through the caching instance forgets the token at once.
	s2, err := here.Login(ctx, giveathon.LoginInput{Email: "cache@example.org", Password: "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := here.Authenticate(ctx, s2.Token); err != nil {
		t.Fatal(err)
	}
	if err := here.Logout(ctx, s2.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := here.Authenticate(ctx, s2.Token); giveathon.ErrorCode(err) != giveathon.EUNAUTHORIZED {
		t.Fatalf("signed out here, still accepted here: %v", err)
	}
}
