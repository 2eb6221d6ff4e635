package db

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Where a routed read ran, and why (the labels of the reads-by-target metric).
const (
	TargetPrimary = "primary"
	TargetReplica = "replica"

	// ReasonInSync: the replica was healthy, within its lag bound, and had replayed the
	// reader's own last write.
	ReasonInSync = "in_sync"
	// ReasonNoReplica: no replica is configured (not counted).
	ReasonNoReplica = "no_replica"
	// ReasonDown: the replica did not answer, is not a standby, or failed the read.
	ReasonDown = "down"
	// ReasonLag: the replica is further behind than its bound.
	ReasonLag = "lag"
	// ReasonOwnWrite: the reader wrote something the replica has not replayed yet.
	ReasonOwnWrite = "own_write"
	// ReasonFresh: the read follows a change notice and must see that change.
	ReasonFresh = "fresh"
)

// ReplicaConfig says how reads that tolerate lag use a streaming replica.
type ReplicaConfig struct {
	// MaxLag is how far behind the primary the replica may be and still serve reads.
	MaxLag time.Duration
	// CheckInterval is how often the replica's lag is measured (MaxLag/5, from 50 ms to 1 s,
	// when zero).
	CheckInterval time.Duration
	// MaxConns is the replica pool's size (DefaultMaxConns when zero).
	MaxConns int32
	// CountRead, when set, is told where each routed read ran and why.
	CountRead func(target, reason string)
	// ObserveLag, when set, is told each measured lag and whether the replica is usable.
	ObserveLag func(lag time.Duration, up bool)
	Logger     *slog.Logger
}

// replica is the standby that serves reads, and what the last checks found out about it.
type replica struct {
	pool    *pgxpool.Pool
	primary *pgxpool.Pool
	cfg     ReplicaConfig
	stop    context.CancelFunc
	done    chan struct{}

	mu sync.Mutex
	// up: the last check (or read) reached a standby.
	up bool
	// replayed is the WAL position the replica has replayed, as last seen.
	replayed int64
	lag      time.Duration
	// samples are the primary's WAL positions at each check, oldest first.
	samples []lsnSample
}

// lsnSample is the primary's WAL insert position at a moment.
type lsnSample struct {
	at  time.Time
	lsn int64
}

// OpenReplica connects reads that tolerate lag to the streaming replica at url: charities,
// the event's totals, history pages and a donation by id (see read and readTx). The replica
// is checked at once and then every cfg.CheckInterval; a replica that is down at start is
// skipped until it answers, so the call fails only for a URL that does not parse.
func (db *DB) OpenReplica(ctx context.Context, url string, cfg ReplicaConfig) error {
	pcfg, err := poolConfig(url, cfg.MaxConns)
	if err != nil {
		return fmt.Errorf("parse replica URL: %w", err)
	}
	// A replica that stops answering costs a read at most this before it falls back.
	if pcfg.ConnConfig.ConnectTimeout == 0 || pcfg.ConnConfig.ConnectTimeout > 2*time.Second {
		pcfg.ConnConfig.ConnectTimeout = 2 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return fmt.Errorf("open replica pool: %w", err)
	}
	if cfg.CheckInterval <= 0 {
		cfg.CheckInterval = min(max(cfg.MaxLag/5, 50*time.Millisecond), time.Second)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &replica{pool: pool, primary: db.Pool, cfg: cfg, done: make(chan struct{})}
	checkCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	r.check(checkCtx)
	cancel()
	monitorCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	r.stop = stop
	go r.monitor(monitorCtx)
	db.replica = r
	return nil
}

// ReplicaPool returns the replica's pool, or nil when there is none.
func (db *DB) ReplicaPool() *pgxpool.Pool {
	if db.replica == nil {
		return nil
	}
	return db.replica.pool
}

func (r *replica) close() {
	r.stop()
	<-r.done
	r.pool.Close()
}

// monitor checks the replica every CheckInterval until ctx ends.
func (r *replica) monitor(ctx context.Context) {
	defer close(r.done)
	ticker := time.NewTicker(r.cfg.CheckInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		checkCtx, cancel := context.WithTimeout(ctx, max(r.cfg.CheckInterval, time.Second))
		r.check(checkCtx)
		cancel()
	}
}

// check measures the replica's lag: the primary's WAL insert position is sampled first, then
// the replica's replay position; the replica has everything the primary had at the newest
// sample at or below that position, so its lag is the age of that sample (0 when it is the
// sample just taken). Comparing positions, not `now() - pg_last_xact_replay_timestamp()`,
// keeps an idle replica that has everything at 0.
func (r *replica) check(ctx context.Context) {
	var primaryLSN int64
	err := r.primary.QueryRow(ctx, `SELECT (pg_current_wal_insert_lsn() - '0/0')::int8`).Scan(&primaryLSN)
	if err != nil {
		// Without the primary's position nothing can be judged; the reads go to the primary,
		// which fails them or not by itself.
		r.setDown(fmt.Errorf("read the primary's WAL position: %w", err))
		return
	}
	at := time.Now()
	var standby bool
	var replayed int64
	var replayedAt *time.Time
	err = r.pool.QueryRow(ctx, `SELECT pg_is_in_recovery(), coalesce((pg_last_wal_replay_lsn() - '0/0')::int8, 0),
		pg_last_xact_replay_timestamp()`).Scan(&standby, &replayed, &replayedAt)
	if err == nil && !standby {
		// Promoted (or the URL reached a primary): its positions are not the primary's
		// timeline to compare with. Its connections are dropped so the next ones find a standby.
		r.pool.Reset()
		err = errors.New("the replica is not in recovery (promoted, or a primary)")
	}
	if err != nil {
		r.setDown(fmt.Errorf("check replica: %w", err))
		return
	}
	now := time.Now()
	r.mu.Lock()
	r.samples = append(r.samples, lsnSample{at: at, lsn: primaryLSN})
	// Samples older than the bound (and one more) decide nothing more than "too far behind".
	keepFrom := 0
	for keepFrom < len(r.samples)-2 && now.Sub(r.samples[keepFrom+1].at) > r.cfg.MaxLag+r.cfg.CheckInterval {
		keepFrom++
	}
	r.samples = r.samples[keepFrom:]
	var since time.Time
	if replayedAt != nil {
		since = *replayedAt
	}
	wasUp := r.up
	r.up, r.lag = true, replicaLag(r.samples, replayed, since, now)
	r.replayed = max(r.replayed, replayed)
	lag := r.lag
	r.mu.Unlock()
	if !wasUp {
		r.cfg.Logger.Info("read replica is up", "lag", lag)
	}
	if r.cfg.ObserveLag != nil {
		r.cfg.ObserveLag(lag, true)
	}
}

// replicaLag is how far behind a replica that replayed WAL up to replayed is, given the
// primary's positions sampled at increasing times: 0 when it has the newest sample, else the
// age of the newest sample it has. When it has none of them, the age of the oldest sample or
// of its last replayed commit (lastReplayed, zero if unknown), whichever is older: a bound
// from above, which skips the replica rather than trusting it.
func replicaLag(samples []lsnSample, replayed int64, lastReplayed, now time.Time) time.Duration {
	for i := len(samples) - 1; i >= 0; i-- {
		if samples[i].lsn <= replayed {
			if i == len(samples)-1 {
				return 0
			}
			return now.Sub(samples[i].at)
		}
	}
	if len(samples) == 0 {
		return 0
	}
	lag := now.Sub(samples[0].at)
	if !lastReplayed.IsZero() {
		lag = max(lag, now.Sub(lastReplayed))
	}
	return lag
}

// setDown marks the replica unusable until a check reaches it again.
func (r *replica) setDown(err error) {
	r.mu.Lock()
	wasUp := r.up
	r.up = false
	r.mu.Unlock()
	if wasUp {
		r.cfg.Logger.Warn("read replica is down: reads go to the primary", "err", err)
	}
	if r.cfg.ObserveLag != nil {
		r.cfg.ObserveLag(0, false)
	}
}

// state returns what the last check found.
func (r *replica) state() (up bool, lag time.Duration, replayed int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.up, r.lag, r.replayed
}

// hasReplayed reports whether the replica has replayed WAL up to lsn, asking it when the
// last check had not seen that far.
func (r *replica) hasReplayed(ctx context.Context, lsn int64) (bool, error) {
	if _, _, replayed := r.state(); replayed >= lsn {
		return true, nil
	}
	var replayed int64
	if err := r.pool.QueryRow(ctx, `SELECT coalesce((pg_last_wal_replay_lsn() - '0/0')::int8, 0)`).Scan(&replayed); err != nil {
		return false, err
	}
	r.mu.Lock()
	r.replayed = max(r.replayed, replayed)
	r.mu.Unlock()
	return replayed >= lsn, nil
}

// route decides where a read for userID ("" for public data) runs: the replica, when it is
// up, within MaxLag, the read does not follow a change notice, and it has replayed the
// user's last write; otherwise the primary, with the reason.
func (db *DB) route(ctx context.Context, userID string) (*pgxpool.Pool, string) {
	r := db.replica
	switch {
	case r == nil:
		return db.Pool, ReasonNoReplica
	case giveathon.FreshReadsFromContext(ctx):
		return db.Pool, ReasonFresh
	}
	up, lag, _ := r.state()
	if !up {
		return db.Pool, ReasonDown
	} else if lag > r.cfg.MaxLag {
		return db.Pool, ReasonLag
	}
	if userID == "" {
		return r.pool, ReasonInSync
	}
	fence, err := db.writeFence(ctx, userID)
	if err != nil {
		// The primary will answer the read, or fail it as it would have anyway.
		return db.Pool, ReasonOwnWrite
	}
	ok, err := r.hasReplayed(ctx, fence)
	if err != nil {
		r.setDown(err)
		return db.Pool, ReasonDown
	} else if !ok {
		return db.Pool, ReasonOwnWrite
	}
	return r.pool, ReasonInSync
}

// countRead reports a routed read's target and reason.
func (db *DB) countRead(pool *pgxpool.Pool, reason string) {
	if db.replica == nil || db.replica.cfg.CountRead == nil {
		return
	}
	target := TargetPrimary
	if pool != db.Pool {
		target = TargetReplica
	}
	db.replica.cfg.CountRead(target, reason)
}

// replicaFailed reports whether a read that failed on the replica should run again on the
// primary: the replica is unreachable, shutting down, or cancelled the read in a conflict
// with recovery (40001). The caller's own deadline is not the replica's fault. The replica
// is marked down until the next check reaches it.
func (db *DB) replicaFailed(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil || !IsRetryable(err) {
		return false
	}
	db.replica.setDown(err)
	return true
}

// writeFence returns the primary's WAL position after the user's last recorded write (0 for
// none): a replica that has replayed that far shows every write the user made.
func (db *DB) writeFence(ctx context.Context, userID string) (int64, error) {
	var lsn int64
	err := db.QueryRow(ctx, `SELECT coalesce((SELECT lsn FROM replica_fences WHERE user_id = $1), 0)`, userID).Scan(&lsn)
	if err != nil {
		return 0, fmt.Errorf("read write fence: %w", err)
	}
	return lsn, nil
}

// recordWrite records, after a write of the user's has committed, the primary's WAL insert
// position, which is past that commit: the user's reads go to the primary until the replica
// has replayed that far. Nothing is recorded without a replica. Several users' writes (a
// submit batch's) are recorded in one statement.
func (db *DB) recordWrite(ctx context.Context, userIDs ...string) error {
	if db.replica == nil || len(userIDs) == 0 {
		return nil
	}
	_, err := db.Exec(ctx, `INSERT INTO replica_fences (user_id, lsn)
		SELECT DISTINCT u, (pg_current_wal_insert_lsn() - '0/0')::int8 FROM unnest($1::uuid[]) AS u
		ON CONFLICT (user_id) DO UPDATE SET lsn = greatest(replica_fences.lsn, excluded.lsn), written_at = now()`, userIDs)
	if err != nil {
		return fmt.Errorf("record write fence: %w", err)
	}
	return nil
}

// read returns the querier for a read that tolerates lag, by userID ("" for public data):
// each statement runs where route says, and again on the primary if the replica fails it.
func (db *DB) read(userID string) reader { return reader{db: db, userID: userID} }

// reader runs single statements on the replica when they may (see DB.read).
type reader struct {
	db     *DB
	userID string
}

// QueryRow runs a one-row statement; on the primary it is retried as DB.QueryRow is.
func (q reader) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return routedRow{q: q, ctx: ctx, sql: sql, args: args}
}

type routedRow struct {
	q    reader
	ctx  context.Context
	sql  string
	args []any
}

// Scan implements pgx.Row.
func (r routedRow) Scan(dest ...any) error {
	db := r.q.db
	pool, reason := db.route(r.ctx, r.q.userID)
	if pool != db.Pool {
		err := pool.QueryRow(r.ctx, r.sql, r.args...).Scan(dest...)
		if !db.replicaFailed(r.ctx, err) {
			db.countRead(pool, reason)
			return err
		}
		pool, reason = db.Pool, ReasonDown
	}
	db.countRead(pool, reason)
	return db.QueryRow(r.ctx, r.sql, r.args...).Scan(dest...)
}

// Query runs a statement. On the replica its rows are read in full before they are
// returned, so that a replica failing halfway is retried on the primary rather than handed
// to the caller half read.
func (q reader) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	db := q.db
	pool, reason := db.route(ctx, q.userID)
	if pool != db.Pool {
		rows, err := pool.Query(ctx, sql, args...)
		if err == nil {
			var buf *bufferedRows
			buf, err = bufferRows(rows)
			if err == nil {
				db.countRead(pool, reason)
				return buf, nil
			}
		}
		if !db.replicaFailed(ctx, err) {
			db.countRead(pool, reason)
			return nil, err
		}
		pool, reason = db.Pool, ReasonDown
	}
	db.countRead(pool, reason)
	return db.Pool.Query(ctx, sql, args...)
}

// readTx runs fn in a read-only REPEATABLE READ snapshot (a hot standby runs no
// SERIALIZABLE transaction, and a read-only snapshot never fails to serialize) where route
// says, and on the primary if the replica fails it. fn may run more than once.
func (db *DB) readTx(ctx context.Context, userID string, fn func(tx pgx.Tx) error) error {
	pool, reason := db.route(ctx, userID)
	if pool != db.Pool {
		err := pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
		if !db.replicaFailed(ctx, err) {
			db.countRead(pool, reason)
			return err
		}
		reason = ReasonDown
	}
	db.countRead(db.Pool, reason)
	return db.InTxAt(ctx, pgx.RepeatableRead, fn)
}
