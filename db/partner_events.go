package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/giveathon/giveathon"
	"github.com/jackc/pgx/v5"
)

const partnerEventColumns = `id::text, partner_id::text, coalesce(donation_id::text, ''), type, data, created_at,
	coalesce(seq, 0), coalesce(total_cents, 0), coalesce(total_count, 0)`

func scanPartnerEvent(row pgx.Row) (*giveathon.PartnerEvent, error) {
	var e giveathon.PartnerEvent
	err := row.Scan(&e.ID, &e.PartnerID, &e.DonationID, &e.Type, &e.Data, &e.CreatedAt, &e.Seq, &e.TotalCents, &e.TotalCount)
	if err != nil {
		return nil, err
	}
	return &e, nil
}

// FindPartnersToSequence returns the partners that have events without a sequence number.
func (db *DB) FindPartnersToSequence(ctx context.Context) ([]string, error) {
	rows, err := db.Pool.Query(ctx, `SELECT DISTINCT partner_id::text FROM partner_events WHERE seq IS NULL`)
	if err != nil {
		return nil, fmt.Errorf("find partners with unsequenced events: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("find partners with unsequenced events: %w", err)
	}
	return ids, nil
}

// SequencedHook is called with the events just numbered, in the transaction that numbers them.
type SequencedHook func(ctx context.Context, tx pgx.Tx, events []giveathon.PartnerEvent) error

// SequencePartnerEvents gives up to limit of the partner's unsequenced events, oldest first
// (created_at, id), the partner's next sequence numbers and its running totals after each
// (giveathon.PartnerTotals), and calls hook (if any) with them, in one transaction that holds
// the partner's row: sequencers of one partner take turns, so numbers have no gap and no
// duplicate. It returns how many events it numbered.
func (db *DB) SequencePartnerEvents(ctx context.Context, partnerID string, limit int, hook SequencedHook) (int, error) {
	var n int
	err := db.InTx(ctx, func(tx pgx.Tx) error {
		n = 0
		var seq, cents, count int64
		if err := tx.QueryRow(ctx, `SELECT last_seq, total_cents, total_count FROM partners WHERE id = $1 FOR UPDATE`, partnerID).
			Scan(&seq, &cents, &count); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+partnerEventColumns+` FROM partner_events
			WHERE partner_id = $1 AND seq IS NULL ORDER BY created_at, id LIMIT $2`, partnerID, limit)
		if err != nil {
			return err
		}
		list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (giveathon.PartnerEvent, error) {
			e, err := scanPartnerEvent(r)
			if err != nil {
				return giveathon.PartnerEvent{}, err
			}
			return *e, nil
		})
		if err != nil || len(list) == 0 {
			return err
		}
		ids := make([]string, len(list))
		seqs, totalCents, totalCounts := make([]int64, len(list)), make([]int64, len(list)), make([]int64, len(list))
		for i := range list {
			e := &list[i]
			var data struct {
				AmountCents int64 `json:"amountCents"`
			}
			if err := json.Unmarshal(e.Data, &data); err != nil {
				return fmt.Errorf("read the data of partner event %s: %w", e.ID, err)
			}
			dc, dn := giveathon.PartnerTotals(e.Type, data.AmountCents)
			seq, cents, count = seq+1, cents+dc, count+dn
			e.Seq, e.TotalCents, e.TotalCount = seq, cents, count
			ids[i], seqs[i], totalCents[i], totalCounts[i] = e.ID, seq, cents, count
		}
		if _, err := tx.Exec(ctx, `UPDATE partner_events e SET seq = v.seq, total_cents = v.cents, total_count = v.n
			FROM unnest($2::uuid[], $3::int8[], $4::int8[], $5::int8[]) AS v(id, seq, cents, n)
			WHERE e.partner_id = $1 AND e.id = v.id`, partnerID, ids, seqs, totalCents, totalCounts); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE partners SET last_seq = $2, total_cents = $3, total_count = $4 WHERE id = $1`,
			partnerID, seq, cents, count); err != nil {
			return err
		}
		if hook != nil {
			if err := hook(ctx, tx, list); err != nil {
				return fmt.Errorf("after sequencing: %w", err)
			}
		}
		n = len(list)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("sequence the events of partner %s: %w", partnerID, err)
	}
	return n, nil
}

// AnnounceMilestones records every step of tenPercent steps (10, 20, ... up to percent) not
// announced yet and, for each, writes an event.milestone event to every partner, in one
// statement: of two processes announcing at once, the one whose insert wins announces. It
// returns the steps this call announced.
func (db *DB) AnnounceMilestones(ctx context.Context, percent int, totalCents, goalCents int64) ([]int, error) {
	rows, err := db.Pool.Query(ctx, `WITH reached AS (
			INSERT INTO event_milestones (percent) SELECT generate_series(10, $1::int, 10)
			ON CONFLICT (percent) DO NOTHING RETURNING percent),
		told AS (
			INSERT INTO partner_events (partner_id, type, data, created_at)
			SELECT p.id, $4, jsonb_build_object('percent', r.percent, 'totalCents', $2::int8, 'goalCents', $3::int8),
				-- Steps crossed at once are numbered in their order.
				now() + r.percent * interval '1 microsecond'
			FROM reached r CROSS JOIN partners p)
		SELECT percent FROM reached ORDER BY percent`, min(percent, 1000), totalCents, goalCents, giveathon.EventMilestone)
	if err != nil {
		return nil, fmt.Errorf("announce milestones: %w", err)
	}
	steps, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return nil, fmt.Errorf("announce milestones: %w", err)
	}
	return steps, nil
}

// FindEventTotalCents returns the event's total: the sum of its counters.
func (db *DB) FindEventTotalCents(ctx context.Context) (int64, error) {
	var total int64
	if err := db.Pool.QueryRow(ctx, `SELECT coalesce(sum(total_cents), 0)::int8 FROM event_totals`).Scan(&total); err != nil {
		return 0, fmt.Errorf("read the event's total: %w", err)
	}
	return total, nil
}

// FindPartnerEvents returns up to first+1 of the partner's sequenced events with a sequence
// number above after, in order.
func (db *DB) FindPartnerEvents(ctx context.Context, partnerID string, after int64, first int) ([]*giveathon.PartnerEvent, error) {
	rows, err := db.Pool.Query(ctx, `SELECT `+partnerEventColumns+` FROM partner_events
		WHERE partner_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, partnerID, after, first+1)
	if err != nil {
		return nil, fmt.Errorf("find partner events: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*giveathon.PartnerEvent, error) { return scanPartnerEvent(r) })
	if err != nil {
		return nil, fmt.Errorf("find partner events: %w", err)
	}
	return list, nil
}

// FindTotalsCheckpoint returns the partner's totals just after its event with sequence number
// seq (the latest when nil, zeros for 0), or EINVALID when it has no such event yet.
func (db *DB) FindTotalsCheckpoint(ctx context.Context, partnerID string, seq *int64) (*giveathon.TotalsCheckpoint, error) {
	c := &giveathon.TotalsCheckpoint{}
	var err error
	switch {
	case seq == nil:
		err = db.QueryRow(ctx, `SELECT last_seq, total_cents, total_count FROM partners WHERE id = $1`, partnerID).
			Scan(&c.Sequence, &c.TotalCents, &c.DonationCount)
	case *seq < 0:
		return nil, giveathon.Invalid("sequence", "sequence must be 0 or more")
	case *seq == 0:
		return c, nil
	default:
		err = db.QueryRow(ctx, `SELECT seq, total_cents, total_count FROM partner_events WHERE partner_id = $1 AND seq = $2`, partnerID, *seq).
			Scan(&c.Sequence, &c.TotalCents, &c.DonationCount)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, giveathon.Invalid("sequence", "no event with this sequence yet")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("find the totals of partner %s: %w", partnerID, err)
	}
	return c, nil
}
