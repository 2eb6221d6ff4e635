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
type combiner[R combined] struct {
	mu       sync.Mutex
	queue    []R
	running  int
	flushers int
	max      int
	// write writes a batch and sets each request's answer; the combiner then tells the callers.
	write func([]R)
}

// combined is a request a combiner writes: it embeds pending.
type combined interface{ waiting() *pending }

// pending is what every combined request carries: its caller's context (a request whose caller
// left before a flusher took it is not written) and done, closed once its batch is written.
type pending struct {
	ctx  context.Context
	done chan struct{}
}

func (p *pending) waiting() *pending { return p }

// newCombiner returns a combiner writing up to flushers batches of at most max at once.
func newCombiner[R combined](flushers, max int, write func([]R)) *combiner[R] {
	return &combiner[R]{flushers: max1(flushers), max: max1(max), write: write}
}

// do queues r and waits until its batch is written: r then holds its answer. A caller that
// leaves first gets EUNAVAILABLE: the batch may still write r, as after a lost answer, and the
// caller's next try finds it written.
func (c *combiner[R]) do(ctx context.Context, r R) error {
	p := r.waiting()
	p.ctx, p.done = ctx, make(chan struct{})
	c.add(r)
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return unavailable(ctx.Err(), false)
	}
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
			if r.waiting().ctx.Err() == nil {
				batch = append(batch, r)
			}
		}
		clear(c.queue[:n])
		c.queue = append(c.queue[:0], c.queue[n:]...)
		c.mu.Unlock()
		if len(batch) > 0 {
			c.write(batch)
			for _, r := range batch {
				close(r.waiting().done)
			}
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
