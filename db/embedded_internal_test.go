package db

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestFindBinDirWithNothingInstalled(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	if _, err := findBinDir("no-such-pg-config", t.TempDir()+"/*/bin"); !errors.Is(err, ErrNoPostgres) {
		t.Fatalf("err = %v, want ErrNoPostgres", err)
	}
}

func TestFindBinDirOnThisMachine(t *testing.T) {
	dir, err := FindPostgresBinDir()
	if err != nil {
		t.Fatalf("the tests need PostgreSQL's server binaries (make test installs them): %v", err)
	}
	if !hasServerBinaries(dir) {
		t.Fatalf("%s lacks initdb or postgres", dir)
	}
}

func TestWriteHeavySettingsFollowTheMachine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                     string
		memory                   int64
		lz4                      bool
		buffers, maint, compress string
	}{
		{"memory unknown: PostgreSQL's defaults", 0, false, "128MB", "64MB", "on"},
		{"a 1 GB machine", gib, true, "128MB", "64MB", "lz4"},
		{"a 4 GB machine", 4 * gib, true, "512MB", "128MB", "lz4"},
		{"the 24 GB event machine", 24 * gib, true, "2048MB", "512MB", "lz4"},
	} {
		s := writeHeavySettings(tc.memory, tc.lz4)
		if s["shared_buffers"] != tc.buffers || s["maintenance_work_mem"] != tc.maint || s["wal_compression"] != tc.compress {
			t.Errorf("%s: %v", tc.name, s)
		}
		for _, durable := range []string{"fsync", "synchronous_commit", "full_page_writes"} {
			if v, ok := s[durable]; ok {
				t.Errorf("%s: sets %s = %s", tc.name, durable, v)
			}
		}
	}
}

// TestStartWaitsForAnEarlierServerToStop: as after `kill -9` of a giveathon process, its
// server is still stopping (here held by a session: a smart shutdown waits for it) when the
// next start comes, the data folder's lock already free. The start waits for it and starts,
// rather than failing with the folder in use.
func TestStartWaitsForAnEarlierServerToStop(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	parent, err := os.MkdirTemp("", "giveathon-restart-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	dataDir := filepath.Join(parent, "data")
	first, err := StartEmbedded(ctx, EmbeddedConfig{DataDir: dataDir})
	if err != nil {
		t.Fatalf("first start: %v", err)
	}
	conn, err := pgx.Connect(ctx, first.URL(EmbeddedDatabase))
	if err != nil {
		t.Fatal(err)
	}
	first.release() // the dead process's lock
	if err := first.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(time.Second)
		conn.Close(ctx) // the server can finish stopping now
	}()
	began := time.Now()
	second, err := StartEmbedded(ctx, EmbeddedConfig{DataDir: dataDir})
	if err != nil {
		t.Fatalf("a start while the earlier server stops: %v", err)
	}
	defer second.Stop()
	<-first.exited
	if waited := time.Since(began); waited < 900*time.Millisecond {
		t.Errorf("started after %v, before the earlier server could stop", waited)
	}
}
