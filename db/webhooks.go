package db

import (
	"context"
	"fmt"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/jackc/pgx/v5"
)

// Webhook endpoints and their deliveries (docs/partners.md). Every lookup a partner makes is
// by its own partner id: another partner's endpoint or delivery is not found.

const endpointColumns = `id::text, partner_id::text, url, events, status, disabled_reason, secret_version,
	previous_version, previous_until, created_at`

func scanEndpoint(row pgx.Row) (*giveathon.WebhookEndpoint, error) {
	var e giveathon.WebhookEndpoint
	err := row.Scan(&e.ID, &e.PartnerID, &e.URL, &e.Events, &e.Status, &e.DisabledReason, &e.SecretVersion,
		&e.PreviousVersion, &e.PreviousUntil, &e.CreatedAt)
	return &e, err
}

// CreateWebhookEndpoint registers an endpoint of a partner, which may have at most max that
// are not deleted (ECONFLICT past it).
func (db *DB) CreateWebhookEndpoint(ctx context.Context, partnerID, url string, events []string, max int) (*giveathon.WebhookEndpoint, error) {
	var ep *giveathon.WebhookEndpoint
	err := db.InTx(ctx, func(tx pgx.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM webhook_endpoints WHERE partner_id = $1 AND status <> $2`,
			partnerID, giveathon.EndpointDeleted).Scan(&n); err != nil {
			return err
		}
		if n >= max {
			return giveathon.Errorf(giveathon.ECONFLICT, "a partner may have at most %d webhook endpoints: delete one first", max)
		}
		var err error
		ep, err = scanEndpoint(tx.QueryRow(ctx, `INSERT INTO webhook_endpoints (partner_id, url, events, status)
			VALUES ($1, $2, $3, $4) RETURNING `+endpointColumns, partnerID, url, events, giveathon.EndpointEnabled))
		return err
	})
	if err != nil && giveathon.ErrorCode(err) == giveathon.EINTERNAL {
		return nil, fmt.Errorf("create webhook endpoint: %w", err)
	}
	return ep, err
}

// FindWebhookEndpoints returns a partner's endpoints that are not deleted, oldest first.
func (db *DB) FindWebhookEndpoints(ctx context.Context, partnerID string) ([]*giveathon.WebhookEndpoint, error) {
	rows, err := db.Pool.Query(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints
		WHERE partner_id = $1 AND status <> $2 ORDER BY created_at, id`, partnerID, giveathon.EndpointDeleted)
	if err != nil {
		return nil, fmt.Errorf("find webhook endpoints: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*giveathon.WebhookEndpoint, error) { return scanEndpoint(r) })
	if err != nil {
		return nil, fmt.Errorf("find webhook endpoints: %w", err)
	}
	return list, nil
}

// FindWebhookEndpoint returns one of a partner's endpoints that is not deleted (ENOTFOUND
// otherwise).
func (db *DB) FindWebhookEndpoint(ctx context.Context, partnerID, id string) (*giveathon.WebhookEndpoint, error) {
	ep, err := scanEndpoint(db.Pool.QueryRow(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints
		WHERE id = $1 AND partner_id = $2 AND status <> $3`, id, partnerID, giveathon.EndpointDeleted))
	return ep, oneRow(err, "webhook endpoint", "find webhook endpoint")
}

// WebhookEndpointUpdate changes an endpoint: each field set is changed.
type WebhookEndpointUpdate struct {
	URL    *string
	Events []string
	// Enabled true turns a disabled endpoint back on; false turns it off.
	Enabled *bool
}

// UpdateWebhookEndpoint changes one of a partner's endpoints (ENOTFOUND when it has none by
// that id).
func (db *DB) UpdateWebhookEndpoint(ctx context.Context, partnerID, id string, u WebhookEndpointUpdate) (*giveathon.WebhookEndpoint, error) {
	ep, err := scanEndpoint(db.Pool.QueryRow(ctx, `UPDATE webhook_endpoints SET
			url = coalesce($3, url), events = coalesce($4, events),
			status = CASE WHEN $5::bool AND status = $6 THEN $7 WHEN NOT $5::bool AND status = $7 THEN $6 ELSE status END,
			disabled_reason = CASE WHEN $5::bool AND status = $6 THEN NULL
				WHEN NOT $5::bool AND status = $7 THEN 'turned off by the partner' ELSE disabled_reason END,
			updated_at = now()
		WHERE id = $1 AND partner_id = $2 AND status <> $8 RETURNING `+endpointColumns,
		id, partnerID, u.URL, u.Events, u.Enabled, giveathon.EndpointDisabled, giveathon.EndpointEnabled, giveathon.EndpointDeleted))
	return ep, oneRow(err, "webhook endpoint", "update webhook endpoint")
}

// DeleteWebhookEndpoint deletes one of a partner's endpoints: nothing more is sent to it, and
// its pending deliveries fail.
func (db *DB) DeleteWebhookEndpoint(ctx context.Context, partnerID, id string) error {
	return db.InTxAt(ctx, pgx.ReadCommitted, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE webhook_endpoints SET status = $3, updated_at = now()
			WHERE id = $1 AND partner_id = $2 AND status <> $3`, id, partnerID, giveathon.EndpointDeleted)
		if err != nil {
			return fmt.Errorf("delete webhook endpoint: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return giveathon.Errorf(giveathon.ENOTFOUND, "webhook endpoint not found")
		}
		if _, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET status = $2, next_attempt_at = NULL
			WHERE endpoint_id = $1 AND status = $3`, id, giveathon.DeliveryFailed, giveathon.DeliveryPending); err != nil {
			return fmt.Errorf("fail the deleted endpoint's deliveries: %w", err)
		}
		return nil
	})
}

// RotateWebhookSecret gives one of a partner's endpoints its next secret version; the one it
// had keeps signing until now+overlap.
func (db *DB) RotateWebhookSecret(ctx context.Context, partnerID, id string, overlap time.Duration) (*giveathon.WebhookEndpoint, error) {
	ep, err := scanEndpoint(db.Pool.QueryRow(ctx, `UPDATE webhook_endpoints SET
			secret_version = secret_version + 1, previous_version = secret_version,
			previous_until = now() + make_interval(secs => $3), updated_at = now()
		WHERE id = $1 AND partner_id = $2 AND status <> $4 RETURNING `+endpointColumns,
		id, partnerID, overlap.Seconds(), giveathon.EndpointDeleted))
	return ep, oneRow(err, "webhook endpoint", "rotate webhook secret")
}

// InsertWebhookDeliveries writes, in tx, a delivery of each event to every endpoint of its
// partner that asked for its type (or "*"), and returns the new deliveries' ids. An event
// already delivered to an endpoint is left alone. A disabled endpoint's delivery waits, pending
// and untried, until the endpoint is turned back on (the sweep then queues it): an event
// while it was off is not lost to it.
func InsertWebhookDeliveries(ctx context.Context, tx pgx.Tx, events []giveathon.PartnerEvent) ([]string, error) {
	if len(events) == 0 {
		return nil, nil
	}
	ids, partners, types := make([]string, len(events)), make([]string, len(events)), make([]string, len(events))
	for i, e := range events {
		ids[i], partners[i], types[i] = e.ID, e.PartnerID, e.Type
	}
	rows, err := tx.Query(ctx, `INSERT INTO webhook_deliveries (endpoint_id, partner_id, event_id, status, next_attempt_at)
		SELECT w.id, w.partner_id, ev.id, $5, now()
		FROM unnest($1::uuid[], $2::uuid[], $3::text[]) AS ev(id, partner_id, type)
		JOIN webhook_endpoints w ON w.partner_id = ev.partner_id AND w.status IN ($4, $6)
			AND (ev.type = ANY (w.events) OR '*' = ANY (w.events))
		ORDER BY ev.id, w.id
		ON CONFLICT (endpoint_id, event_id) DO NOTHING
		RETURNING id::text`, ids, partners, types, giveathon.EndpointEnabled, giveathon.DeliveryPending, giveathon.EndpointDisabled)
	if err != nil {
		return nil, fmt.Errorf("insert webhook deliveries: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("insert webhook deliveries: %w", err)
	}
	return out, nil
}

// WebhookSend is what one try of a delivery needs: the delivery, its endpoint, its event.
type WebhookSend struct {
	Delivery *giveathon.WebhookDelivery
	Endpoint *giveathon.WebhookEndpoint
	Event    *giveathon.PartnerEvent
}

const deliveryColumns = `d.id::text, d.endpoint_id::text, d.partner_id::text, d.event_id::text, ev.type, d.status,
	d.attempts, d.next_attempt_at, d.created_at, d.delivered_at`

func scanDelivery(row pgx.Row, extra ...any) (*giveathon.WebhookDelivery, error) {
	var d giveathon.WebhookDelivery
	err := row.Scan(append([]any{&d.ID, &d.EndpointID, &d.PartnerID, &d.EventID, &d.EventType, &d.Status,
		&d.AttemptCount, &d.NextAttemptAt, &d.CreatedAt, &d.DeliveredAt}, extra...)...)
	return &d, err
}

// FindWebhookSend loads a delivery with its endpoint and its event.
func (db *DB) FindWebhookSend(ctx context.Context, deliveryID string) (*WebhookSend, error) {
	var ep giveathon.WebhookEndpoint
	var ev giveathon.PartnerEvent
	var seq *int64
	d, err := scanDelivery(db.Pool.QueryRow(ctx, `SELECT `+deliveryColumns+`,
			w.id::text, w.partner_id::text, w.url, w.events, w.status, w.disabled_reason, w.secret_version,
			w.previous_version, w.previous_until, w.created_at,
			ev.id::text, ev.partner_id::text, ev.type, ev.data, ev.created_at, ev.seq
		FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id JOIN partner_events ev ON ev.id = d.event_id
		WHERE d.id = $1`, deliveryID),
		&ep.ID, &ep.PartnerID, &ep.URL, &ep.Events, &ep.Status, &ep.DisabledReason, &ep.SecretVersion,
		&ep.PreviousVersion, &ep.PreviousUntil, &ep.CreatedAt,
		&ev.ID, &ev.PartnerID, &ev.Type, &ev.Data, &ev.CreatedAt, &seq)
	if err := oneRow(err, "webhook delivery", "find webhook delivery "+deliveryID); err != nil {
		return nil, err
	}
	if seq != nil {
		ev.Seq = *seq
	}
	return &WebhookSend{Delivery: d, Endpoint: &ep, Event: &ev}, nil
}

// WebhookDeliveryTries returns how many tries of a delivery are recorded and whether it is
// still pending.
func (db *DB) WebhookDeliveryTries(ctx context.Context, deliveryID string) (tries int, pending bool, err error) {
	var status string
	err = db.Pool.QueryRow(ctx, `SELECT attempts, status FROM webhook_deliveries WHERE id = $1`, deliveryID).Scan(&tries, &status)
	if err := oneRow(err, "webhook delivery", "count the tries of webhook delivery "+deliveryID); err != nil {
		return 0, false, err
	}
	return tries, status == giveathon.DeliveryPending, nil
}

// RecordWebhookAttempt records one try of a delivery and what it left the delivery as, in
// one statement: the attempt row, the count, the status (a delivered delivery stays so),
// when it goes next (nil: never) and when it was delivered.
func (db *DB) RecordWebhookAttempt(ctx context.Context, deliveryID string, a giveathon.WebhookAttempt, status string, next *time.Time) error {
	return db.Retry(ctx, func(ctx context.Context) error {
		_, err := db.Pool.Exec(ctx, `WITH d AS (
				UPDATE webhook_deliveries SET attempts = attempts + 1,
					status = CASE WHEN status = $7::text THEN status ELSE $6::text END,
					next_attempt_at = CASE WHEN status = $7::text OR $6::text = $7::text THEN NULL ELSE $8::timestamptz END,
					delivered_at = CASE WHEN $6::text = $7::text THEN coalesce(delivered_at, $2::timestamptz) ELSE delivered_at END
				WHERE id = $1 AND `+notMoney+` RETURNING id, attempts)
			INSERT INTO webhook_attempts (delivery_id, attempt_no, at, status_code, duration_ms, error)
			SELECT id, attempts, $2, $3, $4, $5 FROM d`,
			deliveryID, a.At, a.StatusCode, a.DurationMs, a.Error, status, giveathon.DeliveryDelivered, next)
		if err != nil {
			return fmt.Errorf("record webhook attempt of %s: %w", deliveryID, err)
		}
		return nil
	})
}

// DisableWebhookEndpoint disables an enabled endpoint with a reason and reports whether this
// call did it (so what follows, the partner's e-mail, happens once).
func (db *DB) DisableWebhookEndpoint(ctx context.Context, endpointID, reason string) (bool, error) {
	tag, err := db.Pool.Exec(ctx, `UPDATE webhook_endpoints SET status = $2, disabled_reason = $3, updated_at = now()
		WHERE id = $1 AND status = $4`, endpointID, giveathon.EndpointDisabled, reason, giveathon.EndpointEnabled)
	if err != nil {
		return false, fmt.Errorf("disable webhook endpoint %s: %w", endpointID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// WebhookFailures tells since when an endpoint has failed (its first failed try after its
// last success) and how many of its deliveries were given up since.
func (db *DB) WebhookFailures(ctx context.Context, endpointID string) (since time.Time, givenUp int, err error) {
	err = db.Pool.QueryRow(ctx, `WITH ok AS (
			SELECT coalesce(max(delivered_at), '-infinity') AS at FROM webhook_deliveries WHERE endpoint_id = $1)
		SELECT coalesce(min(a.at), now()),
			(SELECT count(*) FROM webhook_deliveries d2, ok WHERE d2.endpoint_id = $1 AND d2.status = $2 AND d2.created_at > ok.at)
		FROM ok, webhook_deliveries d JOIN webhook_attempts a ON a.delivery_id = d.id
		WHERE d.endpoint_id = $1 AND a.at > ok.at AND (a.status_code IS NULL OR a.status_code NOT BETWEEN 200 AND 299)`,
		endpointID, giveathon.DeliveryFailed).Scan(&since, &givenUp)
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("count webhook failures of %s: %w", endpointID, err)
	}
	return since, givenUp, nil
}

// WebhookContact returns the partner's name and contact e-mail (nil: none).
func (db *DB) WebhookContact(ctx context.Context, partnerID string) (name string, email *string, err error) {
	err = db.Pool.QueryRow(ctx, `SELECT name, contact_email FROM partners WHERE id = $1`, partnerID).Scan(&name, &email)
	return name, email, oneRow(err, "partner", "find partner "+partnerID)
}

// sqlDeliveriesPage is a page of an endpoint's deliveries (pageAfter).
var sqlDeliveriesPage = `SELECT ` + deliveryColumns + ` FROM webhook_deliveries d JOIN partner_events ev ON ev.id = d.event_id
	WHERE d.endpoint_id = $1 AND d.partner_id = $2 AND (d.created_at, d.id) < ($3, $4::uuid)
	ORDER BY d.created_at DESC, d.id DESC LIMIT $5`

// FindWebhookDeliveries returns a page of the deliveries of one of a partner's endpoints,
// newest first, with their tries, and their cursors. Another partner's endpoint is ENOTFOUND.
func (db *DB) FindWebhookDeliveries(ctx context.Context, partnerID, endpointID string, p giveathon.Page) ([]*giveathon.WebhookDelivery, []string, error) {
	page, err := p.Validate()
	if err != nil {
		return nil, nil, err
	}
	after, err := pageAfter(page.After)
	if err != nil {
		return nil, nil, err
	}
	if _, err := db.FindWebhookEndpoint(ctx, partnerID, endpointID); err != nil {
		return nil, nil, err
	}
	var list []*giveathon.WebhookDelivery
	err = db.InTxAt(ctx, pgx.RepeatableRead, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, sqlDeliveriesPage, endpointID, partnerID, after.CreatedAt, after.ID, page.First+1)
		if err != nil {
			return err
		}
		if list, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*giveathon.WebhookDelivery, error) { return scanDelivery(r) }); err != nil {
			return err
		}
		return loadAttempts(ctx, tx, list)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("find webhook deliveries: %w", err)
	}
	cursors := make([]string, len(list))
	for i, d := range list {
		cursors[i] = keysetCursor(d.CreatedAt, d.ID)
	}
	return list, cursors, nil
}

// loadAttempts fills each delivery's AttemptLog, oldest try first.
func loadAttempts(ctx context.Context, q pgx.Tx, list []*giveathon.WebhookDelivery) error {
	byID := make(map[string]*giveathon.WebhookDelivery, len(list))
	ids := make([]string, len(list))
	for i, d := range list {
		byID[d.ID], ids[i] = d, d.ID
		d.AttemptLog = []*giveathon.WebhookAttempt{}
	}
	rows, err := q.Query(ctx, `SELECT delivery_id::text, at, status_code, duration_ms, error FROM webhook_attempts
		WHERE delivery_id = ANY ($1::uuid[]) ORDER BY delivery_id, attempt_no`, ids)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var a giveathon.WebhookAttempt
		if err := rows.Scan(&id, &a.At, &a.StatusCode, &a.DurationMs, &a.Error); err != nil {
			return err
		}
		byID[id].AttemptLog = append(byID[id].AttemptLog, &a)
	}
	return rows.Err()
}

// FindWebhookDelivery returns one of a partner's deliveries with its tries (ENOTFOUND for
// another partner's).
func (db *DB) FindWebhookDelivery(ctx context.Context, partnerID, id string) (*giveathon.WebhookDelivery, error) {
	var d *giveathon.WebhookDelivery
	err := db.InTxAt(ctx, pgx.RepeatableRead, func(tx pgx.Tx) error {
		var err error
		d, err = scanDelivery(tx.QueryRow(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries d
			JOIN partner_events ev ON ev.id = d.event_id WHERE d.id = $1 AND d.partner_id = $2`, id, partnerID))
		if err := oneRow(err, "webhook delivery", "find webhook delivery"); err != nil {
			return err
		}
		return loadAttempts(ctx, tx, []*giveathon.WebhookDelivery{d})
	})
	return d, err
}

// RedeliverWebhook puts one of a partner's deliveries back to pending, due now, and returns
// it. Its endpoint must be enabled (ECONFLICT otherwise).
func (db *DB) RedeliverWebhook(ctx context.Context, partnerID, id string) (*giveathon.WebhookDelivery, error) {
	err := db.InTxAt(ctx, pgx.ReadCommitted, func(tx pgx.Tx) error {
		var status string
		err := tx.QueryRow(ctx, `SELECT w.status FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id
			WHERE d.id = $1 AND d.partner_id = $2 AND w.status <> $3 FOR UPDATE OF d`, id, partnerID, giveathon.EndpointDeleted).Scan(&status)
		if err := oneRow(err, "webhook delivery", "redeliver webhook"); err != nil {
			return err
		}
		if status != giveathon.EndpointEnabled {
			return giveathon.Errorf(giveathon.ECONFLICT, "the endpoint is disabled: turn it back on (updateWebhookEndpoint with enabled: true) first")
		}
		_, err = tx.Exec(ctx, `UPDATE webhook_deliveries SET status = $2, next_attempt_at = now() WHERE id = $1`, id, giveathon.DeliveryPending)
		return err
	})
	if err != nil {
		return nil, err
	}
	return db.FindWebhookDelivery(ctx, partnerID, id)
}

// FindOverdueWebhookDeliveries returns up to limit pending deliveries to enabled endpoints
// that were due before the given time: their job was lost, or was never queued (the jobs in
// another database).
func (db *DB) FindOverdueWebhookDeliveries(ctx context.Context, before time.Time, limit int) ([]string, error) {
	rows, err := db.Pool.Query(ctx, `SELECT d.id::text FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id
		WHERE d.status = '`+giveathon.DeliveryPending+`' AND d.next_attempt_at < $1 AND w.status = $2 ORDER BY d.next_attempt_at LIMIT $3`,
		before, giveathon.EndpointEnabled, limit)
	if err != nil {
		return nil, fmt.Errorf("find overdue webhook deliveries: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("find overdue webhook deliveries: %w", err)
	}
	return ids, nil
}
