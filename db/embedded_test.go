package db_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/giveathon/giveathon/db"
	"github.com/jackc/pgx/v5"
)

func TestEmbeddedLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// A private folder only root may enter, as a test runner's temporary folder is.
	parent, err := os.MkdirTemp("", "giveathon-launcher-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	dataDir := filepath.Join(parent, "data")

	first, err := db.StartEmbedded(ctx, db.EmbeddedConfig{DataDir: dataDir})
	if err != nil {
		t.Fatalf("first start: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "postgres", "PG_VERSION")); err != nil {
		t.Fatalf("first start did not initialise the cluster: %v", err)
	}
	conn, err := pgx.Connect(ctx, first.URL(db.EmbeddedDatabase))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')`); err != nil {
		t.Fatal(err)
	}
	// Tuned for writes, durable still.
	for name, want := range map[string]string{"checkpoint_timeout": "15min", "max_wal_size": "2GB", "fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"} {
		var got string
		if err := conn.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&got); err != nil || got != want {
			t.Errorf("%s = %q (%v), want %q", name, got, err, want)
		}
	}
	var compression string
	if err := conn.QueryRow(ctx, "SELECT current_setting('wal_compression')").Scan(&compression); err != nil || compression == "off" {
		t.Errorf("wal_compression = %q (%v), want it on", compression, err)
	}
	conn.Close(ctx)

	// A second start on the same folder while the first runs is refused, clearly.
	_, err = db.StartEmbedded(ctx, db.EmbeddedConfig{DataDir: dataDir})
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("concurrent second start: err = %v, want a message that the folder is in use", err)
	}

	if err := first.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if n := postgresProcessesIn(t, dataDir); n != 0 {
		t.Fatalf("%d postgres processes left after stop", n)
	}

	// The next start reuses the data.
	second, err := db.StartEmbedded(ctx, db.EmbeddedConfig{DataDir: dataDir})
	if err != nil {
		t.Fatalf("second start: %v", err)
	}
	t.Cleanup(func() { _ = second.Stop() })
	conn, err = pgx.Connect(ctx, second.URL(db.EmbeddedDatabase))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v string
	if err := conn.QueryRow(ctx, `SELECT v FROM kept`).Scan(&v); err != nil || v != "still here" {
		t.Fatalf("data after restart: %q, %v", v, err)
	}
}

func TestEmbeddedWithoutBinariesNamesThePackage(t *testing.T) {
	t.Parallel()
	_, err := db.StartEmbedded(context.Background(), db.EmbeddedConfig{DataDir: t.TempDir(), BinDir: "/nonexistent"})
	if !errors.Is(err, db.ErrNoPostgres) || !strings.Contains(err.Error(), "apt-get install -y postgresql") {
		t.Fatalf("start with no binaries: err = %v, want one line naming the package to install", err)
	}
}

func postgresProcessesIn(t *testing.T, dataDir string) int {
	t.Helper()
	out, _ := exec.Command("ps", "-eo", "args").Output()
	n := 0
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "postgres") && strings.Contains(line, dataDir) {
			n++
		}
	}
	return n
}
