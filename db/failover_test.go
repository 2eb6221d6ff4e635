package db_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/db"
	"github.com/giveathon/giveathon/internal/testenv"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// readWrite returns u asking for a read-write server, as the multi-host DSN of a failover
// pair does.
func readWrite(t *testing.T, u string) string {
	t.Helper()
	if !strings.Contains(u, "://") {
		return u + " target_session_attrs=read-write"
	}
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	q := parsed.Query()
	q.Set("target_session_attrs", "read-write")
	parsed.RawQuery = q.Encode()
	return parsed.String()
}

// TestConnectionsToADemotedServerAreDropped plays a failover on one server: every pooled
// connection turns read-only under the pool (a socket that survived a role flip, riverqueue/
// river#1225), and so does every new session (no primary yet) until the "promotion". A write
// through Retry must land once writes are possible again, /readyz's check must say it waits
// for a primary meanwhile, and no connection that turned read-only may be left in the pool.
func TestConnectionsToADemotedServerAreDropped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u := testenv.URL(t)
	const conns = 4
	d, err := db.Open(ctx, readWrite(t, u), conns)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	admin, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var name string
	if err := admin.QueryRow(ctx, `SELECT current_database()`).Scan(&name); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, `CREATE TABLE gifts (k int PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	if err := d.Ready(ctx); err != nil {
		t.Fatalf("Ready on a primary: %v", err)
	}

	// The role flip: the pool's connections, then every new session, are read-only.
	held := make([]*pgxpool.Conn, conns)
	for i := range held {
		if held[i], err = d.Pool.Acquire(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := held[i].Exec(ctx, `SET default_transaction_read_only = on`); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range held {
		c.Release()
	}
	database := pgx.Identifier{name}.Sanitize()
	if _, err := admin.Exec(ctx, `ALTER DATABASE `+database+` SET default_transaction_read_only = on`); err != nil {
		t.Fatal(err)
	}
	if err := d.Ready(ctx); !errors.Is(err, db.ErrNoPrimary) {
		t.Fatalf("Ready with no server taking writes = %v, want %v", err, db.ErrNoPrimary)
	}

	// A write waits, retried, for the promotion.
	tries := 0
	promoted := make(chan error, 1)
	writeCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	err = d.Retry(writeCtx, func(ctx context.Context) error {
		tries++
		if tries == 3 {
			_, err := admin.Exec(ctx, `ALTER DATABASE `+database+` RESET default_transaction_read_only`)
			promoted <- err
		}
		_, err := d.Pool.Exec(ctx, `INSERT INTO gifts VALUES (1) ON CONFLICT DO NOTHING`)
		if tries < 3 && !db.IsConnectionLoss(err) {
			return fmt.Errorf("try %d on a read-only server: %v, want a retryable error", tries, err)
		}
		return err
	})
	if err != nil {
		t.Fatalf("write after %d tries: %v", tries, err)
	}
	if err := <-promoted; err != nil {
		t.Fatal(err)
	}
	if err := d.Ready(ctx); err != nil {
		t.Fatalf("Ready after the promotion: %v", err)
	}

	// Every connection the pool hands out now takes writes.
	for i := range held {
		if held[i], err = d.Pool.Acquire(ctx); err != nil {
			t.Fatal(err)
		}
		var ro string
		if err := held[i].QueryRow(ctx, `SHOW transaction_read_only`).Scan(&ro); err != nil || ro != "off" {
			t.Errorf("connection %d: transaction_read_only = %q (%v): a read-only connection was kept", i, ro, err)
		}
	}
	for _, c := range held {
		c.Release()
	}
}

func TestWantsReadWrite(t *testing.T) {
	t.Parallel()
	for dsn, want := range map[string]bool{
		"postgres://127.0.0.1:5001,127.0.0.1:5002/giveathon?target_session_attrs=read-write": true,
		"postgresql://h/db?sslmode=disable&target_session_attrs=primary":                     true,
		"postgres://h/db?target_session_attrs=any":                                           false,
		"postgres://h/db": false,
		"host=a,b port=1,2 dbname=giveathon target_session_attrs=read-write": true,
		"host=a target_session_attrs='read-write' dbname=x":                  true,
		"host=a dbname=x": false,
	} {
		if got := db.WantsReadWrite(dsn); got != want {
			t.Errorf("WantsReadWrite(%q) = %v, want %v", dsn, got, want)
		}
	}
}

func TestReadOnlyConnectErrorsAreRetried(t *testing.T) {
	t.Parallel()
	// What pgx returns when every host of a read-write DSN is a standby, kept and flattened.
	joined := fmt.Errorf("begin transaction: %w", errors.Join(errors.New("127.0.0.1:5001: connection refused"),
		fmt.Errorf("127.0.0.1:5002: %w", pgconn.ErrReadOnlyConnection)))
	for _, err := range []error{joined, errors.New(joined.Error())} {
		if !db.IsConnectionLoss(err) {
			t.Errorf("IsConnectionLoss(%v) = false", err)
		}
	}
}

// TestAsUnavailable: a lost connection that reached an answer without the retry (a read of
// its own) is answered as a retryable UNAVAILABLE; anything else is not its business (nil).
func TestAsUnavailable(t *testing.T) {
	t.Parallel()
	lost := fmt.Errorf("find donation: %w", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"})
	if err := db.AsUnavailable(lost); giveathon.ErrorCode(err) != giveathon.EUNAVAILABLE || giveathon.ErrorRetryAfter(err) <= 0 || !errors.Is(err, lost) {
		t.Errorf("AsUnavailable(%v) = %v, want EUNAVAILABLE with RetryAfter, the cause kept", lost, err)
	}
	for _, err := range []error{&pgconn.PgError{Code: "23505"}, giveathon.Errorf(giveathon.ENOTFOUND, "no"), nil} {
		if got := db.AsUnavailable(err); got != nil {
			t.Errorf("AsUnavailable(%v) = %v, want nil", err, got)
		}
	}
}

// TestReadyLooksPastADeadIdleConnection: an idle connection whose server process ended (as a
// killed primary's do, with 57P01) is no news of the database: Ready asks on another.
func TestReadyLooksPastADeadIdleConnection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := testenv.DB(t)
	pool, err := pgxpool.New(ctx, d.Pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	// One idle connection in the pool, its server process then ended.
	c, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	if err := c.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	c.Release()
	var ended bool
	if err := d.Pool.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, pid).Scan(&ended); err != nil || !ended {
		t.Fatalf("terminate %d: %v %v", pid, ended, err)
	}
	if err := db.PoolReady(ctx, pool, ""); err != nil {
		t.Errorf("Ready with a dead idle connection: %v", err)
	}
}
