package db

import (
	"context"
	"fmt"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/jackc/pgx/v5"
)

// Querier runs a query: a transaction, or the pool for a statement of its own.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// sqlGlobalID is the SQL for the global GraphQL ID of an object of type typ whose UUID is the
// SQL expression id: base64url, without padding, of "<typ>:<uuid>" (graph/relay.go's globalID).
func sqlGlobalID(typ, id string) string {
	return `translate(rtrim(replace(encode(convert_to('` + typ + `:' || ` + id + `::text, 'UTF8'), 'base64'), E'\n', ''), '='), '+/', '-_')`
}

// sqlPartnerEventData is the SQL for a partner event's data about donation d (a row of
// donationColumns) of charity c: what its webhook's body carries as data.
func sqlPartnerEventData(d, c string) string {
	return `jsonb_build_object('id', ` + sqlGlobalID("Donation", d+".id") + `, 'partnerReference', nullif(` + d + `.partner_reference, ''),
			'amountCents', ` + d + `.amount_cents, 'currency', ` + d + `.currency, 'status', ` + d + `.status,
			'charity', jsonb_build_object('id', ` + sqlGlobalID("Charity", c+".id") + `, 'name', ` + c + `.name))
		|| CASE WHEN ` + d + `.failure_code <> '' THEN jsonb_build_object('failureCode', ` + d + `.failure_code, 'failureMessage', nullif(` + d + `.failure_message, ''))
			ELSE '{}'::jsonb END`
}

// SetPaymentIntentID records a donation's PaymentIntent as soon as it is known (once).
func (db *DB) SetPaymentIntentID(ctx context.Context, userID, donationID, paymentIntentID string) error {
	_, err := db.Exec(ctx, sqlSetPaymentIntent, donationID, paymentIntentID, userID)
	if err != nil {
		return fmt.Errorf("record payment intent of %s: %w", donationID, err)
	}
	return nil
}

var sqlSetPaymentIntent = `UPDATE donations SET payment_intent_id = $2, updated_at = now()
	WHERE user_id = $3 AND id = $1 AND payment_intent_id IS NULL`

// FindDonationByPaymentIntent returns the donation a PaymentIntent belongs to, or ENOTFOUND.
func (db *DB) FindDonationByPaymentIntent(ctx context.Context, paymentIntentID string) (*giveathon.Donation, error) {
	d, err := scanDonation(db.Pool.QueryRow(ctx, `SELECT `+donationColumns+` FROM donations WHERE payment_intent_id = $1`, paymentIntentID))
	return d, oneRow(err, "donation", "find donation by payment intent")
}

// FindChargeContext returns a donor's donation with the donor's and card's provider ids, in
// one query of one partition ("" for the donor: found first, see FindDonation).
func (db *DB) FindChargeContext(ctx context.Context, userID, donationID string) (*giveathon.ChargeContext, error) {
	userID, err := db.donorOf(ctx, userID, donationID)
	if err != nil {
		return nil, err
	}
	c := &giveathon.ChargeContext{}
	var openSeconds *float64
	c.Donation, err = scanDonation(db.Pool.QueryRow(ctx, sqlChargeContext, userID, donationID),
		&c.ProviderCustomerID, &c.ProviderPaymentMethodID, &c.DonorEmail, &c.DonorName, &openSeconds)
	if err != nil {
		return nil, oneRow(err, "donation", "find charge context of "+donationID)
	}
	if openSeconds != nil {
		c.OpenAttempt, c.OpenAttemptAge = true, time.Duration(*openSeconds*float64(time.Second))
	}
	return c, nil
}

var sqlChargeContext = `SELECT ` + donationColumnsOf("d.") + `,
		pm.provider_customer_id, pm.provider_payment_method_id, u.email, u.name,
		(SELECT extract(epoch FROM now() - max(a.started_at))::float8 FROM payment_attempts a
			WHERE a.donation_id = $2 AND a.finished_at IS NULL)
	FROM donations d JOIN payment_methods pm ON pm.user_id = d.user_id AND pm.id = d.payment_method_id
		JOIN users u ON u.id = d.user_id
	WHERE d.user_id = $1 AND d.id = $2`

// ClaimCharge claims a donation's charge in ONE statement: the move PENDING -> PROCESSING
// (conditional, as every move; the state table's PROCESSING writes nothing else), and, when
// the donation is PROCESSING after it, the start of a payment attempt numbered one more than
// its attempts so far (whoever made them) with the provider request key keyPrefix+number; it
// returns the charge context (the donor's and card's provider ids, e-mail and name) with the
// donation as the claim left it. userID "" looks the donor up first (see FindDonation); two
// claims racing for an attempt number run again. With write-combined claims on
// (EnableSettleBatch), the claim joins a batch, and runs on its own when the batch fails.
func (db *DB) ClaimCharge(ctx context.Context, userID, donationID, keyPrefix string) (*giveathon.ChargeClaim, error) {
	userID, err := db.donorOf(ctx, userID, donationID)
	if err != nil {
		return nil, err
	}
	if db.settle != nil {
		// A caller that leaves first: the batch may still make the claim; the next run of the
		// job finds it made and starts the next attempt, as after a lost answer.
		r := &claimReq{userID: userID, donationID: donationID, keyPrefix: keyPrefix}
		if err := db.settle.claims.do(ctx, r); err != nil {
			return nil, err
		}
		if r.batchErr == nil {
			if r.c == nil {
				return nil, giveathon.Errorf(giveathon.ENOTFOUND, "donation not found")
			}
			return r.c, nil
		}
	}
	for round := 0; ; round++ {
		c, err := db.claimOnce(ctx, db, userID, donationID, keyPrefix)
		if isUniqueViolation(err, "payment_attempts_donation_attempt_key") && round < 5 {
			continue
		} else if err != nil {
			return nil, oneRow(err, "donation", "claim the charge of "+donationID)
		}
		return c, nil
	}
}

// claimOnce runs ClaimCharge's single statement once, through q.
func (db *DB) claimOnce(ctx context.Context, q Querier, userID, donationID, keyPrefix string) (*giveathon.ChargeClaim, error) {
	c := &giveathon.ChargeClaim{}
	var err error
	c.Donation, err = scanDonation(q.QueryRow(ctx, sqlClaimCharge, userID, donationID, string(giveathon.StatusProcessing), claimFrom(),
		keyPrefix, giveathon.AttemptStarted),
		&c.ProviderCustomerID, &c.ProviderPaymentMethodID, &c.DonorEmail, &c.DonorName, &c.Moved, &c.AttemptNo, &c.RequestKey)
	return c, err
}

// claimFrom are the states a claim moves a donation out of: the state table's PROCESSING,
// which writes nothing but the move (TestClaimWritesWhatProcessingDoes).
func claimFrom() []string { return statusStrings(giveathon.States[giveathon.StatusProcessing].From) }

// sqlClaimCharge is ClaimCharge's one statement. The donation as it is now is the moved row,
// or, when nothing moved, the row as the statement found it. The donor's card is looked up
// by $1, not by the row's user_id, so that only the donor's partition is read.
var sqlClaimCharge = `WITH moved AS (
		UPDATE donations SET status = $3, updated_at = now()
		WHERE user_id = $1 AND id = $2 AND status = ANY($4::text[])
		RETURNING *),
	cur AS (
		SELECT * FROM moved
		UNION ALL
		SELECT * FROM donations WHERE user_id = $1 AND id = $2 AND NOT EXISTS (SELECT 1 FROM moved)),
	attempt AS (
		INSERT INTO payment_attempts (donation_id, attempt_no, provider_request_key, status)
		SELECT $2, n, $5 || n, $6 FROM (SELECT coalesce(max(attempt_no), 0) + 1 AS n FROM payment_attempts WHERE donation_id = $2) AS next
		WHERE EXISTS (SELECT 1 FROM cur WHERE status = $3)
		RETURNING attempt_no, provider_request_key)
	SELECT ` + donationColumnsOf("d.") + `,
		pm.provider_customer_id, pm.provider_payment_method_id, u.email, u.name,
		EXISTS (SELECT 1 FROM moved), coalesce(a.attempt_no, 0), coalesce(a.provider_request_key, '')
	FROM cur d JOIN payment_methods pm ON pm.user_id = $1 AND pm.id = d.payment_method_id
		JOIN users u ON u.id = $1
		LEFT JOIN attempt a ON true`

// FindStaleDonations returns up to limit donations in status whose last change is older than
// olderThan, oldest first: status is an undecided one, read from the index of the undecided.
func (db *DB) FindStaleDonations(ctx context.Context, status giveathon.DonationStatus, olderThan time.Duration, limit int) ([]*giveathon.Donation, error) {
	rows, err := db.Pool.Query(ctx, sqlFindStale, string(status), time.Now().Add(-olderThan), limit)
	if err != nil {
		return nil, fmt.Errorf("find stale %s donations: %w", status, err)
	}
	list, err := collectDonations(rows)
	if err != nil {
		return nil, fmt.Errorf("find stale %s donations: %w", status, err)
	}
	return list, nil
}

// sqlFindStale reads donations_unsettled_idx (status, updated_at) WHERE settled_at IS NULL.
var sqlFindStale = `SELECT ` + donationColumns + ` FROM donations
	WHERE status = $1 AND settled_at IS NULL AND updated_at < $2 ORDER BY updated_at LIMIT $3`

// FindDisagreeingDonations returns donations whose attempts say the charge succeeded while the
// donation, still being charged, says otherwise. Only those can be put right from the provider
// (a decided donation moves to no other decision), so only the undecided are read, from their
// index, however many decided donations there are.
func (db *DB) FindDisagreeingDonations(ctx context.Context, limit int) ([]*giveathon.Donation, error) {
	rows, err := db.Pool.Query(ctx, sqlFindDisagreeing, limit, DisagreeingStatuses(), giveathon.AttemptSucceeded)
	if err != nil {
		return nil, fmt.Errorf("find disagreeing donations: %w", err)
	}
	return collectDonations(rows)
}

// DisagreeingStatuses are the states of a donation the provider's success may still move it
// out of: where FindDisagreeingDonations looks.
func DisagreeingStatuses() []string {
	return statusStrings(giveathon.StatusSucceeded.MovesInto())
}

// statusStrings is statuses as the text[] a statement takes.
func statusStrings(statuses []giveathon.DonationStatus) []string {
	list := make([]string, 0, len(statuses))
	for _, s := range statuses {
		list = append(list, string(s))
	}
	return list
}

// sqlFindDisagreeing reads the undecided (their partial index), then each one's attempts by
// its key. The attempts are a LATERAL subquery with a LIMIT, which the planner cannot turn
// into a join: as an EXISTS it became a semi-join, and a generic plan made during a backlog
// (many undecided) read every succeeded attempt of the event and looked up each one's gift.
var sqlFindDisagreeing = `SELECT ` + donationColumnsOf("d.") + ` FROM donations d
	CROSS JOIN LATERAL (SELECT 1 FROM payment_attempts a WHERE a.donation_id = d.id AND a.status = $3 LIMIT 1) AS ok
	WHERE d.settled_at IS NULL AND d.status = ANY($2::text[])
	LIMIT $1`

// CloseAbandonedAttempts marks attempts left "started" (their worker died) on settled
// donations as errors, and returns how many it closed. The open attempts are read from their
// partial index, their donations by id.
func (db *DB) CloseAbandonedAttempts(ctx context.Context, olderThan time.Duration) (int64, error) {
	tag, err := db.Pool.Exec(ctx, sqlCloseAbandoned, time.Now().Add(-olderThan), giveathon.AttemptError)
	if err != nil {
		return 0, fmt.Errorf("close abandoned attempts: %w", err)
	}
	return tag.RowsAffected(), nil
}

// sqlCloseAbandoned names the open status as a literal, so that every plan of it, a prepared
// statement's generic one too, can prove payment_attempts_open_idx's predicate. Each open
// attempt's gift is a subquery the planner cannot turn into a join: as a join, a plan made
// during a backlog could hash every donation.
var sqlCloseAbandoned = `UPDATE payment_attempts a SET status = $2, error_code = 'abandoned',
		error_message = 'the worker stopped before the attempt finished', finished_at = now()
	WHERE a.status = '` + giveathon.AttemptStarted + `' AND a.started_at < $1
	  AND (SELECT d.settled_at IS NOT NULL FROM donations d WHERE d.id = a.donation_id LIMIT 1)`

// RecordProviderEvent records a provider event that moves nothing (a statement of its own)
// and reports whether it is new.
func (db *DB) RecordProviderEvent(ctx context.Context, e giveathon.ProviderEvent) (bool, error) {
	tag, err := db.Pool.Exec(ctx, `INSERT INTO webhook_events (provider_event_id, type, processed_at) VALUES ($1, $2, now())
		ON CONFLICT (provider_event_id) DO NOTHING`, e.ID, e.Type)
	if err != nil {
		return false, fmt.Errorf("record provider event %s: %w", e.ID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// FinishAttempt records how an attempt ended when the donation does not move (a retryable
// failure); an attempt that decides the donation ends in MoveDonation's statement.
func (db *DB) FinishAttempt(ctx context.Context, donationID string, a giveathon.AttemptEnd) error {
	_, err := db.Pool.Exec(ctx, `UPDATE payment_attempts SET status = $3, error_code = nullif($4, ''),
		error_message = nullif($5, ''), finished_at = now()
		WHERE donation_id = $1 AND attempt_no = $2`, donationID, a.No, a.Status, a.Code, a.Message)
	if err != nil {
		return fmt.Errorf("finish attempt %d on %s: %w", a.No, donationID, err)
	}
	return nil
}
