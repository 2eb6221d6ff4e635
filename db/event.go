package db

import (
	"context"
	"errors"
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
		WHERE d.status = '`+string(giveathon.StatusSucceeded)+`'
		ORDER BY d.settled_at DESC LIMIT $1`, recentLimit, giveathon.AnonymousDonor)
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
// donations and books each difference on shard 0, so the totals agree with the table again.
//
// It reads only what changed since its last run. A gift's part in the totals changes twice at
// most: when it succeeds (settled_at, stamped once) and when it is refunded (updated_at: a
// refunded donation changes no more). Both stamps are the writing transaction's now(). So the
// checkpoint (totals_folded, by charity: the gifts that succeeded before folded_before, less
// those refunded before it) never changes once written, and a charity's SUCCEEDED sum is its
// checkpoint plus the gifts that succeeded since, less the gifts refunded since that had
// succeeded before (two partial indexes). Each run moves folded_before up to a moment before
// every transaction still open (pg_stat_activity), so no gift stamped before it can commit
// after the run's snapshot. The first run, with no checkpoint, reads every gift once.
//
// The comparison reads in a snapshot of its own (REPEATABLE READ, read only): at SERIALIZABLE,
// a read of the donations would make every gift written meanwhile a serialization conflict.
// The corrections and the checkpoint are written afterwards, only if no other run moved the
// checkpoint meanwhile; moves committed in between are in neither side of the comparison, and
// their own counter updates stay correct.
func (db *DB) ReconcileEventTotals(ctx context.Context) ([]giveathon.TotalsCorrection, error) {
	var foldBefore time.Time
	if err := db.Pool.QueryRow(ctx, sqlFoldBefore).Scan(&foldBefore); err != nil {
		return nil, fmt.Errorf("reconcile event totals: when to fold up to: %w", err)
	}
	tx, err := db.Pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("reconcile event totals: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read only
	var since *time.Time
	if err := tx.QueryRow(ctx, `SELECT folded_before FROM totals_watermark`).Scan(&since); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("reconcile event totals: read the checkpoint: %w", err)
	}
	if since != nil && !foldBefore.After(*since) {
		foldBefore = *since
	}
	rows, err := tx.Query(ctx, sqlCompareTotals, since, foldBefore)
	if err != nil {
		return nil, fmt.Errorf("reconcile event totals: %w", err)
	}
	var fixes []giveathon.TotalsCorrection
	var fold struct {
		charities      []string
		cents, donated []int64
	}
	var c giveathon.TotalsCorrection
	var foldCents, foldDonated int64
	_, err = pgx.ForEachRow(rows, []any{&c.CharityID, &c.Cents, &c.Donations, &foldCents, &foldDonated}, func() error {
		if c.Cents != 0 || c.Donations != 0 {
			fixes = append(fixes, c)
		}
		if foldCents != 0 || foldDonated != 0 {
			fold.charities = append(fold.charities, c.CharityID)
			fold.cents, fold.donated = append(fold.cents, foldCents), append(fold.donated, foldDonated)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reconcile event totals: %w", err)
	}
	_ = tx.Rollback(ctx)
	corrected := false
	err = db.InTx(ctx, func(tx pgx.Tx) error {
		corrected = false
		// The checkpoint moves from where this run read it, or another run did the work.
		tag, err := tx.Exec(ctx, `INSERT INTO totals_watermark AS w (folded_before) VALUES ($2)
			ON CONFLICT (id) DO UPDATE SET folded_before = excluded.folded_before
			WHERE w.folded_before = $1`, since, foldBefore)
		if err != nil || tag.RowsAffected() != 1 {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO totals_folded (charity_id, cents, donations)
			SELECT * FROM unnest($1::uuid[], $2::int8[], $3::int8[])
			ON CONFLICT (charity_id) DO UPDATE SET cents = totals_folded.cents + excluded.cents,
				donations = totals_folded.donations + excluded.donations`,
			fold.charities, fold.cents, fold.donated); err != nil {
			return err
		}
		for _, c := range fixes {
			if _, err := tx.Exec(ctx, `INSERT INTO event_totals (charity_id, shard, total_cents, donation_count)
				VALUES ($1, 0, $2, $3) ON CONFLICT (charity_id, shard) DO UPDATE SET
					total_cents = event_totals.total_cents + excluded.total_cents,
					donation_count = event_totals.donation_count + excluded.donation_count`,
				c.CharityID, c.Cents, c.Donations); err != nil {
				return err
			}
		}
		corrected = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reconcile event totals: %w", err)
	}
	if !corrected {
		return nil, nil
	}
	return fixes, nil
}

// sqlFoldBefore is how far a run may fold: a moment before every transaction open now (a
// gift such a transaction settles is stamped with its start), with a margin for a transaction
// that is starting; when some sessions of the database are hidden from this role, no later
// than a quarter of an hour ago (beyond any statement's time).
const sqlFoldBefore = `SELECT least(now(), min(xact_start),
		CASE WHEN bool_or(state IS NULL) THEN now() - interval '15 minutes' END) - interval '5 seconds'
	FROM pg_stat_activity WHERE datname = current_database() AND (backend_type = 'client backend' OR backend_type IS NULL)`

// sqlCompareTotals returns, by charity, the SUCCEEDED sum less the counters (cents, count)
// and what to fold into the checkpoint, from the checkpoint ($1, NULL for none) on, up to $2:
// the gifts that succeeded since $1 (donations_succeeded_settled_idx) and the refunds since $1
// (donations_refunded_idx).
var sqlCompareTotals = `WITH changed AS (
		SELECT charity_id, amount_cents, settled_at, updated_at, false AS refunded FROM donations
		WHERE status = '` + string(giveathon.StatusSucceeded) + `' AND settled_at >= coalesce($1::timestamptz, '-infinity')
		UNION ALL
		SELECT charity_id, amount_cents, settled_at, updated_at, true FROM donations
		WHERE status = '` + string(giveathon.StatusRefunded) + `' AND updated_at >= coalesce($1::timestamptz, '-infinity')),
	parts AS (
		SELECT charity_id, amount_cents,
			coalesce(settled_at >= coalesce($1::timestamptz, '-infinity'), false)::int - refunded::int AS live,
			coalesce(settled_at >= coalesce($1::timestamptz, '-infinity') AND settled_at < $2, false)::int - (refunded AND updated_at < $2)::int AS folded
		FROM changed),
	delta AS (
		SELECT charity_id, sum(amount_cents * live)::int8 AS cents, sum(live)::int8 AS n,
			sum(amount_cents * folded)::int8 AS fold_cents, sum(folded)::int8 AS fold_n
		FROM parts GROUP BY charity_id),
	kept AS (
		SELECT charity_id, sum(total_cents)::int8 AS cents, sum(donation_count)::int8 AS n
		FROM event_totals GROUP BY charity_id),
	charities AS (
		SELECT charity_id FROM delta UNION SELECT charity_id FROM kept UNION SELECT charity_id FROM totals_folded)
	SELECT c.charity_id::text,
		coalesce(f.cents, 0) + coalesce(d.cents, 0) - coalesce(k.cents, 0),
		coalesce(f.donations, 0) + coalesce(d.n, 0) - coalesce(k.n, 0),
		coalesce(d.fold_cents, 0), coalesce(d.fold_n, 0)
	FROM charities c LEFT JOIN delta d USING (charity_id) LEFT JOIN kept k USING (charity_id)
		LEFT JOIN totals_folded f USING (charity_id)`
