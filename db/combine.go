package db

import (
	"context"
	"sync"
)

// combiner write-combines requests of one kind: a request joins a queue and, when fewer than
// flushers are writing, starts a flusher; a flusher takes what is queued (up to max), writes
// it as one batch, and goes on while the queue is not empty. No timer: a request that finds a
// flusher free is written at once, and the requests that arrive while the flushers write make
// the next batches, so batches grow with the load. Submits (submit_batch.go) and the workers'
// charge claims and finishes (settle_batch.go) use it.
type combiner[R any] struct {
	mu       sync.Mutex
	queue    []R
	running  int
	flushers int
	max      int
	// ctx is a request's context: a request whose caller left before a flusher took it is
	// not written.
	ctx func(R) context.Context
	// write writes a batch and answers its requests.
	write func([]R)
}

// newCombiner returns a combiner writing up to flushers batches of at most max at once.
func newCombiner[R any](flushers, max int, ctx func(R) context.Context, write func([]R)) *combiner[R] {
	return &combiner[R]{flushers: max1(flushers), max: max1(max), ctx: ctx, write: write}
}

func max1(n int) int { return max(n, 1) }

// add queues r, starting a flusher if one is free; write answers it.
func (c *combiner[R]) add(r R) {
	c.mu.Lock()
	c.queue = append(c.queue, r)
	start := c.running < c.flushers
	if start {
		c.running++
	}
	c.mu.Unlock()
	if start {
		go c.flush()
	}
}

// flush writes batches until the queue is empty.
func (c *combiner[R]) flush() {
	for {
		c.mu.Lock()
		if len(c.queue) == 0 {
			c.running--
			c.mu.Unlock()
			return
		}
		n := min(len(c.queue), c.max)
		batch := make([]R, 0, n)
		for _, r := range c.queue[:n] {
			if c.ctx(r).Err() == nil {
				batch = append(batch, r)
			}
		}
		clear(c.queue[:n])
		c.queue = append(c.queue[:0], c.queue[n:]...)
		c.mu.Unlock()
		if len(batch) > 0 {
			c.write(batch)
		}
	}
}

// queued is how many requests wait for a flusher.
func (c *combiner[R]) queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

// hold keeps flushers from starting until release is called (once; later calls do nothing),
// so that what is queued meanwhile is written together (tests).
func (c *combiner[R]) hold() (release func()) {
	c.mu.Lock()
	c.running += c.flushers
	c.mu.Unlock()
	return sync.OnceFunc(func() {
		c.mu.Lock()
		c.running -= c.flushers
		start := len(c.queue) > 0 && c.running < c.flushers
		if start {
			c.running++
		}
		c.mu.Unlock()
		if start {
			go c.flush()
		}
	})
}
