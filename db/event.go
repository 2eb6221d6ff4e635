package db

import (
	"context"
	"fmt"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/jackc/pgx/v5"
)

var _ giveathon.EventTotalsService = (*DB)(nil)

// FindEventTotals implements giveathon.EventTotalsService: two reads, the counters summed
// over their shards (a few rows per charity, however many donations there are) and the
// latest succeeded donations from their partial index.
func (db *DB) FindEventTotals(ctx context.Context, e giveathon.Event, recentLimit int) (*giveathon.EventSnapshot, error) {
	now := time.Now()
	snap := &giveathon.EventSnapshot{Name: e.Name, StartsAt: e.StartsAt, EndsAt: e.EndsAt, GoalCents: e.GoalCents,
		Open: e.CheckOpen(now) == nil, At: now}
	rows, err := db.read("").Query(ctx, `SELECT `+charityColumnsOf("c.")+`, t.total_cents, t.donation_count
		FROM (SELECT charity_id, sum(total_cents)::int8 AS total_cents, sum(donation_count)::int8 AS donation_count
			FROM event_totals GROUP BY charity_id) t
		JOIN charities c ON c.id = t.charity_id
		WHERE t.donation_count > 0
		ORDER BY t.total_cents DESC, c.name, c.id`)
	if err != nil {
		return nil, fmt.Errorf("read event totals: %w", err)
	}
	snap.CharityTotals, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*giveathon.CharityTotal, error) {
		var t giveathon.CharityTotal
		var count int64
		c, err := scanCharity(r, &t.TotalCents, &count)
		t.Charity, t.DonationCount = c, int(count)
		return &t, err
	})
	if err != nil {
		return nil, fmt.Errorf("read event totals: %w", err)
	}
	for _, t := range snap.CharityTotals {
		snap.TotalCents += t.TotalCents
		snap.DonationCount += t.DonationCount
	}
	if recentLimit <= 0 {
		return snap, nil
	}
	rows, err = db.read("").Query(ctx, `SELECT `+charityColumnsOf("c.")+`, CASE WHEN d.anonymous THEN $2 ELSE u.name END, d.amount_cents, d.currency, d.settled_at
		FROM donations d JOIN users u ON u.id = d.user_id JOIN charities c ON c.id = d.charity_id
		WHERE d.status = $3
		ORDER BY d.settled_at DESC LIMIT $1`, recentLimit, giveathon.AnonymousDonor, string(giveathon.StatusSucceeded))
	if err != nil {
		return nil, fmt.Errorf("read recent donations: %w", err)
	}
	snap.RecentDonations, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*giveathon.PublicDonation, error) {
		var p giveathon.PublicDonation
		var err error
		p.Charity, err = scanCharity(r, &p.DonorName, &p.AmountCents, &p.Currency, &p.SettledAt)
		return &p, err
	})
	if err != nil {
		return nil, fmt.Errorf("read recent donations: %w", err)
	}
	return snap, nil
}

// ReconcileEventTotals compares every charity's counters with the sum of its SUCCEEDED
// donations in one snapshot and books each difference on shard 0, so the totals agree with
// the table again. The comparison reads in a snapshot of its own (REPEATABLE READ, read only):
// at SERIALIZABLE, a read of the whole donations table would make every gift written
// meanwhile a serialization conflict. The corrections are written afterwards; moves committed
// in between are in neither side of the comparison, and their own counter updates stay
// correct.
func (db *DB) ReconcileEventTotals(ctx context.Context) ([]giveathon.TotalsCorrection, error) {
	tx, err := db.Pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("reconcile event totals: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read only
	rows, err := tx.Query(ctx, `WITH actual AS (
			SELECT charity_id, sum(amount_cents)::int8 AS cents, count(*)::int8 AS n
			FROM donations WHERE status = $1 GROUP BY charity_id),
		kept AS (
			SELECT charity_id, sum(total_cents)::int8 AS cents, sum(donation_count)::int8 AS n
			FROM event_totals GROUP BY charity_id)
		SELECT coalesce(a.charity_id, k.charity_id)::text,
			coalesce(a.cents, 0) - coalesce(k.cents, 0), coalesce(a.n, 0) - coalesce(k.n, 0)
		FROM actual a FULL JOIN kept k ON k.charity_id = a.charity_id
		WHERE coalesce(a.cents, 0) <> coalesce(k.cents, 0) OR coalesce(a.n, 0) <> coalesce(k.n, 0)`, string(giveathon.StatusSucceeded))
	if err != nil {
		return nil, fmt.Errorf("reconcile event totals: %w", err)
	}
	fixes, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (giveathon.TotalsCorrection, error) {
		var c giveathon.TotalsCorrection
		return c, r.Scan(&c.CharityID, &c.Cents, &c.Donations)
	})
	if err != nil {
		return nil, fmt.Errorf("reconcile event totals: %w", err)
	}
	_ = tx.Rollback(ctx)
	if len(fixes) == 0 {
		return nil, nil
	}
	err = db.InTx(ctx, func(tx pgx.Tx) error {
		for _, c := range fixes {
			if _, err := tx.Exec(ctx, `INSERT INTO event_totals (charity_id, shard, total_cents, donation_count)
				VALUES ($1, 0, $2, $3) ON CONFLICT (charity_id, shard) DO UPDATE SET
					total_cents = event_totals.total_cents + excluded.total_cents,
					donation_count = event_totals.donation_count + excluded.donation_count`,
				c.CharityID, c.Cents, c.Donations); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reconcile event totals: %w", err)
	}
	return fixes, nil
}
