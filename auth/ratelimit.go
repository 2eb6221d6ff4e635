package auth

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/giveathon/giveathon"
)

// Limit is at most Max hits per Window.
type Limit struct {
	Max    int
	Window time.Duration
}

// ParseLimit reads a limit written as "N/duration", e.g. "600/1m"; "0" or "off" turns it off.
func ParseLimit(s string) (Limit, error) {
	s = strings.TrimSpace(s)
	if s == "0" || s == "off" {
		return Limit{}, nil
	}
	n, w, ok := strings.Cut(s, "/")
	max, err := strconv.Atoi(n)
	if !ok || err != nil || max < 1 {
		return Limit{}, fmt.Errorf("%q is not N/duration (e.g. 600/1m), 0 or off", s)
	}
	window, err := time.ParseDuration(w)
	if err != nil || window < time.Second {
		return Limit{}, fmt.Errorf("%q: the window must be a duration of at least 1s", s)
	}
	return Limit{Max: max, Window: window}, nil
}

// Off reports whether the limit is turned off.
func (l Limit) Off() bool { return l.Max == 0 }

// String writes the limit as ParseLimit reads it.
func (l Limit) String() string {
	if l.Off() {
		return "off"
	}
	return fmt.Sprintf("%d/%s", l.Max, l.Window)
}

// Limits are the abuse limits. The defaults let 100 donors behind one venue's network sign in,
// sign up and give at the event's peak, while card testing and password guessing stop early.
type Limits struct {
	LoginPerIP          Limit
	LoginPerAccount     Limit // failed sign-ins of one account
	RegisterPerIP       Limit
	SubmitPerDonor      Limit
	AddCardPerDonor     Limit
	FailingCardsPerHour Limit // distinct declined cards of one donor
}

// DefaultLimits are the limits when none are configured.
var DefaultLimits = Limits{
	LoginPerIP:          Limit{600, time.Minute},
	LoginPerAccount:     Limit{10, 15 * time.Minute},
	RegisterPerIP:       Limit{300, 10 * time.Minute},
	SubmitPerDonor:      Limit{120, time.Minute},
	AddCardPerDonor:     Limit{10, time.Hour},
	FailingCardsPerHour: Limit{3, time.Hour},
}

// Counter counts hits in fixed windows, in storage every API instance shares.
type Counter interface {
	Hit(ctx context.Context, bucket string, window time.Duration) (int, time.Time, error)
	Hits(ctx context.Context, bucket string, window time.Duration) (int, time.Time, error)
}

// GuardStore is the storage the guard needs: the shared counter, and the donor's card
// history.
type GuardStore interface {
	Counter
	CountFailingCards(ctx context.Context, userID string, since time.Time) (int, error)
	CardHasSucceeded(ctx context.Context, userID, paymentMethodID string) (bool, error)
}

// Guard enforces the abuse limits, with counters every API instance shares. A nil *Guard
// allows everything.
type Guard struct {
	Store  GuardStore
	Limits Limits
}

// Login is checked before a sign-in: per client address, and per account (failed sign-ins).
func (g *Guard) Login(ctx context.Context, email string) error {
	if g == nil {
		return nil
	}
	if err := g.allow(ctx, g.Limits.LoginPerIP, "sign-ins", ClientIP(ctx)); err != nil {
		return err
	}
	return g.check(ctx, g.Limits.LoginPerAccount, "failed sign-ins", email)
}

// LoginFailed counts a failed sign-in of an account.
func (g *Guard) LoginFailed(ctx context.Context, email string) error {
	if g == nil || g.Limits.LoginPerAccount.Off() {
		return nil
	}
	_, _, err := g.Store.Hit(ctx, "failed sign-ins:"+email, g.Limits.LoginPerAccount.Window)
	return err
}

// Register is checked before an account is opened, per client address.
func (g *Guard) Register(ctx context.Context) error {
	if g == nil {
		return nil
	}
	return g.allow(ctx, g.Limits.RegisterPerIP, "sign-ups", ClientIP(ctx))
}

// Submit is checked before a donation: per donor, and against card testing (a donor whose
// distinct cards keep being declined may give only with a card that has worked before).
func (g *Guard) Submit(ctx context.Context, userID, paymentMethodID string) error {
	if g == nil {
		return nil
	}
	if err := g.allow(ctx, g.Limits.SubmitPerDonor, "donations", userID); err != nil {
		return err
	}
	if err := g.cardTesting(ctx, userID); err != nil {
		if ok, herr := g.Store.CardHasSucceeded(ctx, userID, paymentMethodID); herr != nil {
			return herr
		} else if !ok {
			return err
		}
	}
	return nil
}

// AddCard is checked before a card is saved: per donor, and against card testing.
func (g *Guard) AddCard(ctx context.Context, userID string) error {
	if g == nil {
		return nil
	}
	if err := g.allow(ctx, g.Limits.AddCardPerDonor, "new cards", userID); err != nil {
		return err
	}
	return g.cardTesting(ctx, userID)
}

func (g *Guard) cardTesting(ctx context.Context, userID string) error {
	l := g.Limits.FailingCardsPerHour
	if l.Off() {
		return nil
	}
	n, err := g.Store.CountFailingCards(ctx, userID, time.Now().Add(-l.Window))
	if err != nil {
		return err
	}
	if n >= l.Max {
		return rateLimited("declined cards", time.Now().Add(l.Window))
	}
	return nil
}

// allow counts a hit on the bucket and returns ERATELIMITED, with the time to wait, when the
// limit is passed.
func (g *Guard) allow(ctx context.Context, limit Limit, what, key string) error {
	if limit.Off() {
		return nil
	}
	hits, end, err := g.Store.Hit(ctx, what+":"+key, limit.Window)
	if err != nil {
		return err
	}
	if hits > limit.Max {
		return rateLimited(what, end)
	}
	return nil
}

// check returns ERATELIMITED when the bucket is already at the limit, without counting.
func (g *Guard) check(ctx context.Context, limit Limit, what, key string) error {
	if limit.Off() {
		return nil
	}
	hits, end, err := g.Store.Hits(ctx, what+":"+key, limit.Window)
	if err != nil {
		return err
	}
	if hits >= limit.Max {
		return rateLimited(what, end)
	}
	return nil
}

func rateLimited(what string, until time.Time) error {
	wait := time.Until(until).Round(time.Second)
	if wait < time.Second {
		wait = time.Second
	}
	e := giveathon.Errorf(giveathon.ERATELIMITED, "too many %s: try again in %s", what, wait)
	e.RetryAfter = wait
	return e
}
