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
