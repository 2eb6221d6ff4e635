package db

import (
	"context"
	"fmt"
	"time"

	"github.com/giveathon/giveathon"
)

// Hit counts one hit on a rate-limit bucket in the fixed window of the given length that
// holds now, and returns the hits so far in that window and when the window ends (Add of 1).
func (db *DB) Hit(ctx context.Context, bucket string, window time.Duration) (int, time.Time, error) {
	return db.Add(ctx, bucket, window, 1)
}

// Add counts n on a rate-limit bucket in the fixed window of the given length that holds now
// (a request's cost, say), and returns the count so far in that window and when the window
// ends. It is one statement, so many instances counting the same bucket at once all count; run
// again after a connection lost at its end, it may count twice, which errs on the limit's side.
func (db *DB) Add(ctx context.Context, bucket string, window time.Duration, n int) (int, time.Time, error) {
	now := time.Now()
	start := now.Truncate(window)
	var hits int
	err := db.QueryRow(ctx, `INSERT INTO rate_limits (bucket, window_start, hits) SELECT $1, $2, $3 WHERE `+notMoney+`
		ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limits.hits + $3
		RETURNING hits`, bucket, start, n).Scan(&hits)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("count rate limit %s: %w", bucket, err)
	}
	return hits, start.Add(window), nil
}

// AddUpTo counts n on a rate-limit bucket as Add does, but only if the count stays at most
// max: it reports whether it counted, and the count in the window (with n when it did). One
// statement decides, so requests at once cannot push the count past max, nor is a request that
// does not fit counted (which refused others that would have fit while it was given back).
func (db *DB) AddUpTo(ctx context.Context, bucket string, window time.Duration, n, max int) (int, time.Time, bool, error) {
	start := time.Now().Truncate(window)
	var hits int
	var added bool
	err := db.QueryRow(ctx, `WITH add AS (
			INSERT INTO rate_limits (bucket, window_start, hits) SELECT $1, $2, $3::int WHERE $3::int <= $4::int AND `+notMoney+`
			ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limits.hits + $3::int WHERE rate_limits.hits + $3::int <= $4::int
			RETURNING hits)
		SELECT coalesce((SELECT hits FROM add), (SELECT hits FROM rate_limits WHERE bucket = $1 AND window_start = $2), 0),
			EXISTS (SELECT 1 FROM add)`, bucket, start, n, max).Scan(&hits, &added)
	if err != nil {
		return 0, time.Time{}, false, fmt.Errorf("count rate limit %s: %w", bucket, err)
	}
	return hits, start.Add(window), added, nil
}

// Release gives back one hit counted by Hit in the window that starts at start (the end Hit
// returned, less the window): a hit reserved for work that turned out not to count.
func (db *DB) Release(ctx context.Context, bucket string, start time.Time) error {
	_, err := db.Exec(ctx, `UPDATE rate_limits SET hits = hits - 1 WHERE bucket = $1 AND window_start = $2 AND hits > 0 AND `+notMoney,
		bucket, start)
	if err != nil {
		return fmt.Errorf("release rate limit %s: %w", bucket, err)
	}
	return nil
}

// PruneExpired deletes what no longer counts: rate-limit windows that ended more than a day
// ago, and read-your-writes fences more than an hour old (any replica in use has replayed far
// past them); it returns how many rows it deleted.
func (db *DB) PruneExpired(ctx context.Context) (int64, error) {
	var n int64
	err := db.Pool.QueryRow(ctx, `WITH limits AS (DELETE FROM rate_limits WHERE window_start < $1 RETURNING 1),
			fences AS (DELETE FROM replica_fences WHERE written_at < $2 RETURNING 1)
		SELECT (SELECT count(*) FROM limits) + (SELECT count(*) FROM fences)`, time.Now().Add(-24*time.Hour), time.Now().Add(-time.Hour)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("prune expired rate limits and fences: %w", err)
	}
	return n, nil
}

// CountFailingCards returns how many of the donor's distinct cards were declined since then:
// the sign of card testing.
func (db *DB) CountFailingCards(ctx context.Context, userID string, since time.Time) (int, error) {
	var n int
	if err := db.QueryRow(ctx, `SELECT `+sqlDeclinedCards("$1", "$2"), userID, since).Scan(&n); err != nil {
		return 0, fmt.Errorf("count failing cards: %w", err)
	}
	return n, nil
}

// sqlDeclinedCards is the SQL for how many distinct cards of the donor (an SQL expression)
// were declined since then (an SQL timestamp; NULL: none): failures that are the card's, not
// the provider's or the network's. Its status is written out for the partial index of failed
// gifts (generic plans, docs/design-notes.md).
func sqlDeclinedCards(donor, since string) string {
	return `(SELECT count(DISTINCT payment_method_id) FROM donations
		WHERE user_id = ` + donor + ` AND status = '` + string(giveathon.StatusFailed) + `' AND created_at > ` + since + `
		  AND failure_code NOT IN ('provider_unavailable', 'processing_error', 'timeout', 'network_error', 'canceled'))`
}

// sqlCardSucceeded is the SQL for whether a gift of the donor with the card (SQL expressions)
// ever succeeded.
func sqlCardSucceeded(donor, card string) string {
	return `EXISTS (SELECT 1 FROM donations WHERE user_id = ` + donor + ` AND payment_method_id = ` + card +
		` AND status = '` + string(giveathon.StatusSucceeded) + `')`
}
