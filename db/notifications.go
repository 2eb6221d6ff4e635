package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/jackc/pgx/v5"
)

// OutboxEmail is a claimed outbox row with what its e-mail says: the donation, its donor and
// its charity.
type OutboxEmail struct {
	ID       string
	Kind     string
	Attempts int
	// CreatedAt is when the move wrote the row.
	CreatedAt   time.Time
	Donation    *giveathon.Donation
	DonorName   string
	DonorEmail  string
	CharityName string
	CharityEIN  string
}

// Notification statuses: pending (written by the move, waiting for the drainer), sending
// (claimed under a lease: the e-mail may or may not have left), sent, logged (no SMTP server
// configured: recorded only), and failed (given up).
const (
	NotificationPending = "pending"
	NotificationSending = "sending"
	NotificationSent    = "sent"
	NotificationLogged  = "logged"
	NotificationFailed  = "failed"
)

// ClaimNotifications claims up to limit due outbox rows for lease: pending rows whose time has
// come, and rows whose earlier claim's lease ran out (its drainer died, perhaps after the
// server took the e-mail: that one counts as a delivery, and goes out again with the same
// Message-ID). SKIP LOCKED lets several drainers share the outbox.
//
// The claim is one statement; the e-mails' donations, donors and charities are read after it
// by their keys. Joined into the claim, the planner looked each donation up by its donor
// alone, reading every donation of the donor for each e-mail (18-30 ms a claim in the bench,
// with 150 gifts a donor). The donors are read apart: joined into the donations' read, they
// made it 20 ms a claim instead of 1.2 (measured in the bench's settle phase).
func (db *DB) ClaimNotifications(ctx context.Context, limit int, lease time.Duration) ([]*OutboxEmail, error) {
	type claim struct {
		e                *OutboxEmail
		userID, donation string
	}
	rows, err := db.Pool.Query(ctx, `WITH due AS (
			SELECT id FROM notifications
			WHERE status IN ('`+NotificationPending+`', '`+NotificationSending+`') AND next_attempt_at <= now() AND (lease_until IS NULL OR lease_until < now())
			ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
		UPDATE notifications n SET status = $3, lease_until = now() + $2 * interval '1 second', attempts = n.attempts + 1,
			deliveries = n.deliveries + CASE WHEN n.status = $3 THEN 1 ELSE 0 END
		FROM due WHERE n.id = due.id
		RETURNING n.id::text, n.kind, n.attempts, n.created_at, n.user_id::text, n.donation_id::text`, limit, lease.Seconds(), NotificationSending)
	if err != nil {
		return nil, fmt.Errorf("claim notifications: %w", err)
	}
	claims, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (claim, error) {
		c := claim{e: &OutboxEmail{}}
		return c, r.Scan(&c.e.ID, &c.e.Kind, &c.e.Attempts, &c.e.CreatedAt, &c.userID, &c.donation)
	})
	if err != nil || len(claims) == 0 {
		if err != nil {
			err = fmt.Errorf("claim notifications: %w", err)
		}
		return nil, err
	}
	users, ids := make([]string, len(claims)), make([]string, len(claims))
	for i, c := range claims {
		users[i], ids[i] = c.userID, c.donation
	}
	// The donations with their charities: each by (donor, id), then its charity by id.
	rows, err = db.Pool.Query(ctx, `SELECT `+donationColumnsOf("d.")+`, c.name, c.ein FROM donations d
		JOIN unnest($1::uuid[], $2::uuid[]) AS r(u, i) ON d.user_id = r.u AND d.id = r.i
		JOIN charities c ON c.id = d.charity_id`, users, ids)
	if err != nil {
		return nil, fmt.Errorf("read the claimed e-mails' donations: %w", err)
	}
	type gift struct {
		d                   *giveathon.Donation
		charity, charityEIN string
	}
	gifts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (gift, error) {
		var g gift
		var err error
		g.d, err = scanDonation(r, &g.charity, &g.charityEIN)
		return g, err
	})
	if err != nil {
		return nil, fmt.Errorf("read the claimed e-mails' donations: %w", err)
	}
	byID := make(map[string]gift, len(gifts))
	for _, g := range gifts {
		byID[g.d.ID] = g
	}
	rows, err = db.Pool.Query(ctx, `SELECT id::text, name, email FROM users WHERE id = ANY($1::uuid[])`, users)
	if err != nil {
		return nil, fmt.Errorf("read the claimed e-mails' donors: %w", err)
	}
	type donor struct{ id, name, email string }
	donors, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (donor, error) {
		var p donor
		return p, r.Scan(&p.id, &p.name, &p.email)
	})
	if err != nil {
		return nil, fmt.Errorf("read the claimed e-mails' donors: %w", err)
	}
	people := make(map[string]donor, len(donors))
	for _, p := range donors {
		people[p.id] = p
	}
	list := make([]*OutboxEmail, 0, len(claims))
	for _, c := range claims {
		g, ok := byID[c.donation]
		p, known := people[c.userID]
		if !ok || !known {
			return nil, fmt.Errorf("claim notifications: e-mail %s names donation %s of donor %s, which is not there", c.e.ID, c.donation, c.userID)
		}
		c.e.Donation, c.e.CharityName, c.e.CharityEIN, c.e.DonorName, c.e.DonorEmail = g.d, g.charity, g.charityEIN, p.name, p.email
		list = append(list, c.e)
	}
	return list, nil
}

// MarkNotifications records, in one statement, that the claimed rows ids were handed to the
// SMTP server (or logged): status is NotificationSent or NotificationLogged.
func (db *DB) MarkNotifications(ctx context.Context, ids []string, status string) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := db.Pool.Exec(ctx, `UPDATE notifications SET status = $2, sent_at = now(), lease_until = NULL,
		deliveries = deliveries + 1, last_error = NULL
		WHERE id = ANY($1::uuid[]) AND status = $3 AND `+notMoney, ids, status, NotificationSending)
	if err != nil {
		return fmt.Errorf("mark %d notifications %s: %w", len(ids), status, err)
	}
	return nil
}

// OutboxFailure is a claimed row whose e-mail did not go out.
type OutboxFailure struct {
	ID    string
	Error string
	// RetryAt is when to try again; zero: never (the row fails).
	RetryAt time.Time
}

// ReleaseNotifications puts claimed rows whose e-mail did not go out back in the outbox for
// their retry time, or marks them failed, in one statement.
func (db *DB) ReleaseNotifications(ctx context.Context, list []OutboxFailure) error {
	if len(list) == 0 {
		return nil
	}
	ids, errs, at := make([]string, len(list)), make([]string, len(list)), make([]*time.Time, len(list))
	for i, f := range list {
		ids[i], errs[i] = f.ID, f.Error
		if !f.RetryAt.IsZero() {
			at[i] = &list[i].RetryAt
		}
	}
	_, err := db.Pool.Exec(ctx, `UPDATE notifications n SET
			status = CASE WHEN f.retry_at IS NULL THEN $4 ELSE $5 END,
			next_attempt_at = coalesce(f.retry_at, n.next_attempt_at), lease_until = NULL, last_error = f.err
		FROM unnest($1::uuid[], $2::text[], $3::timestamptz[]) AS f(id, err, retry_at)
		WHERE n.id = f.id AND n.status = $6 AND `+notMoney, ids, errs, at, NotificationFailed, NotificationPending, NotificationSending)
	if err != nil {
		return fmt.Errorf("release %d notifications: %w", len(list), err)
	}
	return nil
}

// NotificationStatus returns the status of a donation's notification of kind, or "" when
// there is none.
func (db *DB) NotificationStatus(ctx context.Context, donationID, kind string) (string, error) {
	var status string
	err := db.Pool.QueryRow(ctx, `SELECT status FROM notifications WHERE donation_id = $1 AND kind = $2`, donationID, kind).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("read %s notification of %s: %w", kind, donationID, err)
	}
	return status, nil
}

// CountNotifications returns how many notifications a donation has, by kind.
func (db *DB) CountNotifications(ctx context.Context, donationID string) (map[string]int, error) {
	rows, err := db.Pool.Query(ctx, `SELECT kind, count(*) FROM notifications WHERE donation_id = $1 GROUP BY kind`, donationID)
	if err != nil {
		return nil, fmt.Errorf("count notifications: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var kind string
		var n int
		if err := rows.Scan(&kind, &n); err != nil {
			return nil, err
		}
		out[kind] = n
	}
	return out, rows.Err()
}
