package jobs

import (
	"testing"
	"time"

	"github.com/giveathon/giveathon"
)

func TestReindexerRunsOffTheEvent(t *testing.T) {
	t.Parallel()
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// A three-day event from 9:00 New York time on 1 December.
	event := giveathon.Event{StartsAt: at("2026-12-01T09:00:00-05:00"), EndsAt: at("2026-12-04T09:00:00-05:00")}
	for _, tc := range []struct {
		name      string
		event     giveathon.Event
		now, want string
	}{
		{"no event: River's midnight", giveathon.Event{}, "2026-12-02T10:00:00Z", "2026-12-03T00:00:00Z"},
		{"the midnight before the event", event, "2026-11-30T15:00:00Z", "2026-12-01T00:00:00Z"},
		{"a midnight during the event moves past its end", event, "2026-12-01T20:00:00Z", "2026-12-04T15:00:00Z"},
		{"the last midnight of the event too", event, "2026-12-03T23:59:59Z", "2026-12-04T15:00:00Z"},
		{"a midnight within the margin before the start", giveathon.Event{StartsAt: at("2026-12-01T00:30:00Z"), EndsAt: at("2026-12-01T12:00:00Z")},
			"2026-11-30T12:00:00Z", "2026-12-01T13:00:00Z"},
		{"after the event: River's midnight", event, "2026-12-04T16:00:00Z", "2026-12-05T00:00:00Z"},
	} {
		if got := (offEventSchedule{event: tc.event}).Next(at(tc.now)); !got.Equal(at(tc.want)) {
			t.Errorf("%s: next run after %s = %s, want %s", tc.name, tc.now, got.UTC().Format(time.RFC3339), tc.want)
		}
	}
}
