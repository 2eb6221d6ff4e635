package db

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// Sizes in bytes.
const (
	mib = int64(1) << 20
	gib = int64(1) << 30
)

// writeHeavySettings are the embedded server's settings for the event's work, many small
// write transactions: bigger shared buffers, checkpoints rarer and spread (each one makes the
// next write of every page it flushed log the whole page), full-page images compressed, and
// bitmap scans that prefetch. memory is the machine's (or container's) memory; the sizes
// follow it so that a small machine keeps PostgreSQL's own defaults. Durability is left as it
// is: fsync and synchronous_commit stay on (writes that are not money turn the latter off
// for themselves, see AsyncCommit).
func writeHeavySettings(memory int64, lz4 bool) map[string]string {
	s := map[string]string{
		// A quarter of memory is the usual advice for a dedicated server; the embedded one
		// shares the machine with the Go server, so an eighth, from 128 MB to 2 GB.
		"shared_buffers": sizeSetting(min(max(memory/8, 128*mib), 2*gib)),
		// Vacuum and index builds: a 32nd, from 64 MB to 512 MB (up to 3 autovacuum workers).
		"maintenance_work_mem": sizeSetting(min(max(memory/32, 64*mib), 512*mib)),
		// Checkpoints every 15 minutes rather than every 5, or every 1 GB of WAL: a crash
		// replays more, and a checkpoint less often rewrites whole pages into the log.
		"checkpoint_timeout":           "15min",
		"max_wal_size":                 "2GB",
		"min_wal_size":                 "256MB",
		"checkpoint_completion_target": "0.9",
		"wal_compression":              "on",
	}
	if lz4 {
		// Far cheaper in CPU than pglz ("on"), which matters on two cores.
		s["wal_compression"] = "lz4"
	}
	if runtime.GOOS == "linux" {
		// Prefetch for bitmap heap scans on SSDs; it needs posix_fadvise, which Linux has.
		s["effective_io_concurrency"] = "200"
	}
	return s
}

// sizeSetting writes bytes as a PostgreSQL size in whole megabytes.
func sizeSetting(bytes int64) string {
	return strconv.FormatInt(bytes/mib, 10) + "MB"
}

// machineMemory returns the memory this process may use: the machine's, or its cgroup's
// limit when lower; 0 when unknown.
func machineMemory() int64 {
	var total int64
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				total = kb * 1024
			}
		}
	}
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if limit, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && limit > 0 && (total == 0 || limit < total) {
			total = limit
		}
	}
	return total
}

// hasLZ4 reports whether the server in binDir was built with lz4 (for wal_compression).
func hasLZ4(binDir string) bool {
	out, err := exec.Command(filepath.Join(binDir, "pg_config"), "--configure").Output()
	return err == nil && strings.Contains(string(out), "--with-lz4")
}
