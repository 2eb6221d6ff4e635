package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/giveathon/giveathon/internal/gqlclient"
)

// chaosAdmin is the organiser who refunds a share of the gifts during the run.
const chaosAdmin = "chaos-admin@example.org"

const refundOp = `mutation($i: RefundDonationInput!) { refundDonation(input: $i) { id status } }`

// refunds is the organiser's work list: acknowledged gifts picked for a refund, waiting for
// them to succeed.
type refunds struct {
	mu      sync.Mutex
	waiting []ackedDonation
	// busy counts the gifts the refunder is working on now.
	busy int
	done int
}

// pick adds a gift to the work list.
func (q *refunds) pick(d ackedDonation) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.waiting = append(q.waiting, d)
}

// left says how many picked gifts are not refunded (nor failed) yet.
func (q *refunds) left() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.waiting) + q.busy
}

// refunder refunds, as an organiser at the console would, each picked gift once it has
// succeeded, while the faults fly; a tenth of the refunds are asked twice at once. It runs
// until ctx ends.
func (r *runner) refunder(ctx context.Context) {
	for ctx.Err() == nil {
		r.refundQueue.mu.Lock()
		batch := r.refundQueue.waiting
		r.refundQueue.waiting = nil
		r.refundQueue.busy = len(batch)
		r.refundQueue.mu.Unlock()
		var again []ackedDonation
		for _, d := range batch {
			var out struct {
				Donation        struct{ Status string }
				PartnerDonation struct{ Status string }
			}
			op := nextOp
			if d.partner {
				op = partnerNextOp
			}
			if err := r.do(ctx, d.token, op, map[string]any{"id": d.id}, &out); err != nil {
				again = append(again, d)
				continue
			}
			if d.partner {
				out.Donation = out.PartnerDonation
			}
			switch out.Donation.Status {
			case "SUCCEEDED":
				r.refund(ctx, d)
			case "FAILED", "REFUNDED":
			default:
				again = append(again, d)
			}
		}
		r.refundQueue.mu.Lock()
		r.refundQueue.waiting = append(r.refundQueue.waiting, again...)
		r.refundQueue.busy = 0
		r.refundQueue.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// refund asks for one gift's refund until the server answers, retrying as a console would.
func (r *runner) refund(ctx context.Context, d ackedDonation) {
	senders := 1
	if r.float() < r.o.doubleSend {
		senders = 2
	}
	var wg sync.WaitGroup
	for i := 0; i < senders; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := gqlclient.Retry(ctx, 3*time.Minute, func(ctx context.Context) error {
				return r.do(ctx, r.adminToken, refundOp, map[string]any{"i": map[string]any{"donationId": d.id, "reason": "chaos"}}, nil)
			})
			if err != nil && ctx.Err() == nil {
				fmt.Fprintf(r.log, "chaos: refund of %s not answered: %v\n", d.id, err)
			}
		}()
	}
	wg.Wait()
	r.refundQueue.mu.Lock()
	r.refundQueue.done++
	r.refundQueue.mu.Unlock()
}
