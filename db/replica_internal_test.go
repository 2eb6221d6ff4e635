package db

import (
	"testing"
	"time"
)

func TestReplicaLag(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 12, 0, 10, 0, time.UTC)
	sec := func(s int) time.Time { return now.Add(time.Duration(s) * time.Second) }
	samples := []lsnSample{{sec(-4), 100}, {sec(-3), 200}, {sec(-2), 200}, {sec(-1), 300}}
	for _, c := range []struct {
		name         string
		samples      []lsnSample
		replayed     int64
		lastReplayed time.Time
		want         time.Duration
	}{
		{"has the newest position", samples, 300, sec(-60), 0},
		{"ahead of the newest sample", samples, 350, time.Time{}, 0},
		// Idle primary: the position has not moved for an hour and the replica has it.
		{"idle and caught up", []lsnSample{{sec(-2), 500}, {sec(-1), 500}}, 500, sec(-3600), 0},
		{"has what the primary had 2 s ago", samples, 250, sec(-2), 2 * time.Second},
		{"has the oldest sample only", samples, 100, sec(-5), 4 * time.Second},
		{"has none, last replayed commit older", samples, 50, sec(-9), 9 * time.Second},
		{"has none, last replayed commit unknown", samples, 50, time.Time{}, 4 * time.Second},
		{"no samples yet", nil, 0, time.Time{}, 0},
	} {
		if got := replicaLag(c.samples, c.replayed, c.lastReplayed, now); got != c.want {
			t.Errorf("%s: lag = %v, want %v", c.name, got, c.want)
		}
	}
}
