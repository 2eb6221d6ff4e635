package db

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"regexp"
	"syscall"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/metrics"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DefaultRetryTimeout is how long Retry keeps trying for a context without a deadline of its
// own (a GraphQL request): long enough to ride out a burst of conflicts or a database restart,
// short enough for a donor to be told to come back rather than wait.
const DefaultRetryTimeout = 10 * time.Second

// Backoff between attempts: a random wait between half and all of a ceiling that doubles
// per attempt, which spreads out transactions that conflicted with each other. A conflict is worth trying again at once; a
// lost connection needs the server back first.
const (
	conflictBackoffBase = 2 * time.Millisecond
	conflictBackoffMax  = 250 * time.Millisecond
	connBackoffBase     = 50 * time.Millisecond
	connBackoffMax      = time.Second
)

// What an UNAVAILABLE answer tells the client to wait before trying again.
const (
	conflictRetryAfter = time.Second
	connRetryAfter     = 2 * time.Second
)

// retryTimeout is db.RetryTimeout, or DefaultRetryTimeout when unset.
func (db *DB) retryTimeout() time.Duration {
	if db.RetryTimeout <= 0 {
		return DefaultRetryTimeout
	}
	return db.RetryTimeout
}

// Retry runs fn until it succeeds, fails with an error that is not worth trying again, or
// ctx's deadline passes; a context without a deadline gets one of db.RetryTimeout (10 s when
// unset), which also bounds fn's statements. It tries again after a serialization failure
// (40001), a deadlock (40P01), and a lost or refused connection (the server restarting,
// failing over, or shutting sessions down: 57P01, 57P02, 57P03, class 08, a failed dial or
// BEGIN), with capped, jittered backoff.
//
// When the deadline passes before fn could succeed, Retry returns EUNAVAILABLE with
// RetryAfter: the write was not made durable in time, and the client should try again.
//
// fn must have no effects outside the database, and its writes must be idempotent (under a
// unique key, or a conditional UPDATE): a connection lost during COMMIT leaves it unknown
// whether the work committed, and Retry runs fn again, which must then find its own work done
// rather than do it twice.
func (db *DB) Retry(ctx context.Context, fn func(ctx context.Context) error) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, db.retryTimeout())
		defer cancel()
	}
	deadline, _ := ctx.Deadline()
	for attempt := 0; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		conflict, lost := IsConflict(err), IsConnectionLoss(err)
		if ctx.Err() != nil && (conflict || lost || errors.Is(err, ctx.Err()) || pgconn.Timeout(err)) {
			return unavailable(err, conflict)
		} else if !conflict && !lost {
			return err
		}
		base, ceiling := connBackoffBase, connBackoffMax
		if conflict {
			base, ceiling = conflictBackoffBase, conflictBackoffMax
			metrics.DBRetries.WithLabelValues("conflict").Inc()
		} else {
			metrics.DBRetries.WithLabelValues("connection").Inc()
		}
		wait := backoff(attempt, base, ceiling)
		if time.Until(deadline) < wait {
			return unavailable(err, conflict)
		}
		select {
		case <-ctx.Done():
			return unavailable(err, conflict)
		case <-time.After(wait):
		}
	}
}

// backoff returns a random wait in [ceiling/2, ceiling] of attempt's exponential ceiling:
// base doubled per attempt, at most max.
func backoff(attempt int, base, max time.Duration) time.Duration {
	ceiling := max
	if attempt < 30 && base<<attempt < max {
		ceiling = base << attempt
	}
	return ceiling/2 + rand.N(ceiling/2+1)
}

// AsUnavailable returns the EUNAVAILABLE answer for an error that means the database could not
// do the work now (a lost connection, a conflict that outlived its retries), or nil for any
// other: reads that are not retried answer so too, rather than as an internal error.
func AsUnavailable(err error) error {
	if conflict := IsConflict(err); conflict || IsConnectionLoss(err) {
		return unavailable(err, conflict)
	}
	return nil
}

// unavailable is the answer to work that could not be made durable before the deadline.
func unavailable(cause error, conflict bool) error {
	e := giveathon.Unavailable(connRetryAfter, "the database is not answering in time: try again in a moment")
	if conflict {
		e = giveathon.Unavailable(conflictRetryAfter, "too many changes at once: try again in a moment")
	}
	// Both stay inspectable: the domain error for the client, the cause for the log.
	return fmt.Errorf("%w: %w", e, cause)
}

// sqlState finds a SQLSTATE in an error's text, for errors that were flattened into a
// message on their way here (errors.As finds nothing then).
var sqlState = regexp.MustCompile(`\(SQLSTATE ([0-9A-Z]{5})\)`)

// errorState returns the SQLSTATE of err: from a *pgconn.PgError in its chain, or from its
// text; "" when it has none.
func errorState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	if m := sqlState.FindStringSubmatch(err.Error()); m != nil {
		return m[1]
	}
	return ""
}

// IsConflict reports whether err is a serialization failure (40001) or a deadlock (40P01):
// the transaction was rolled back and may simply be run again.
func IsConflict(err error) bool {
	if err == nil {
		return false
	}
	switch errorState(err) {
	case "40001", "40P01":
		return true
	}
	return false
}

// IsConnectionLoss reports whether err means the database could not be reached or dropped
// the session: a refused or failed dial, a connection closed under a statement, or the
// server shutting sessions down or not yet taking them (57P01 admin shutdown, 57P02 crash
// shutdown, 57P03 cannot connect now, class 08, 53300 too many connections, 25006 a
// read-only server, as a demoted primary is during a failover, and pgx's "read only
// connection" when no host of a target_session_attrs=read-write DSN takes writes yet).
func IsConnectionLoss(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, pgconn.ErrReadOnlyConnection) {
		return true
	}
	if state := errorState(err); state != "" {
		switch {
		case state == "57P01", state == "57P02", state == "57P03", state == "53300", state == "25006", state[:2] == "08":
			return true
		}
		return false
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return false // the caller's own deadline (a net.Error too): Retry answers it
	case errors.As(err, &connectErr), pgconn.SafeToRetry(err):
		return true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.As(err, &netErr):
		return true
	}
	return connGone.MatchString(err.Error())
}

// connGone matches pgx's own words for a connection it already knows is gone, and a dial
// error that lost its type on the way.
var connGone = regexp.MustCompile(`\bconn closed\b|\bunexpected EOF\b|connection refused|failed to connect to|read only connection`)

// IsRetryable reports whether Retry runs work again after err: a conflict or a lost
// connection.
func IsRetryable(err error) bool { return IsConflict(err) || IsConnectionLoss(err) }

// QueryRow runs one statement of its own on the pool, retried as Retry does when its row is
// scanned. The statement must be idempotent (a read, an upsert, a conditional UPDATE): after
// a connection lost at its end it runs again.
func (db *DB) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return retriedRow{db: db, ctx: ctx, sql: sql, args: args}
}

// retriedRow runs its query when scanned.
type retriedRow struct {
	db   *DB
	ctx  context.Context
	sql  string
	args []any
}

// Scan implements pgx.Row.
func (r retriedRow) Scan(dest ...any) error {
	return r.db.Retry(r.ctx, func(ctx context.Context) error {
		return r.db.Pool.QueryRow(ctx, r.sql, r.args...).Scan(dest...)
	})
}

// Exec runs one statement of its own on the pool, retried as Retry does. The statement must
// be idempotent, as for QueryRow.
func (db *DB) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	var tag pgconn.CommandTag
	err := db.Retry(ctx, func(ctx context.Context) error {
		var err error
		tag, err = db.Pool.Exec(ctx, sql, args...)
		return err
	})
	return tag, err
}
