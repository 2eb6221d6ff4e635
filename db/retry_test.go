package db_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/db"
	"github.com/giveathon/giveathon/internal/testenv"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
)

// conflicting sets up a table with one row and returns a transaction body that updates it,
// after a second connection has updated and committed the same row behind the transaction's
// snapshot: a real serialization failure (40001, "could not serialize access due to
// concurrent update") on each of the first `conflicts` runs, then success.
func conflicting(t *testing.T, d *db.DB, conflicts int, runs *int) func(tx pgx.Tx) error {
	t.Helper()
	ctx := context.Background()
	if _, err := d.Pool.Exec(ctx, `CREATE TABLE counter (id int PRIMARY KEY, v int NOT NULL); INSERT INTO counter VALUES (1, 0)`); err != nil {
		t.Fatal(err)
	}
	return func(tx pgx.Tx) error {
		*runs++
		var v int
		if err := tx.QueryRow(ctx, `SELECT v FROM counter WHERE id = 1`).Scan(&v); err != nil {
			return err
		}
		if *runs <= conflicts {
			if _, err := d.Pool.Exec(ctx, `UPDATE counter SET v = v + 1000 WHERE id = 1`); err != nil {
				return fmt.Errorf("the other writer: %w", err)
			}
		}
		_, err := tx.Exec(ctx, `UPDATE counter SET v = v + 1 WHERE id = 1`)
		return err
	}
}

// TestInTxRetriesConflictsUntilTheyClear: fifteen serialization failures in a row (more than
// the ten tries InTx used to give up after) are all retried, within the deadline.
func TestInTxRetriesConflictsUntilTheyClear(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	const conflicts = 15
	var runs int
	fn := conflicting(t, d, conflicts, &runs)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := d.InTx(ctx, fn); err != nil {
		t.Fatalf("InTx gave up after %d runs: %v", runs, err)
	}
	if runs != conflicts+1 {
		t.Fatalf("fn ran %d times, want %d", runs, conflicts+1)
	}
	var v int
	_ = d.Pool.QueryRow(ctx, `SELECT v FROM counter`).Scan(&v)
	if v != conflicts*1000+1 {
		t.Fatalf("counter = %d, want %d: an update was lost or applied twice", v, conflicts*1000+1)
	}
}

// TestInTxAnswersUnavailableWhenConflictsOutlastTheDeadline: conflicts that never clear end,
// at the deadline, in a retryable EUNAVAILABLE with RetryAfter, not in the raw 40001.
func TestInTxAnswersUnavailableWhenConflictsOutlastTheDeadline(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	var runs int
	fn := conflicting(t, d, 1<<30, &runs)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := d.InTx(ctx, fn)
	if giveathon.ErrorCode(err) != giveathon.EUNAVAILABLE || giveathon.ErrorRetryAfter(err) <= 0 {
		t.Fatalf("after %d runs: code %q, retry after %v, err %v; want EUNAVAILABLE with RetryAfter",
			runs, giveathon.ErrorCode(err), giveathon.ErrorRetryAfter(err), err)
	}
	if runs < 2 {
		t.Fatalf("fn ran %d times: the conflict was not retried", runs)
	}
	if !db.IsConflict(err) {
		t.Fatalf("the cause is lost from %v", err)
	}
}

// TestRetryGivesAContextWithoutDeadlineOne: a caller without a deadline (a GraphQL request)
// is bounded by RetryTimeout, and answered EUNAVAILABLE when it passes.
func TestRetryGivesAContextWithoutDeadlineOne(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	d.RetryTimeout = 200 * time.Millisecond
	var runs int
	fn := conflicting(t, d, 1<<30, &runs)
	err := d.InTx(context.Background(), fn)
	if giveathon.ErrorCode(err) != giveathon.EUNAVAILABLE || giveathon.ErrorRetryAfter(err) <= 0 {
		t.Fatalf("after %d runs: %v; want EUNAVAILABLE with RetryAfter", runs, err)
	}
}

// TestInTxRunsNothingAgainAfterOtherErrors: only conflicts and lost connections are retried.
func TestInTxRunsNothingAgainAfterOtherErrors(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	ctx := context.Background()
	if _, err := d.Pool.Exec(ctx, `CREATE TABLE once (id int PRIMARY KEY); INSERT INTO once VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	var runs int
	err := d.InTx(ctx, func(tx pgx.Tx) error {
		runs++
		_, err := tx.Exec(ctx, `INSERT INTO once VALUES (1)`)
		return err
	})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" || runs != 1 {
		t.Fatalf("a unique violation ran %d times and returned %v", runs, err)
	}
}

type retryTestArgs struct{ N int }

func (retryTestArgs) Kind() string { return "retry_test" }

func (retryTestArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// TestRiverInsertTxConflictIsRetried: a serialization failure raised inside River's InsertTx
// (a unique job inserted and committed by another transaction after this one's snapshot)
// comes out of River still classified as a conflict, so InTx runs the transaction again,
// which then finds the job queued.
func TestRiverInsertTxConflictIsRetried(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	ctx := context.Background()
	client, err := river.NewClient(riverpgxv5.New(d.Pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var runs int
	var firstErr error
	var skipped bool
	err = d.InTx(ctx, func(tx pgx.Tx) error {
		runs++
		if _, err := tx.Exec(ctx, `SELECT 1`); err != nil { // takes the snapshot
			return err
		}
		if runs == 1 {
			if _, err := client.Insert(ctx, retryTestArgs{N: 1}, nil); err != nil {
				return fmt.Errorf("the other writer: %w", err)
			}
		}
		res, err := client.InsertTx(ctx, tx, retryTestArgs{N: 1}, nil)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			return fmt.Errorf("queue: %w", err)
		}
		skipped = res.UniqueSkippedAsDuplicate
		return nil
	})
	if err != nil {
		t.Fatalf("InTx: %v (first error %v)", err, firstErr)
	}
	if runs != 2 || !db.IsConflict(firstErr) || !skipped {
		t.Fatalf("runs %d, first error %v (conflict: %v), second run found the job: %v", runs, firstErr, db.IsConflict(firstErr), skipped)
	}
}

func TestErrorClassification(t *testing.T) {
	t.Parallel()
	pg := func(code string) error { return &pgconn.PgError{Code: code, Message: "m"} }
	for _, tc := range []struct {
		name           string
		err            error
		conflict, lost bool
	}{
		{"serialization failure", pg("40001"), true, false},
		{"deadlock", pg("40P01"), true, false},
		{"wrapped twice", fmt.Errorf("queue charge: %w", fmt.Errorf("insert: %w", pg("40001"))), true, false},
		{"flattened into text", fmt.Errorf("queue charge: %v", pg("40001")), true, false},
		{"joined", errors.Join(errors.New("other"), pg("40P01")), true, false},
		{"admin shutdown", pg("57P01"), false, true},
		{"crash shutdown", pg("57P02"), false, true},
		{"cannot connect now", pg("57P03"), false, true},
		{"connection failure", pg("08006"), false, true},
		{"too many connections", pg("53300"), false, true},
		{"read-only server", pg("25006"), false, true},
		{"refused", fmt.Errorf("begin transaction: %w", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), false, true},
		{"reset", fmt.Errorf("commit: %w", syscall.ECONNRESET), false, true},
		{"eof", fmt.Errorf("commit: %w", io.ErrUnexpectedEOF), false, true},
		{"conn closed", errors.New("conn closed"), false, true},
		{"unique violation", pg("23505"), false, false},
		{"syntax", pg("42601"), false, false},
		{"no rows", pgx.ErrNoRows, false, false},
		{"domain", giveathon.Errorf(giveathon.EINVALID, "no"), false, false},
		{"deadline", context.DeadlineExceeded, false, false},
		{"nil", nil, false, false},
	} {
		if got := db.IsConflict(tc.err); got != tc.conflict {
			t.Errorf("%s: IsConflict = %v", tc.name, got)
		}
		if got := db.IsConnectionLoss(tc.err); got != tc.lost {
			t.Errorf("%s: IsConnectionLoss = %v", tc.name, got)
		}
	}
}
