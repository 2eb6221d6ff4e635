// Package testenv gives tests real databases: one private PostgreSQL for the test binary,
// started through the same launcher `giveathon serve` uses (or the server TEST_DATABASE_URL
// names), and a fresh database for each test, cloned from a migrated template so tests run in
// parallel without seeing each other's rows.
package testenv

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/giveathon/giveathon/db"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

var (
	adminURL string
	embedded *db.Embedded
)

// Main runs a package's tests with a PostgreSQL for the run: the one TEST_DATABASE_URL names
// (a URL of any database on it; the role must be allowed to create databases), or a private
// one started in a temporary folder and removed afterwards.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		adminURL = u
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "giveathon-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	embedded, err = db.StartEmbedded(ctx, db.EmbeddedConfig{
		DataDir: dir,
		// Durability is not under test here, speed is welcome; the test packages' servers run
		// side by side, so each keeps PostgreSQL's small default buffers.
		Settings: map[string]string{"fsync": "off", "full_page_writes": "off", "synchronous_commit": "off", "max_connections": "300",
			"shared_buffers": "128MB"},
	})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv: start PostgreSQL:", err)
		return 1
	}
	defer embedded.Stop()
	adminURL = embedded.URL("postgres")
	return m.Run()
}

// Embedded returns the test binary's private server, or nil when TEST_DATABASE_URL is used.
func Embedded() *db.Embedded { return embedded }

// Replica starts a streaming replica of the test binary's private server (pg_basebackup -R)
// in a folder of its own, stopped and removed when the test ends; every database of the
// server is on it, under the same name (DatabaseName). It skips the test when
// TEST_DATABASE_URL names the server: making a standby of that is not the tests' to do.
func Replica(t testing.TB) *db.Embedded {
	t.Helper()
	if embedded == nil {
		t.Skip("TEST_DATABASE_URL is set: the test cannot make a replica of that server")
	}
	dir, err := os.MkdirTemp("", "giveathon-replica-")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := embedded.StartReplica(ctx, dir)
	if err != nil {
		os.RemoveAll(dir)
		t.Fatalf("testenv: start a replica: %v", err)
	}
	t.Cleanup(func() {
		_ = r.Stop()
		os.RemoveAll(dir)
	})
	return r
}

// DatabaseName returns the database a connection string names.
func DatabaseName(t testing.TB, url string) string {
	t.Helper()
	cfg, err := pgconn.ParseConfig(url)
	if err != nil {
		t.Fatalf("testenv: parse %q: %v", url, err)
	}
	return cfg.Database
}

var (
	templateOnce sync.Once
	templateName string
	templateErr  error
)

// URL creates a fresh, migrated database for the test, dropped when it ends, and returns its
// connection string.
func URL(t testing.TB) string {
	t.Helper()
	templateOnce.Do(func() { templateName, templateErr = makeTemplate() })
	if templateErr != nil {
		t.Fatalf("testenv: template database: %v", templateErr)
	}
	return createDatabase(t, templateName)
}

func createDatabase(t testing.TB, template string) string {
	t.Helper()
	if adminURL == "" {
		t.Fatal("testenv: the package's TestMain must call testenv.Main")
	}
	ctx := context.Background()
	name := "test_" + randomHex(8)
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		t.Fatalf("testenv: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, template)); err != nil {
		t.Fatalf("testenv: create database: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, adminURL)
		if err != nil {
			return
		}
		defer conn.Close(ctx)
		_, _ = conn.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name))
	})
	return WithDatabase(adminURL, name)
}

// EmptyURL creates an empty database (no migrations) for the test, dropped when it ends.
func EmptyURL(t testing.TB) string {
	t.Helper()
	return createDatabase(t, "template0")
}

// DB returns a pool on a fresh, migrated database of the test's own.
func DB(t testing.TB) *db.DB {
	t.Helper()
	return Open(t, URL(t))
}

// Open returns a pool on the database at url (from URL), closed when the test ends.
func Open(t testing.TB, url string) *db.DB {
	t.Helper()
	d, err := db.Open(context.Background(), url, 20)
	if err != nil {
		t.Fatalf("testenv: open database: %v", err)
	}
	t.Cleanup(d.Close)
	return d
}

// WithDatabase returns a connection string like u that names another database.
func WithDatabase(u, name string) string {
	if strings.Contains(u, "://") {
		parsed, err := url.Parse(u)
		if err == nil {
			parsed.Path = "/" + name
			return parsed.String()
		}
	}
	return u + " dbname=" + name
}

// makeTemplate creates (once per server and schema version) a database with every migration
// applied, to clone tests' databases from. An advisory lock keeps test binaries that share a
// TEST_DATABASE_URL from building it twice.
func makeTemplate() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	name := "giveathon_template_" + schemaHash()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(727274)"); err != nil {
		return "", err
	}
	defer conn.Exec(ctx, "SELECT pg_advisory_unlock(727274)") //nolint:errcheck
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	building := name + "_building"
	_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+building+" WITH (FORCE)")
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+building); err != nil {
		return "", err
	}
	pool, err := pgxpool.New(ctx, WithDatabase(adminURL, building))
	if err != nil {
		return "", err
	}
	_, err = (&db.Migrator{Domain: pool, Jobs: pool}).Up(ctx)
	pool.Close()
	if err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+building+" RENAME TO "+name); err != nil {
		return "", err
	}
	return name, nil
}

// schemaHash names the schema version: our migration files and River's migration count.
func schemaHash() string {
	h := sha256.New()
	_ = fs.WalkDir(db.MigrationFS(), ".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := fs.ReadFile(db.MigrationFS(), path)
			h.Write([]byte(path))
			h.Write(b)
		}
		return nil
	})
	if m, err := rivermigrate.New(riverpgxv5.New(nil), nil); err == nil {
		fmt.Fprint(h, len(m.AllVersions()))
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
