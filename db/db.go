// Package db is Giveathon's storage on a PostgreSQL-wire database through pgx: the pool,
// transactions that survive serialization failures (CockroachDB's 40001, and PostgreSQL's at
// SERIALIZABLE), migrations, the queries behind the domain services, and the embedded
// PostgreSQL launcher of the default set-up.
package db

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DB is the domain database.
type DB struct {
	Pool *pgxpool.Pool
	// RetryTimeout bounds how long Retry (and so InTx) keeps trying work that conflicts or
	// loses its connection when the caller's context has no deadline (DefaultRetryTimeout
	// when zero). A context with a deadline is tried until that deadline.
	RetryTimeout time.Duration
	// Isolation is the isolation level of InTx's transactions: SERIALIZABLE by default, for
	// the transactions that read before they write and whose rule rests on that read (the
	// duplicate window of a submit, a donor's first card becoming the default). Transactions
	// whose guarantees rest on constraints and conditional updates alone say so with InTxAt.
	// See docs/design-notes.md, "Isolation and retries".
	Isolation pgx.TxIsoLevel
	// EnqueueTx, set when River's jobs live in this database, queues new donations' charges in
	// the transaction that records them (a single submit's one, a batch's all in one
	// statement); nil: the settlement queues each after commit.
	EnqueueTx ManyEnqueuer
	// batch, when set (EnableSubmitBatch), write-combines submits.
	batch *submitBatcher
	// settle, when set (EnableSettleBatch), write-combines the workers' charge claims and moves.
	settle *settleBatcher
	// replica, when set (OpenReplica), serves the reads that tolerate lag.
	replica *replica
}

// DefaultMaxConns is the size of a pool when none is set: 4 connections per core this process
// may use (GOMAXPROCS), at least 8. A server does no more at once than it has cores for;
// connections past that queue in PostgreSQL (each a backend with its own memory and snapshot)
// instead of in the pool, and a pool per process of 64 on 2 cores was 128 backends.
func DefaultMaxConns() int32 {
	return int32(max(8, 4*runtime.GOMAXPROCS(0)))
}

// Open connects a pool to the database at url and checks it answers. A pool holds at most
// maxConns connections; DefaultMaxConns when it is 0.
func Open(ctx context.Context, url string, maxConns int32) (*DB, error) {
	cfg, err := poolConfig(url, maxConns)
	if err != nil {
		return nil, fmt.Errorf("parse database URL: %w", err)
	}
	configureFailover(cfg, url)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database pool: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	return New(pool), nil
}

// poolConfig is what every pool of this process (the domain's, the jobs', the replica's)
// starts from: at most maxConns connections (DefaultMaxConns when 0), and sessions that run
// the generic plan of every prepared statement (docs/design-notes.md, "Generic plans": the
// money path's statements name one donor's partition, and PostgreSQL's default re-planned
// them at every run).
func poolConfig(url string, maxConns int32) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	if maxConns <= 0 {
		maxConns = DefaultMaxConns()
	}
	cfg.MaxConns = maxConns
	cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
	return cfg, nil
}

// New wraps an open pool.
func New(pool *pgxpool.Pool) *DB {
	return &DB{Pool: pool, RetryTimeout: DefaultRetryTimeout, Isolation: pgx.Serializable}
}

// Close closes the pool, and the replica's.
func (db *DB) Close() {
	if db.replica != nil {
		db.replica.close()
	}
	if db.settle != nil {
		db.settle.pool.Close()
	}
	db.Pool.Close()
}

// InTx runs fn in a transaction at db.Isolation (SERIALIZABLE unless configured otherwise)
// and commits it. Like Retry, it runs the whole transaction again after a serialization
// failure, a deadlock or a lost connection (a failed BEGIN or COMMIT included), until ctx's
// deadline, and answers EUNAVAILABLE with RetryAfter when that passes first.
//
// fn must therefore have no effects outside the transaction, and its writes must be
// idempotent: every caller writes under a unique key (the donation's idempotency key, one
// notification per donation and kind, River's unique jobs) or moves state with a conditional
// UPDATE (WHERE status = the old status), so running fn again after a COMMIT whose answer was
// lost finds the first run's work done instead of doing it twice.
func (db *DB) InTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return db.InTxAt(ctx, db.Isolation, fn)
}

// InTxAt is InTx at the given isolation level, for a transaction whose guarantees hold at
// that level: READ COMMITTED for one whose writes are all guarded by constraints and
// conditional updates; REPEATABLE READ for a read-only snapshot, which never fails to
// serialize.
func (db *DB) InTxAt(ctx context.Context, level pgx.TxIsoLevel, fn func(tx pgx.Tx) error) error {
	return db.Retry(ctx, func(ctx context.Context) error {
		tx, err := db.Pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: level})
		if err != nil {
			return fmt.Errorf("begin transaction: %w", err)
		}
		defer func() {
			// After Commit this is a no-op; after a failure it must not outlive a dead server.
			rbCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = tx.Rollback(rbCtx)
		}()
		if err := fn(tx); err != nil {
			return err
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		return nil
	})
}

// isUniqueViolation reports whether err is a unique violation of the named constraint (any
// constraint when name is empty). On a partitioned table PostgreSQL names the partition's own
// index ("donations_p5_user_id_idempotency_key_key"), which partitionKeys maps back.
func isUniqueViolation(err error, name string) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
		return false
	}
	if name == "" || pgErr.ConstraintName == name {
		return true
	}
	parent := partitionSuffix.ReplaceAllString(pgErr.TableName, "")
	own, ok := strings.CutPrefix(pgErr.ConstraintName, pgErr.TableName+"_")
	return ok && partitionKeys[parent+"."+own] == name
}

// partitionSuffix is the end of a partition's name (donations_p5).
var partitionSuffix = regexp.MustCompile(`_p[0-9]+$`)

// partitionKeys names the unique constraints of the partitioned tables by their partitions'
// own index names (table.columns_key).
var partitionKeys = map[string]string{
	"donations.user_id_idempotency_key_key":                  "donations_user_idempotency_key",
	"payment_methods.user_id_provider_payment_method_id_key": "payment_methods_user_provider_key",
	"payment_attempts.donation_id_attempt_no_key":            "payment_attempts_donation_attempt_key",
}

// pgxTx names the transaction type River's pgx driver works with.
type pgxTx = pgx.Tx

// oneRow turns the error of a single-row lookup into what callers expect: nil, ENOTFOUND
// ("<what> not found") for no row, or the error wrapped with the action.
// wrapInternal wraps an error that has no domain code with the action that failed; a domain
// error (a bad input, a conflict) goes to the client as it is.
func wrapInternal(err error, action string) error {
	if err != nil && giveathon.ErrorCode(err) == giveathon.EINTERNAL {
		return fmt.Errorf("%s: %w", action, err)
	}
	return err
}

func oneRow(err error, what, action string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return giveathon.Errorf(giveathon.ENOTFOUND, "%s not found", what)
	} else if err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	return nil
}
