package db

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// changesChannel is the PostgreSQL notification channel of donation changes, on the jobs
// database (River's, always PostgreSQL): the domain database may be CockroachDB, which has no
// LISTEN/NOTIFY.
const changesChannel = "giveathon_changes"

// totalsNotice is the payload that says only the event's totals changed (the reconciler
// corrected them).
const totalsNotice = "totals"

// Changes carries notices of donation changes between processes: whichever process moves a
// donation (a worker, the webhook) publishes, and every API instance listens and wakes its
// subscribers. A notice says only what changed; subscribers read the state itself, so a
// notice lost between a commit and a crash costs a delay (subscribers also re-read on a
// timer, and everyone re-reads after the listener reconnects), never a wrong answer.
type Changes struct {
	pool   *pgxpool.Pool
	logger *slog.Logger

	mu        sync.Mutex
	donations map[string]map[chan struct{}]struct{}
	totals    map[chan struct{}]struct{}
	// totalsAt is when the last notice that the totals changed arrived (or notices may have
	// been missed).
	totalsAt time.Time

	// outbox holds notices for the sender started by Send; nil: each is sent at once.
	outbox chan string
}

// Batching: notices wait at most sendEvery and go out together in one statement, so a busy
// worker pays one round trip for many moves rather than one each.
const (
	sendEvery  = 20 * time.Millisecond
	outboxSize = 10000
	sendBatch  = 500
)

// NewChanges returns Changes over the jobs database's pool.
func NewChanges(jobsPool *pgxpool.Pool, logger *slog.Logger) *Changes {
	return &Changes{pool: jobsPool, logger: logger,
		donations: map[string]map[chan struct{}]struct{}{}, totals: map[chan struct{}]struct{}{}}
}

// DonationChanged publishes that donation d moved: its subscribers re-read it, and when it
// moved into or out of SUCCEEDED the event totals' subscribers re-read them.
func (c *Changes) DonationChanged(ctx context.Context, d *giveathon.Donation) error {
	return c.publish(ctx, d.ID+" "+string(d.Status))
}

// TotalsChanged publishes that the event's totals changed.
func (c *Changes) TotalsChanged(ctx context.Context) error {
	return c.publish(ctx, totalsNotice)
}

func (c *Changes) publish(ctx context.Context, payload string) error {
	if c.outbox == nil {
		return c.send(ctx, []string{payload})
	}
	select {
	case c.outbox <- payload:
		return nil
	default:
		// Subscribers re-read on a timer: a dropped notice delays them, no more.
		return fmt.Errorf("publish change %q: %d notices waiting already, dropped", payload, outboxSize)
	}
}

// send notifies the listeners of payloads, in one statement.
func (c *Changes) send(ctx context.Context, payloads []string) error {
	if _, err := c.pool.Exec(ctx, `SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`, changesChannel, payloads); err != nil {
		return fmt.Errorf("publish %d changes: %w", len(payloads), err)
	}
	return nil
}

// Send starts sending the published notices in batches, until ctx ends; what is waiting then
// is sent (within a second) before the returned channel closes. Call it once, before
// publishing.
func (c *Changes) Send(ctx context.Context) <-chan struct{} {
	c.outbox = make(chan string, outboxSize)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ticker := time.NewTicker(sendEvery)
		defer ticker.Stop()
		var batch []string
		flush := func(ctx context.Context) {
			for i := 0; i < len(batch); i += sendBatch {
				part := batch[i:min(i+sendBatch, len(batch))]
				if err := c.send(ctx, part); err != nil {
					c.logger.WarnContext(ctx, "change notices not sent", "count", len(part), "err", err)
				}
			}
			batch = batch[:0]
		}
		for {
			select {
			case p := <-c.outbox:
				batch = append(batch, p)
			case <-ticker.C:
				flush(ctx)
			case <-ctx.Done():
				for len(c.outbox) > 0 {
					batch = append(batch, <-c.outbox)
				}
				stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
				flush(stopCtx)
				cancel()
				return
			}
		}
	}()
	return done
}

// SubscribeDonation returns a channel that receives a wake-up whenever donation id may have
// changed, and the function that ends the subscription.
func (c *Changes) SubscribeDonation(id string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	c.mu.Lock()
	if c.donations[id] == nil {
		c.donations[id] = map[chan struct{}]struct{}{}
	}
	c.donations[id][ch] = struct{}{}
	c.mu.Unlock()
	return ch, func() {
		c.mu.Lock()
		delete(c.donations[id], ch)
		if len(c.donations[id]) == 0 {
			delete(c.donations, id)
		}
		c.mu.Unlock()
	}
}

// SubscribeTotals returns a channel that receives a wake-up whenever the event's totals may
// have changed, and the function that ends the subscription.
func (c *Changes) SubscribeTotals() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	c.mu.Lock()
	c.totals[ch] = struct{}{}
	c.mu.Unlock()
	return ch, func() {
		c.mu.Lock()
		delete(c.totals, ch)
		c.mu.Unlock()
	}
}

// TotalsChangedAt returns when this process last heard that the event's totals changed: a
// snapshot read after it is current.
func (c *Changes) TotalsChangedAt() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.totalsAt
}

// wake sends a wake-up without blocking: one pending wake-up per subscriber is enough.
func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// deliver wakes the subscribers a notice concerns.
func (c *Changes) deliver(payload string) {
	id, status, _ := strings.Cut(payload, " ")
	c.mu.Lock()
	defer c.mu.Unlock()
	if payload != totalsNotice {
		for ch := range c.donations[id] {
			wake(ch)
		}
	}
	if payload == totalsNotice || status == string(giveathon.StatusSucceeded) || status == string(giveathon.StatusRefunded) {
		c.totalsAt = time.Now()
		for ch := range c.totals {
			wake(ch)
		}
	}
}

// wakeAll wakes every subscriber, after notices may have been missed.
func (c *Changes) wakeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.totalsAt = time.Now()
	for _, set := range c.donations {
		for ch := range set {
			wake(ch)
		}
	}
	for ch := range c.totals {
		wake(ch)
	}
}

// Listen receives notices on a connection of its own until ctx ends, reconnecting (with a
// growing pause, at most 5 s) when the connection fails.
func (c *Changes) Listen(ctx context.Context) {
	pause := 100 * time.Millisecond
	for first := true; ctx.Err() == nil; first = false {
		err := c.listenOnce(ctx, func() {
			pause = 100 * time.Millisecond
			if !first {
				// Notices sent while the connection was down are gone: everyone re-reads.
				c.wakeAll()
			}
		})
		if ctx.Err() != nil {
			return
		}
		c.logger.WarnContext(ctx, "change notices: connection lost, reconnecting", "err", err, "pause", pause)
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, 5*time.Second)
	}
}

func (c *Changes) listenOnce(ctx context.Context, listening func()) error {
	conn, err := pgx.ConnectConfig(ctx, c.pool.Config().ConnConfig.Copy())
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+changesChannel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	listening()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		c.deliver(n.Payload)
	}
}
