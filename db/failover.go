package db

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"time"

	"github.com/giveathon/giveathon/metrics"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/multitracer"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// What a pool does so that a failover (pg_auto_failover promoting the standby, or any
// primary whose role changes under its connections) costs seconds, not the process:
//
//   - A connection that answered 25006 (a read-only server: a demoted primary, or a socket
//     that survived a role flip, as behind a proxy) is marked, and the pool destroys it the
//     next time it is handed out instead of running the retry on it again. The retry then
//     opens a new connection, which the multi-host DSN's target_session_attrs=read-write
//     sends to the new primary.
//   - On a read-write pool (target_session_attrs=read-write), a connection that sat idle for
//     more than a second is asked `SHOW transaction_read_only` instead of pgxpool's empty
//     ping (one round trip either way), so a connection to a node that became a standby while
//     the pool was quiet is dropped before any work runs on it.
//   - Connections live at most maxConnLifetime, and a connect gives up after connectTimeout:
//     a host that takes connections but never answers does not hold a request for two minutes.
const (
	maxConnLifetime       = 5 * time.Minute
	maxConnLifetimeJitter = 30 * time.Second
	connectTimeout        = 5 * time.Second
	roleCheckAfterIdle    = time.Second
)

// Keys in a connection's CustomData.
const (
	readOnlyKey  = "giveathon.read_only"  // the server answered 25006: destroy, do not reuse
	checkRoleKey = "giveathon.check_role" // idle for a while: check it still takes writes
)

// ErrNoPrimary says the database answers, but no server takes writes yet: during a failover,
// before the standby is promoted. /readyz shows its text.
var ErrNoPrimary = errors.New("waiting for a read-write primary")

// configureFailover sets cfg up to drop connections to a server that no longer takes writes;
// dsn is the connection string cfg was parsed from.
func configureFailover(cfg *pgxpool.Config, dsn string) {
	if cfg.ConnConfig.ConnectTimeout <= 0 || cfg.ConnConfig.ConnectTimeout > connectTimeout {
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	if cfg.MaxConnLifetime <= 0 || cfg.MaxConnLifetime > maxConnLifetime {
		cfg.MaxConnLifetime = maxConnLifetime
	}
	if cfg.MaxConnLifetimeJitter <= 0 {
		cfg.MaxConnLifetimeJitter = maxConnLifetimeJitter
	}
	if cfg.ConnConfig.Tracer == nil {
		cfg.ConnConfig.Tracer = readOnlyTracer{}
	} else {
		cfg.ConnConfig.Tracer = multitracer.New(cfg.ConnConfig.Tracer, readOnlyTracer{})
	}
	readWrite := WantsReadWrite(dsn)
	if readWrite {
		cfg.ShouldPing = func(_ context.Context, p pgxpool.ShouldPingParams) bool {
			if p.IdleDuration > roleCheckAfterIdle {
				p.Conn.PgConn().CustomData()[checkRoleKey] = true
			}
			return false // the role check below is the ping
		}
	}
	cfg.PrepareConn = func(ctx context.Context, conn *pgx.Conn) (bool, error) {
		data := conn.PgConn().CustomData()
		if data[readOnlyKey] != nil {
			metrics.DBConnectionsDropped.WithLabelValues("read_only").Inc()
			return false, nil // destroyed; the acquire goes on with another connection
		}
		if readWrite && data[checkRoleKey] != nil {
			delete(data, checkRoleKey)
			if err := pgconn.ValidateConnectTargetSessionAttrsReadWrite(ctx, conn.PgConn()); err != nil {
				reason := "lost"
				if errors.Is(err, pgconn.ErrReadOnlyConnection) {
					reason = "read_only"
				}
				metrics.DBConnectionsDropped.WithLabelValues(reason).Inc()
				return false, nil
			}
		}
		return true, nil
	}
}

// targetSessionAttrs finds target_session_attrs in a keyword/value connection string.
var targetSessionAttrs = regexp.MustCompile(`(?:^|\s)target_session_attrs\s*=\s*'?([a-z-]+)`)

// WantsReadWrite reports whether a connection string asks for a read-write server
// (target_session_attrs=read-write, or primary), as a multi-host DSN of a failover pair does.
func WantsReadWrite(dsn string) bool {
	var attrs string
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		attrs = u.Query().Get("target_session_attrs")
	} else if m := targetSessionAttrs.FindStringSubmatch(dsn); m != nil {
		attrs = m[1]
	}
	return attrs == "read-write" || attrs == "primary"
}

// readOnlyTracer marks a connection whose server answered 25006 (cannot execute ... in a
// read-only transaction), so that PrepareConn destroys it rather than the pool reusing it.
type readOnlyTracer struct{}

func (readOnlyTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}

func (readOnlyTracer) TraceQueryEnd(_ context.Context, conn *pgx.Conn, data pgx.TraceQueryEndData) {
	markReadOnly(conn, data.Err)
}

func (readOnlyTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}

func (readOnlyTracer) TraceBatchQuery(_ context.Context, conn *pgx.Conn, data pgx.TraceBatchQueryData) {
	markReadOnly(conn, data.Err)
}

func (readOnlyTracer) TraceBatchEnd(_ context.Context, conn *pgx.Conn, data pgx.TraceBatchEndData) {
	markReadOnly(conn, data.Err)
}

func markReadOnly(conn *pgx.Conn, err error) {
	if err != nil && conn != nil && isReadOnly(err) {
		conn.PgConn().CustomData()[readOnlyKey] = true
	}
}

// isReadOnly reports whether err says the server takes no writes: 25006 from a statement,
// or pgx's refusal of a read-only server for a read-write DSN.
func isReadOnly(err error) bool {
	return errorState(err) == "25006" || errors.Is(err, pgconn.ErrReadOnlyConnection)
}

// Ready reports whether the database takes writes now: nil; ErrNoPrimary (wrapped) when the
// server that answers is read-only, or every host of a read-write DSN is; or "database
// unreachable: ..." when none answers. /readyz shows the text before the first colon.
func (db *DB) Ready(ctx context.Context) error { return PoolReady(ctx, db.Pool, "") }

// PoolReady is Ready for any pool; a non-empty name ("jobs database") is added to the reason.
// An idle connection to a server that has since died (a primary killed, its backends ending
// with 57P01) says nothing of the database now: the pool drops it, and the check asks again
// on another, a few times.
func PoolReady(ctx context.Context, pool *pgxpool.Pool, name string) error {
	var err error
	for try := 0; try < 4; try++ {
		err = pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error {
			err := pgconn.ValidateConnectTargetSessionAttrsReadWrite(ctx, c.Conn().PgConn())
			markReadOnly(c.Conn(), err)
			return err
		})
		if err == nil {
			return nil
		}
		if !IsConnectionLoss(err) || ctx.Err() != nil {
			break
		}
	}
	of := ""
	if name != "" {
		of = " (" + name + ")"
	}
	if isReadOnly(err) {
		return fmt.Errorf("%w%s: %w", ErrNoPrimary, of, err)
	}
	return fmt.Errorf("database unreachable%s: %w", of, err)
}
