package db

import (
	"errors"
	"testing"
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
