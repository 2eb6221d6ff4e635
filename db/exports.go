package db

import (
	"context"
	"fmt"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// ExportRow is one donation of the CSV export, with its charity and donor.
type ExportRow struct {
	Donation    giveathon.Donation
	CharityName string
	DonorEmail  string
	DonorName   string
}

// exportPage is how many donations an export reads at a time.
const exportPage = 1000

// ExportDonations calls fn for every donation that f selects (its page is ignored), oldest
// first. It reads them a page at a time, in (created_at, id) order after the last one read,
// and holds no connection while fn runs: fn writes to a client that may read slowly, and an
// export that held its query open for the download took a pooled connection for as long (a
// few slow downloads took the whole pool, and the API with it). The set is never held in
// memory; a donation is read as it is when its page is.
func (db *DB) ExportDonations(ctx context.Context, f giveathon.AdminDonationFilter, fn func(*ExportRow) error) error {
	where, args, err := adminDonationsWhere(f)
	if err != nil {
		return err
	}
	n := len(args)
	sql := fmt.Sprintf(`SELECT `+donationColumnsOf("d.")+`, c.name, u.email, u.name
		FROM donations d JOIN users u ON u.id = d.user_id JOIN charities c ON c.id = d.charity_id
		WHERE %s AND (d.created_at, d.id) > ($%d, $%d::uuid) ORDER BY d.created_at, d.id LIMIT %d`, where, n+1, n+2, exportPage)
	// Before every donation: the first time there is, and the least uuid.
	after, afterID := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), uuid.Nil.String()
	for {
		page, err := db.exportPage(ctx, sql, append(args, after, afterID))
		if err != nil {
			return err
		}
		for i := range page {
			if err := fn(&page[i]); err != nil {
				return err
			}
		}
		if len(page) < exportPage {
			return nil
		}
		last := page[len(page)-1].Donation
		after, afterID = last.CreatedAt, last.ID
	}
}

// exportPage reads one page of ExportDonations, again after a lost connection or a failover
// (Retry): one dropped connection cut a long export short.
func (db *DB) exportPage(ctx context.Context, sql string, args []any) ([]ExportRow, error) {
	var page []ExportRow
	err := db.Retry(ctx, func(ctx context.Context) error {
		rows, err := db.Pool.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		page, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (ExportRow, error) {
			var r ExportRow
			d, err := scanDonation(row, &r.CharityName, &r.DonorEmail, &r.DonorName)
			if err == nil {
				r.Donation = *d
			}
			return r, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("export donations: %w", err)
	}
	return page, nil
}

// CharityPayout is one charity's totals for the payout. Disputed are the succeeded donations
// under a dispute still open, DisputedCents what those disputes hold: the provider took that
// money back when they opened, so it is not paid out until they close (won: it comes back;
// lost: the donation becomes REFUNDED).
type CharityPayout struct {
	Charity        giveathon.Charity
	Succeeded      int64
	SucceededCents int64
	Refunded       int64
	RefundedCents  int64
	Disputed       int64
	DisputedCents  int64
	LastGiftAt     *time.Time
}

// NetCents is what is paid out: the succeeded donations less what open disputes hold.
func (p *CharityPayout) NetCents() int64 { return p.SucceededCents - p.DisputedCents }

// ExportCharityPayouts calls fn for every charity, by name, with its succeeded and refunded
// donations counted from the donations themselves, and its open disputes from theirs.
func (db *DB) ExportCharityPayouts(ctx context.Context, fn func(*CharityPayout) error) error {
	rows, err := db.Pool.Query(ctx, `WITH open AS (
			SELECT d.charity_id, count(DISTINCT d.id) AS n, sum(x.amount_cents) AS cents
			FROM disputes x JOIN donations d ON d.user_id = x.user_id AND d.id = x.donation_id
			WHERE d.status = $1 AND x.status <> ALL ($3::text[])
			GROUP BY d.charity_id)
		SELECT `+charityColumnsOf("c.")+`,
		count(d.id) FILTER (WHERE d.status = $1), coalesce(sum(d.amount_cents) FILTER (WHERE d.status = $1), 0),
		count(d.id) FILTER (WHERE d.status = $2), coalesce(sum(d.amount_cents) FILTER (WHERE d.status = $2), 0),
		coalesce(min(o.n), 0), coalesce(min(o.cents), 0),
		max(d.settled_at) FILTER (WHERE d.status = $1)
		FROM charities c LEFT JOIN donations d ON d.charity_id = c.id LEFT JOIN open o ON o.charity_id = c.id
		GROUP BY c.id ORDER BY c.name, c.id`, string(giveathon.StatusSucceeded), string(giveathon.StatusRefunded), giveathon.ClosedDisputeStatuses)
	if err != nil {
		return fmt.Errorf("export charities: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var p CharityPayout
		c, err := scanCharity(rows, &p.Succeeded, &p.SucceededCents, &p.Refunded, &p.RefundedCents, &p.Disputed, &p.DisputedCents, &p.LastGiftAt)
		if err != nil {
			return fmt.Errorf("export charities: %w", err)
		}
		p.Charity = *c
		if err := fn(&p); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("export charities: %w", err)
	}
	return nil
}
