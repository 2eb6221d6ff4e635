package graph

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

// TestWatchTriesAFailedReadAgainSoon: a read after a notice that fails (the database busy or
// restarting) is tried again within about a second, not at the next notice or resync, so the
// change it was woken for still reaches the subscriber.
func TestWatchTriesAFailedReadAgainSoon(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wake := make(chan struct{}, 1)
	out := make(chan int, 1)
	var reads atomic.Int32
	read := func(context.Context, time.Time) (int, error) {
		if reads.Add(1) == 1 {
			return 0, errors.New("connection refused")
		}
		return 2, nil
	}
	go watch(ctx, slog.New(slog.DiscardHandler), wake, func() {}, 0, time.Hour, 1, read,
		func(old, now int) bool { return old != now }, out)
	if v := <-out; v != 1 {
		t.Fatalf("first value %d", v)
	}
	wake <- struct{}{}
	select {
	case v := <-out:
		if v != 2 || reads.Load() != 2 {
			t.Fatalf("got %d after %d reads", v, reads.Load())
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("the change was not pushed after a failed read (%d reads)", reads.Load())
	}
}
