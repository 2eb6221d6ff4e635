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
	// ProviderCallsPerDonor bounds the requests of one donor that call the payment provider
	// at once (createSetupIntent, refreshDonation): they draw on the Stripe rate the charge
	// workers need.
	ProviderCallsPerDonor Limit
}

// DefaultLimits are the limits when none are configured.
var DefaultLimits = Limits{
	LoginPerIP:            Limit{600, time.Minute},
	LoginPerAccount:       Limit{10, 15 * time.Minute},
	RegisterPerIP:         Limit{300, 10 * time.Minute},
	SubmitPerDonor:        Limit{120, time.Minute},
	AddCardPerDonor:       Limit{10, time.Hour},
	FailingCardsPerHour:   Limit{3, time.Hour},
	ProviderCallsPerDonor: Limit{20, 10 * time.Minute},
}

// Counter counts hits in fixed windows, in storage every API instance shares.
type Counter interface {
	// Hit counts one hit in the window of this length that holds now, and returns the hits so
	// far in it and when it ends.
	Hit(ctx context.Context, bucket string, window time.Duration) (int, time.Time, error)
	// AddUpTo counts n at once (a request's cost) if the window's count stays at most max, and
	// reports whether it did and the count.
	AddUpTo(ctx context.Context, bucket string, window time.Duration, n, max int) (int, time.Time, bool, error)
	// Release gives back one hit of the window that starts at start.
	Release(ctx context.Context, bucket string, start time.Time) error
}

// Reservation is a hit counted before the work it limits, so that concurrent requests cannot
// all pass the check before any is counted. Release gives it back when the work turns out not
// to count.
type Reservation struct {
	store  Counter
	bucket string
	start  time.Time
}

// Release gives the hit back. A nil *Reservation (no limit) does nothing.
func (r *Reservation) Release(ctx context.Context) error {
	if r == nil {
		return nil
	}
	return r.store.Release(ctx, r.bucket, r.start)
}

// GuardStore is the storage the guard needs: the shared counter, and the donor's card
// history.
type GuardStore interface {
	Counter
	CountFailingCards(ctx context.Context, userID string, since time.Time) (int, error)
}

// Guard enforces the abuse limits, with counters every API instance shares. A nil *Guard
// allows everything.
type Guard struct {
	Store  GuardStore
	Limits Limits
}

// Login is checked before a sign-in: per client address, and per account, where the
// attempt is counted as a failure before the password is checked (argon2id takes a while, and
// a count written after it let concurrent guesses all through). A sign-in that succeeds gives
// the failure back with the returned reservation's Release.
func (g *Guard) Login(ctx context.Context, email string) (*Reservation, error) {
	if g == nil {
		return nil, nil
	}
	if err := g.allow(ctx, g.Limits.LoginPerIP, "sign-ins", ClientIP(ctx)); err != nil {
		return nil, err
	}
	return g.reserve(ctx, g.Limits.LoginPerAccount, "failed sign-ins", email)
}

// Register is checked before an account is opened, per client address.
func (g *Guard) Register(ctx context.Context) error {
	if g == nil {
		return nil
	}
	return g.allow(ctx, g.Limits.RegisterPerIP, "sign-ups", ClientIP(ctx))
}

// Submit is checked before a donation: per donor.
func (g *Guard) Submit(ctx context.Context, userID string) error {
	if g == nil {
		return nil
	}
	// Card testing is checked with the submit's other facts, in its transaction (settlement,
	// CardTesting).
	return g.allow(ctx, g.Limits.SubmitPerDonor, "donations", userID)
}

// AddCard is checked before a card is saved: per donor, and against card testing. The try
// is counted at once; a save that never reached a verdict (the provider busy or unreachable)
// gives it back with the returned reservation's Release, so a donor who retries through an
// outage is not locked out of saving a card.
func (g *Guard) AddCard(ctx context.Context, userID string) (*Reservation, error) {
	if g == nil {
		return nil, nil
	}
	hold, err := g.reserve(ctx, g.Limits.AddCardPerDonor, "new cards", userID)
	if err != nil {
		return nil, err
	}
	return hold, g.cardTesting(ctx, userID)
}

// ProviderCall is checked before a donor's request that calls the payment provider at once
// (a SetupIntent, a refresh of a donation), per donor. A request the provider never answered
// (busy, unreachable) gives its count back with the reservation's Release.
func (g *Guard) ProviderCall(ctx context.Context, userID string) (*Reservation, error) {
	if g == nil {
		return nil, nil
	}
	return g.reserve(ctx, g.Limits.ProviderCallsPerDonor, "payment provider requests", userID)
}

// PartnerRequest is checked before a partner's request runs, per API key: one request against
// requests, then its cost (its GraphQL complexity) against budget; a request refused for its
// rate adds no cost, and a refused cost still counts, on the limit's side. It returns what
// is left of the budget in this window (-1 when the budget is off), or ERATELIMITED with the
// time to the window's end.
func (g *Guard) PartnerRequest(ctx context.Context, keyID string, cost int, requests, budget Limit) (int, error) {
	if g == nil {
		return -1, nil
	}
	if err := g.allow(ctx, requests, "requests with this API key", keyID); err != nil {
		return 0, err
	}
	if budget.Off() {
		return -1, nil
	}
	// A refused request runs nothing, so it costs nothing: what is left stays for requests that
	// fit in it (one query over the budget took the rest, and a gift of 8 was then refused until
	// the minute ended).
	spent, end, added, err := g.Store.AddUpTo(ctx, "API key cost:"+keyID, budget.Window, cost, budget.Max)
	if err != nil {
		return 0, err
	}
	if !added {
		return max(budget.Max-spent, 0), limitedUntil(end, "this API key has %d of its query cost budget left (%d per %s), and this query costs %d",
			max(budget.Max-spent, 0), budget.Max, budget.Window, cost)
	}
	return budget.Max - spent, nil
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
	return CardTesting(l, n, false)
}

// CardTesting is the card-testing rule: a donor with l.Max distinct cards declined within
// l.Window may go on only with a card that has succeeded before (cardSucceeded); otherwise
// ERATELIMITED. Saving a card checks it here (a new card never succeeded), a submit in its
// transaction's facts (settlement).
func CardTesting(l Limit, declined int, cardSucceeded bool) error {
	if l.Off() || declined < l.Max || cardSucceeded {
		return nil
	}
	return rateLimited("declined cards", time.Now().Add(l.Window))
}

// allow counts a hit on the bucket and returns ERATELIMITED, with the time to wait, when the
// limit is passed.
func (g *Guard) allow(ctx context.Context, limit Limit, what, key string) error {
	_, err := g.reserve(ctx, limit, what, key)
	return err
}

// reserve is allow, returning the hit it counted so that it can be given back; nil when the
// limit is off.
func (g *Guard) reserve(ctx context.Context, limit Limit, what, key string) (*Reservation, error) {
	if limit.Off() {
		return nil, nil
	}
	bucket := what + ":" + key
	hits, end, err := g.Store.Hit(ctx, bucket, limit.Window)
	if err != nil {
		return nil, err
	}
	if hits > limit.Max {
		return nil, rateLimited(what, end)
	}
	return &Reservation{store: g.Store, bucket: bucket, start: end.Add(-limit.Window)}, nil
}

func rateLimited(what string, until time.Time) error {
	return limitedUntil(until, "too many %s", what)
}

// limitedUntil returns ERATELIMITED with the message and the time to wait until then (at
// least a second).
func limitedUntil(until time.Time, format string, args ...any) error {
	wait := time.Until(until).Round(time.Second)
	if wait < time.Second {
		wait = time.Second
	}
	e := giveathon.Errorf(giveathon.ERATELIMITED, format+": try again in %s", append(args, wait)...)
	e.RetryAfter = wait
	return e
}
