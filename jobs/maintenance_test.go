package jobs_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/giveathon/giveathon/internal/testenv"
	"github.com/giveathon/giveathon/jobs"
)

// TestCompletedJobsGoWithinMinutes starts the workers on a queue holding a job completed 11
// minutes ago and one completed 5 minutes ago: River's cleaner deletes the first (past the
// 10-minute retention; River's own default keeps a day) and keeps the second.
func TestCompletedJobsGoWithinMinutes(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	ctx := context.Background()
	var old, recent int64
	insert := func(age time.Duration, id *int64) {
		t.Helper()
		if err := d.Pool.QueryRow(ctx, `INSERT INTO river_job (args, kind, max_attempts, attempt, attempted_at, state, finalized_at, queue, priority)
			VALUES ('{}', 'retention_probe', 1, 1, now() - $1::interval, 'completed', now() - $1::interval, 'default', 1) RETURNING id`,
			age.String()).Scan(id); err != nil {
			t.Fatal(err)
		}
	}
	insert(11*time.Minute, &old)
	insert(5*time.Minute, &recent)
	j, err := jobs.New(d.Pool, jobs.Deps{DB: d, Logger: slog.New(slog.DiscardHandler)}, jobs.Config{ReconcileInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = j.Stop(ctx)
	})
	left := func() (ids []int64) {
		rows, err := d.Pool.Query(ctx, `SELECT id FROM river_job WHERE kind = 'retention_probe' ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		return ids
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(left()) == 2 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if got := left(); len(got) != 1 || got[0] != recent {
		t.Fatalf("completed jobs left: %v, want only the recent one %d (the old one %d deleted)", got, recent, old)
	}
}
