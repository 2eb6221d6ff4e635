package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/db"
)

// sequencerBatch is the most events of one partner one transaction numbers.
const sequencerBatch = 500

// SequencedHook is called with a partner's events just numbered (ID, PartnerID, Type, Data,
// CreatedAt, Seq set), in the transaction that numbers them: what it writes commits with the
// numbers, or neither does (webhooks.Dispatcher.Dispatch turns them into deliveries):
// func(ctx context.Context, tx pgx.Tx, events []giveathon.PartnerEvent) error.
type SequencedHook = db.SequencedHook

// Sequencer gives partners' events their sequence numbers and running totals, in the order
// they were written, and announces the event's milestones. Several processes may run it:
// each partner's numbering holds the partner's row, so they take turns.
type Sequencer struct {
	DB *db.DB
	// OnSequenced, when set, is called with each numbered batch in its transaction.
	OnSequenced SequencedHook
	// Event is the event whose goal the milestones are steps of (none when its goal is 0).
	Event  giveathon.Event
	Logger *slog.Logger
	// Interval is how long the sequencer waits when it found nothing to number.
	Interval time.Duration

	// announced is the highest milestone this process knows is announced.
	announced int
}

// Run sequences until ctx ends: at once while batches come full, every Interval otherwise.
func (s *Sequencer) Run(ctx context.Context) {
	repeat(ctx, s.Interval, func(ctx context.Context) bool {
		if err := s.Milestones(ctx); err != nil && ctx.Err() == nil {
			s.Logger.WarnContext(ctx, "announce milestones", "err", err)
		}
		full, err := s.Sequence(ctx)
		if err != nil && ctx.Err() == nil {
			s.Logger.WarnContext(ctx, "sequence partner events", "err", err)
		}
		return full && err == nil
	})
}

// Sequence numbers one batch of each partner's unsequenced events, and reports whether a
// batch came full (more may wait).
func (s *Sequencer) Sequence(ctx context.Context) (bool, error) {
	partners, err := s.DB.FindPartnersToSequence(ctx)
	if err != nil {
		return false, err
	}
	full := false
	for _, id := range partners {
		n, err := s.DB.SequencePartnerEvents(ctx, id, sequencerBatch, s.OnSequenced)
		if err != nil {
			return full, err
		}
		full = full || n == sequencerBatch
	}
	return full, nil
}

// Milestones announces each 10 % of the event's goal the event's total has reached and that
// is not announced yet: one cheap read of the counters when nothing is new.
func (s *Sequencer) Milestones(ctx context.Context) error {
	goal := s.Event.GoalCents
	if goal <= 0 {
		return nil
	}
	total, err := s.DB.FindEventTotalCents(ctx)
	if err != nil {
		return err
	}
	percent := int(min(total*10/goal, 100)) * 10
	if percent < 10 || percent <= s.announced {
		return nil
	}
	steps, err := s.DB.AnnounceMilestones(ctx, percent, total, goal)
	if err != nil {
		return err
	}
	if len(steps) > 0 {
		s.Logger.InfoContext(ctx, "milestones reached", "percent", steps, "total_cents", total, "goal_cents", goal)
	}
	s.announced = percent
	return nil
}
