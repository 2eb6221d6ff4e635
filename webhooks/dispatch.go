package webhooks

import (
	"context"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/db"
	"github.com/jackc/pgx/v5"
)

// Dispatcher turns a partner's sequenced events into deliveries to its endpoints.
type Dispatcher struct {
	// EnqueueTx queues the deliveries' jobs in the same transaction, when River's jobs live
	// in the domain database (jobs.Jobs.EnqueueWebhooksTx); nil otherwise: the sweep
	// (jobs.WebhookSweepWorker) queues the deliveries it finds overdue.
	EnqueueTx func(ctx context.Context, tx pgx.Tx, deliveryIDs []string) error
}

// Dispatch writes, in tx, a delivery of each event to every enabled endpoint of its partner
// that asked for its type, and queues their jobs in tx. It is the sequencer's hook: it runs in
// the transaction that numbers the events, so an event is delivered if and only if it is
// committed.
func (d *Dispatcher) Dispatch(ctx context.Context, tx pgx.Tx, events []giveathon.PartnerEvent) error {
	ids, err := db.InsertWebhookDeliveries(ctx, tx, events)
	if err != nil || len(ids) == 0 || d == nil || d.EnqueueTx == nil {
		return err
	}
	return d.EnqueueTx(ctx, tx, ids)
}
