package main

import (
	"math"
	"runtime/debug"
	"testing"
)

// TestTuneGCLeavesWhatTheOperatorSet: with GOGC and GOMEMLIMIT unset, serve and work collect
// at 200 under a 1 GiB soft limit; a GOGC or GOMEMLIMIT that is set is the runtime's to apply.
func TestTuneGCLeavesWhatTheOperatorSet(t *testing.T) {
	percent, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() { debug.SetGCPercent(percent); debug.SetMemoryLimit(limit) })

	tuneGC(func(string) string { return "" })
	if p, l := debug.SetGCPercent(100), debug.SetMemoryLimit(math.MaxInt64); p != serverGCPercent || l != serverMemoryLimit {
		t.Errorf("unset: GOGC %d and limit %d, want %d and %d", p, l, serverGCPercent, serverMemoryLimit)
	}
	tuneGC(func(name string) string { return map[string]string{"GOGC": "100", "GOMEMLIMIT": "2GiB"}[name] })
	if p, l := debug.SetGCPercent(100), debug.SetMemoryLimit(math.MaxInt64); p != 100 || l != math.MaxInt64 {
		t.Errorf("set by the operator: GOGC %d and limit %d, want both left", p, l)
	}
}
