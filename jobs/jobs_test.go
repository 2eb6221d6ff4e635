package jobs

import (
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"
)

func TestBackoffGrowsWithJitterAndIsCapped(t *testing.T) {
	t.Parallel()
	b := &backoff{base: time.Second, max: 20 * time.Second}
	for attempt, step := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 5: 16 * time.Second, 9: 20 * time.Second, 60: 20 * time.Second} {
		for i := 0; i < 50; i++ {
			wait := time.Until(b.NextRetry(&rivertype.JobRow{Attempt: attempt}))
			if wait < step/2-10*time.Millisecond || wait > step*3/2+10*time.Millisecond {
				t.Fatalf("attempt %d: wait %v outside [%v, %v]", attempt, wait, step/2, step*3/2)
			}
		}
	}
}
