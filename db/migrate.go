package db

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// MigrationFS returns Giveathon's own numbered migrations.
func MigrationFS() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err)
	}
	return sub
}

// Migrator applies Giveathon's migrations (goose) to the domain database and River's
// (rivermigrate) to the jobs database; with one database both land in it.
type Migrator struct {
	Domain *pgxpool.Pool
	Jobs   *pgxpool.Pool
}

func (m *Migrator) provider() (*goose.Provider, *sql.DB, error) {
	sqlDB := stdlib.OpenDBFromPool(m.Domain)
	// Two processes starting at once (serve and work on a new database) take turns. A table
	// lock rather than an advisory lock, which CockroachDB does not have.
	locker, err := lock.NewPostgresTableLocker(lock.WithTableLockTimeout(500*time.Millisecond, 600))
	if err != nil {
		sqlDB.Close()
		return nil, nil, fmt.Errorf("migration lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, MigrationFS(), goose.WithLocker(locker))
	if err != nil {
		sqlDB.Close()
		return nil, nil, fmt.Errorf("load migrations: %w", err)
	}
	return p, sqlDB, nil
}

func (m *Migrator) river() (*rivermigrate.Migrator[pgxTx], error) {
	return rivermigrate.New(riverpgxv5.New(m.Jobs), nil)
}

// Up applies every pending migration, River's first.
func (m *Migrator) Up(ctx context.Context) ([]string, error) {
	var applied []string
	rm, err := m.river()
	if err != nil {
		return nil, err
	}
	res, err := rm.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return nil, fmt.Errorf("migrate River: %w", err)
	}
	for _, v := range res.Versions {
		applied = append(applied, fmt.Sprintf("river %03d %s", v.Version, v.Name))
	}
	if tuned, err := m.riverJobTuned(ctx); err != nil {
		return applied, err
	} else if !tuned {
		if _, err := m.Jobs.Exec(ctx, `ALTER TABLE river_job SET (`+strings.Join(riverJobAutovacuum, ", ")+`)`); err != nil {
			return applied, fmt.Errorf("tune autovacuum of river_job: %w", err)
		}
		applied = append(applied, "river_job autovacuum "+strings.Join(riverJobAutovacuum, " "))
	}
	p, sqlDB, err := m.provider()
	if err != nil {
		return applied, err
	}
	defer sqlDB.Close()
	results, err := p.Up(ctx)
	for _, r := range results {
		applied = append(applied, fmt.Sprintf("giveathon %05d %s", r.Source.Version, baseName(r.Source.Path)))
	}
	if err != nil {
		return applied, fmt.Errorf("migrate giveathon: %w", err)
	}
	return applied, nil
}

// Down rolls back the newest of Giveathon's migrations (River's are left alone: they belong to
// the jobs database and are rolled back with River's own tool).
func (m *Migrator) Down(ctx context.Context) (string, error) {
	p, sqlDB, err := m.provider()
	if err != nil {
		return "", err
	}
	defer sqlDB.Close()
	r, err := p.Down(ctx)
	if err != nil {
		return "", fmt.Errorf("roll back: %w", err)
	}
	return fmt.Sprintf("giveathon %05d %s", r.Source.Version, baseName(r.Source.Path)), nil
}

// RollBackTo rolls Giveathon's migrations back, the newest first, down to and including the
// one whose file name contains name (as "partition_by_donor"): the database is then as it
// was before that migration. It fails if no applied migration is named so.
func (m *Migrator) RollBackTo(ctx context.Context, name string) error {
	for {
		line, err := m.Down(ctx)
		if err != nil {
			return fmt.Errorf("roll back to before %s: %w", name, err)
		}
		if strings.Contains(line, name) {
			return nil
		}
	}
}

// Status lists every migration and whether it is applied.
func (m *Migrator) Status(ctx context.Context) ([]string, error) {
	var lines []string
	rm, err := m.river()
	if err != nil {
		return nil, err
	}
	existing, err := rm.ExistingVersions(ctx)
	if err != nil && !isUndefinedTable(err) {
		return nil, fmt.Errorf("read River's migrations: %w", err)
	}
	done := map[int]bool{}
	for _, v := range existing {
		done[v.Version] = true
	}
	for _, v := range rm.AllVersions() {
		lines = append(lines, fmt.Sprintf("%-8s river     %03d %s", state(done[v.Version]), v.Version, v.Name))
	}
	p, sqlDB, err := m.provider()
	if err != nil {
		return lines, err
	}
	defer sqlDB.Close()
	st, err := p.Status(ctx)
	if err != nil {
		return lines, fmt.Errorf("read migrations: %w", err)
	}
	for _, s := range st {
		lines = append(lines, fmt.Sprintf("%-8s giveathon %05d %s", state(s.State == goose.StateApplied), s.Source.Version, baseName(s.Source.Path)))
	}
	return lines, nil
}

// Pending reports whether any migration, ours or River's, is not applied.
func (m *Migrator) Pending(ctx context.Context) (bool, error) {
	rm, err := m.river()
	if err != nil {
		return false, err
	}
	existing, err := rm.ExistingVersions(ctx)
	if err != nil {
		if isUndefinedTable(err) {
			return true, nil
		}
		return false, fmt.Errorf("read River's migrations: %w", err)
	}
	if len(existing) < len(rm.AllVersions()) {
		return true, nil
	}
	if tuned, err := m.riverJobTuned(ctx); err != nil || !tuned {
		return true, err
	}
	p, sqlDB, err := m.provider()
	if err != nil {
		return false, err
	}
	defer sqlDB.Close()
	return p.HasPending(ctx)
}

// riverJobAutovacuum are river_job's autovacuum settings. The queue table takes an insert, a
// few updates and a delete per job, all day: with PostgreSQL's defaults (a vacuum at 20% of
// the table dead) a busy queue carries hundreds of thousands of dead rows that every fetch
// steps over. They are set by Up after River's migrations, on the jobs database, and not by a
// numbered migration: goose migrates the domain database, which need not hold river_job (with
// JOBS_DATABASE_URL) and may be CockroachDB, which has no autovacuum.
var riverJobAutovacuum = []string{"autovacuum_vacuum_scale_factor=0.02", "autovacuum_vacuum_threshold=1000",
	"autovacuum_analyze_scale_factor=0.05", "autovacuum_analyze_threshold=1000"}

// riverJobTuned reports whether river_job has riverJobAutovacuum (true when River's tables
// are not there yet: there is nothing to tune).
func (m *Migrator) riverJobTuned(ctx context.Context) (bool, error) {
	var opts []string
	err := m.Jobs.QueryRow(ctx, `SELECT coalesce(reloptions, '{}') FROM pg_class WHERE oid = to_regclass('river_job')`).Scan(&opts)
	if errors.Is(err, pgx.ErrNoRows) {
		return true, nil
	} else if err != nil {
		return false, fmt.Errorf("read the settings of river_job: %w", err)
	}
	return !slices.ContainsFunc(riverJobAutovacuum, func(o string) bool { return !slices.Contains(opts, o) }), nil
}

func state(applied bool) string {
	if applied {
		return "applied"
	}
	return "pending"
}

func baseName(path string) string {
	return path[strings.LastIndexByte(path, '/')+1:]
}

// isUndefinedTable reports whether err is PostgreSQL's "relation does not exist" (42P01): on a
// database never migrated, River's own table is missing.
func isUndefinedTable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42P01"
}

// ErrUnmigrated says the database lacks migrations and this process may not apply them.
var ErrUnmigrated = errors.New("the database is not migrated: run `giveathon migrate up` first")
