package db_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/giveathon/giveathon/internal/testenv"
)

// TestAddUpToNeverPassesItsMax: twenty requests of 10 at once against a ceiling of 95: nine
// are counted, the count ends at 90, and one of 5 still fits afterwards (a request that did
// not fit was counted and given back, refusing others that would have fit meanwhile).
func TestAddUpToNeverPassesItsMax(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	added := 0
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, ok, err := d.AddUpTo(ctx, "budget", time.Hour, 10, 95)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				added++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if added != 9 {
		t.Errorf("%d of 20 requests of 10 counted under a ceiling of 95, want 9", added)
	}
	n, _, ok, err := d.AddUpTo(ctx, "budget", time.Hour, 5, 95)
	if err != nil || !ok || n != 95 {
		t.Errorf("a request of 5 after them: count %d, counted %v (%v), want 95 and true", n, ok, err)
	}
	if n, _, ok, err := d.AddUpTo(ctx, "budget", time.Hour, 1, 95); err != nil || ok || n != 95 {
		t.Errorf("one more at the ceiling: count %d, counted %v (%v), want 95 and false", n, ok, err)
	}
}
