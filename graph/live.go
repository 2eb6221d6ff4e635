package graph

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/auth"
)

// Changes wakes subscribers when what they watch may have changed (db.Changes: PostgreSQL
// LISTEN/NOTIFY, so that every API instance hears of a move made by any process).
type Changes interface {
	SubscribeDonation(id string) (<-chan struct{}, func())
	SubscribeTotals() (<-chan struct{}, func())
	// TotalsChangedAt is when the last notice that the totals changed arrived.
	TotalsChangedAt() time.Time
}

// Live is what the live parts of the API need: the event, its totals and change notices.
type Live struct {
	Event   giveathon.Event
	Totals  giveathon.EventTotalsService
	Changes Changes
	// MaxAge is how old a totals snapshot may be when read (default 250 ms): one read serves
	// every subscriber and query in that time, however many there are.
	MaxAge time.Duration
	// MinInterval is the least time between two pushes of the totals to one subscriber
	// (default 300 ms): a busy event is pushed a few times a second, not once per gift.
	MinInterval time.Duration
	// Poll is how often a subscription re-reads even without a notice (default 10 s), for a
	// notice lost when its publisher died between commit and publish.
	Poll time.Duration

	mu   sync.Mutex
	snap *giveathon.EventSnapshot
	// readFrom is when the read of snap began: it shows every change committed before then.
	readFrom time.Time
}

// errSessionEnded ends a donor's subscription whose session was signed out or expired.
var errSessionEnded = errors.New("the session has ended")

// recentLimit is how many recent donations a snapshot holds: the most a client may ask for.
const recentLimit = 50

// totalsReadTimeout bounds one read of the totals, which every reader of the instance waits for.
const totalsReadTimeout = 5 * time.Second

// defaults returns MaxAge, MinInterval and Poll, or their defaults (all of them for a nil
// Live: a server without live parts).
func (l *Live) defaults() (maxAge, minInterval, poll time.Duration) {
	if l != nil {
		maxAge, minInterval, poll = l.MaxAge, l.MinInterval, l.Poll
	}
	if maxAge <= 0 {
		maxAge = 250 * time.Millisecond
	}
	if minInterval <= 0 {
		minInterval = 300 * time.Millisecond
	}
	if poll <= 0 {
		poll = 10 * time.Second
	}
	return maxAge, minInterval, poll
}

// Snapshot returns the event with its totals, read at most MaxAge ago.
func (l *Live) Snapshot(ctx context.Context) (*giveathon.EventSnapshot, error) {
	maxAge, _, _ := l.defaults()
	return l.snapshotSince(ctx, time.Now().Add(-maxAge))
}

// snapshotSince returns a snapshot whose read began at since or later: after a change notice
// arrived at since, it shows that change. Callers arriving while a read is under way wait for
// it, and use it if it is recent enough, rather than starting their own.
func (l *Live) snapshotSince(ctx context.Context, since time.Time) (*giveathon.EventSnapshot, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.snap != nil && !l.readFrom.Before(since) {
		return l.snap, nil
	}
	from := time.Now()
	// Others wait for this read: it gets a bounded time of its own, whoever asked.
	readCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), totalsReadTimeout)
	defer cancel()
	snap, err := l.Totals.FindEventTotals(readCtx, l.Event, recentLimit)
	if err != nil {
		return nil, err
	}
	l.snap, l.readFrom = snap, from
	return snap, nil
}

// watch runs a subscription: it sends the first value, then re-reads on every wake-up (no
// sooner than minInterval after the last send) and on a timer, and sends what changed, until
// ctx ends. read gets the time of the wake-up (what it reads must be read after it), or the
// zero time for the timer's re-read. It owns out and closes it.
func watch[T any](ctx context.Context, logger *slog.Logger, wake <-chan struct{}, stop func(), minInterval, poll time.Duration,
	first T, read func(ctx context.Context, woke time.Time) (T, error), changed func(old, now T) bool, out chan<- T) {
	defer close(out)
	defer stop()
	send := func(v T) bool {
		select {
		case out <- v:
			return true
		case <-ctx.Done():
			return false
		}
	}
	if !send(first) {
		return
	}
	last, lastSent := first, time.Now()
	ticker := time.NewTicker(poll)
	defer ticker.Stop()
	// After a failed read the next try comes soon (a second, doubling up to poll), not at the
	// next notice or tick: the change it was woken for is not lost.
	var retry <-chan time.Time
	var retryWoke time.Time
	backoff := time.Second
	for {
		var woke time.Time
		select {
		case <-ctx.Done():
			return
		case <-wake:
			woke = time.Now()
			if wait := minInterval - time.Since(lastSent); wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
			}
		case <-ticker.C:
		case <-retry:
			woke = retryWoke
		}
		retry = nil
		now, err := read(ctx, woke)
		if errors.Is(err, errSessionEnded) {
			return
		}
		if err != nil {
			if ctx.Err() == nil {
				logger.WarnContext(ctx, "subscription: read failed, will try again", "err", err, "in", backoff)
			}
			retry, retryWoke = time.After(backoff), woke
			backoff = min(2*backoff, poll)
			continue
		}
		backoff = time.Second
		if !changed(last, now) {
			continue
		}
		if !send(now) {
			return
		}
		last, lastSent = now, time.Now()
	}
}

func donationChanged(old, now *giveathon.Donation) bool {
	return old.Status != now.Status || !old.UpdatedAt.Equal(now.UpdatedAt)
}

func totalsChanged(old, now *giveathon.EventSnapshot) bool {
	return old != now && (old.TotalCents != now.TotalCents || old.DonationCount != now.DonationCount ||
		old.Open != now.Open || len(old.RecentDonations) != len(now.RecentDonations) ||
		len(now.RecentDonations) > 0 && !now.RecentDonations[0].SettledAt.Equal(old.RecentDonations[0].SettledAt))
}

// subscribeDonation starts donationUpdated for the signed-in owner of donation id.
func (r *Resolver) subscribeDonation(ctx context.Context, id string) (<-chan *giveathon.Donation, error) {
	u, raw, err := signedInAndDonationID(ctx, id)
	if err != nil {
		return nil, err
	}
	// Listen first, then read: a move committed in between is in the read or wakes us.
	wake, stop := r.Live.Changes.SubscribeDonation(raw)
	d, err := r.DonationService.FindDonationByID(ctx, u.ID, raw)
	if err != nil {
		stop()
		return nil, err
	}
	_, _, poll := r.Live.defaults()
	out := make(chan *giveathon.Donation, 1)
	token := auth.RequestToken(ctx)
	go watch(ctx, r.Logger, wake, stop, 0, poll, d, func(ctx context.Context, woke time.Time) (*giveathon.Donation, error) {
		// The donor may have signed out since: then the stream ends, as the session did.
		if _, err := r.Auth.Authenticate(ctx, token); giveathon.ErrorCode(err) == giveathon.EUNAUTHORIZED {
			return nil, errSessionEnded
		} else if err != nil {
			return nil, err
		}
		if !woke.IsZero() {
			// A notice of a move: a lagging replica might not show it yet, the primary does.
			ctx = giveathon.NewContextWithFreshReads(ctx)
		}
		return r.DonationService.FindDonationByID(ctx, u.ID, d.ID)
	}, donationChanged, out)
	return out, nil
}

// subscribeTotals starts eventTotals.
func (r *Resolver) subscribeTotals(ctx context.Context) (<-chan *giveathon.EventSnapshot, error) {
	// Listen first, then read: a change committed in between is in the read or wakes us. The
	// shared snapshot serves if its read began after the last change heard of (and within
	// MaxAge), so a crowd opening the live page costs one read, not one each.
	wake, stop := r.Live.Changes.SubscribeTotals()
	maxAge, _, _ := r.Live.defaults()
	since := time.Now().Add(-maxAge)
	if changed := r.Live.Changes.TotalsChangedAt(); changed.After(since) {
		since = changed
	}
	snap, err := r.Live.snapshotSince(ctx, since)
	if err != nil {
		stop()
		return nil, err
	}
	_, minInterval, poll := r.Live.defaults()
	out := make(chan *giveathon.EventSnapshot, 1)
	read := func(ctx context.Context, woke time.Time) (*giveathon.EventSnapshot, error) {
		if woke.IsZero() {
			return r.Live.Snapshot(ctx)
		}
		return r.Live.snapshotSince(ctx, woke)
	}
	go watch(ctx, r.Logger, wake, stop, minInterval, poll, snap, read, totalsChanged, out)
	return out, nil
}
