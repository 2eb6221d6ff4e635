package jobs

import (
	"time"

	"github.com/giveathon/giveathon"
)

// DefaultCompletedJobRetention is how long River keeps a completed job when none is set: a
// few minutes, against River's day. At an event's rate a day of completed charges is millions
// of dead rows in river_job, which every fetch's index scan and autovacuum wade through; what
// a completed job recorded lives on in the donation, its attempts and the metrics.
const DefaultCompletedJobRetention = 10 * time.Minute

// reindexMargin keeps River's reindexer this far from the event's start and end: the first
// donations arrive before the start, and the last settle after the end.
const reindexMargin = time.Hour

// offEventSchedule runs River's reindexer at midnight UTC, as River's own schedule does, but
// never during the event: a midnight that falls within the event (with reindexMargin either
// side) is moved to just after it. REINDEX CONCURRENTLY on river_job's indexes scans the
// whole table twice and competes with the charges for the cores and the disk.
type offEventSchedule struct {
	event giveathon.Event
}

// Next implements river.PeriodicSchedule.
func (s offEventSchedule) Next(t time.Time) time.Time {
	next := t.Add(24 * time.Hour).Truncate(24 * time.Hour)
	if s.event.StartsAt.IsZero() || s.event.EndsAt.IsZero() {
		return next
	}
	from, to := s.event.StartsAt.Add(-reindexMargin), s.event.EndsAt.Add(reindexMargin)
	if next.After(from) && next.Before(to) {
		return to
	}
	return next
}
