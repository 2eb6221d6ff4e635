// Package db is Giveathon's storage on a PostgreSQL-wire database through pgx: the pool,
// transactions that survive serialization failures (CockroachDB's 40001, and PostgreSQL's at
// SERIALIZABLE), migrations, the queries behind the domain services, and the embedded
// PostgreSQL launcher of the default set-up.
package db

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DB is the domain database.
type DB struct {
	Pool *pgxpool.Pool
	// MaxTxAttempts bounds how often a transaction is tried when it hits a serialization
	// failure or deadlock.
	MaxTxAttempts int
	// Isolation is the isolation level of InTx's transactions: SERIALIZABLE by default (what
	// CockroachDB always runs, so its 40001 retries are exercised); READ COMMITTED is safe too,
	// since every guarantee rests on unique constraints and conditional updates.
	Isolation pgx.TxIsoLevel
	// EnqueueTx, set when River's jobs live in this database, queues a new donation's charge in
	// the transaction that records it; nil: the settlement queues it after commit.
	EnqueueTx Enqueuer
}

// Open connects a pool to the database at url and checks it answers.
func Open(ctx context.Context, url string, maxConns int32) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database URL: %w", err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
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

// New wraps an open pool.
func New(pool *pgxpool.Pool) *DB {
	return &DB{Pool: pool, MaxTxAttempts: 10, Isolation: pgx.Serializable}
}

// Close closes the pool.
func (db *DB) Close() { db.Pool.Close() }

// InTx runs fn in a transaction (SERIALIZABLE unless Isolation says otherwise) and commits it; on a serialization failure
// (40001) or deadlock (40P01) it rolls back and runs fn again, with a short jittered backoff.
// fn must therefore have no effects outside the transaction.
func (db *DB) InTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	var err error
	for attempt := 1; ; attempt++ {
		err = db.tryTx(ctx, fn)
		if err == nil || !IsRetryable(err) || attempt >= db.MaxTxAttempts {
			return err
		}
		backoff := time.Duration(attempt*attempt) * time.Millisecond
		backoff += time.Duration(rand.Int64N(int64(backoff) + 1))
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(backoff):
		}
	}
}

func (db *DB) tryTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := db.Pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: db.Isolation})
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit this is a no-op
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// IsRetryable reports whether err is a serialization failure or deadlock, after which the
// whole transaction may simply be run again.
func IsRetryable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "40001" || pgErr.Code == "40P01"
	}
	return false
}

// isUniqueViolation reports whether err is a unique violation of the named constraint (any
// constraint when name is empty).
func isUniqueViolation(err error, name string) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return name == "" || pgErr.ConstraintName == name
	}
	return false
}

// pgxTx names the transaction type River's pgx driver works with.
type pgxTx = pgx.Tx

// oneRow turns the error of a single-row lookup into what callers expect: nil, ENOTFOUND
// ("<what> not found") for no row, or the error wrapped with the action.
func oneRow(err error, what, action string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return giveathon.Errorf(giveathon.ENOTFOUND, "%s not found", what)
	} else if err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	return nil
}
