package db

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/giveathon/giveathon"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// MaxSettleBatch is how many claims, or moves, one batch statement makes at most.
const MaxSettleBatch = 128

// settleBatcher write-combines the workers' charge claims and finishes (DB.EnableSettleBatch):
// those that arrive while a batch is being written go together into the next statement.
type settleBatcher struct {
	// pool runs the batches: its sessions plan a batch's join of its list to the donations
	// as index lookups, whatever the tables' statistics say (see EnableSettleBatch).
	pool   *pgxpool.Pool
	moves  *combiner[*moveReq]
	claims *combiner[*claimReq]
	// batches counts the batch statements run.
	batches atomic.Int64
}

// batchPlanner is how the batch pool's sessions plan: no hash or merge join and no sequential
// scan while an index serves, so a batch's list (some dozens of donations) is joined to the
// tables by their keys. Left to costs, a generic plan made while the tables are small (the
// start of an event) joins them by hashing a sequential scan of every partition, and keeps
// doing so as they grow, until the next ANALYZE.
var batchPlanner = map[string]string{"enable_hashjoin": "off", "enable_mergejoin": "off", "enable_seqscan": "off"}

// EnableSettleBatch turns on write-combined charge claims and moves (SETTLE_BATCH), each kind
// with up to flushers batch statements at once, on a pool of twice that many connections of
// their own. Every claim joins a batch; of the moves, those without a provider event (a
// worker's finish, the reconciler's): a webhook's move takes the single path, as it must know
// whether its event is new. Call before the first claim or move; Close closes the pool.
func (db *DB) EnableSettleBatch(ctx context.Context, flushers int) error {
	cfg := db.Pool.Config()
	cfg.MaxConns, cfg.MinConns = int32(2*max1(flushers)), 0
	for k, v := range batchPlanner {
		cfg.ConnConfig.RuntimeParams[k] = v
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("open the settle batch pool: %w", err)
	}
	b := &settleBatcher{pool: pool}
	b.moves = newCombiner(flushers, MaxSettleBatch, func(batch []*moveReq) {
		ctx, cancel := context.WithTimeout(context.Background(), db.retryTimeout())
		defer cancel()
		if len(batch) == 1 {
			batch[0].batchErr = db.moveOne(ctx, batch[0])
			return
		}
		b.batches.Add(1)
		err := b.moveMany(ctx, batch)
		for _, r := range batch {
			r.batchErr = err
		}
	})
	b.claims = newCombiner(flushers, MaxSettleBatch, func(batch []*claimReq) {
		ctx, cancel := context.WithTimeout(context.Background(), db.retryTimeout())
		defer cancel()
		if len(batch) == 1 {
			r := batch[0]
			if r.c, r.batchErr = db.claimOnce(ctx, db.Pool, r.userID, r.donationID, r.keyPrefix); errors.Is(r.batchErr, pgx.ErrNoRows) {
				r.c, r.batchErr = nil, nil
			}
			return
		}
		b.batches.Add(1)
		b.claimMany(ctx, batch)
	})
	db.settle = b
	return nil
}

// claimReq is one claim in a batch.
type claimReq struct {
	pending
	userID, donationID, keyPrefix string
	// What the batch answered: the claim, or nil when there is no such donation.
	c *giveathon.ChargeClaim
	// batchErr is the batch's error: the claim then runs again on its own.
	batchErr error
}

// errClaimedTwice sends the second claim of a donation in one batch to the single path: it
// must see the first one's attempt, as a claim made after it would.
var errClaimedTwice = errors.New("the donation is claimed twice in one batch")

// claimMany makes the claims in one statement, in (donor, donation) order, and records each
// one's answer; a claim of a donation already in the batch, and every claim of a batch that
// fails, get an error instead, and run on their own.
func (b *settleBatcher) claimMany(ctx context.Context, batch []*claimReq) {
	reqs := make([]*claimReq, 0, len(batch))
	seen := make(map[string]bool, len(batch))
	for _, r := range batch {
		r.c, r.batchErr = nil, nil
		if seen[r.donationID] {
			r.batchErr = errClaimedTwice
			continue
		}
		seen[r.donationID] = true
		reqs = append(reqs, r)
	}
	slices.SortFunc(reqs, func(a, b *claimReq) int {
		return cmp.Or(strings.Compare(a.userID, b.userID), strings.Compare(a.donationID, b.donationID))
	})
	users, ids, keys := make([]string, len(reqs)), make([]string, len(reqs)), make([]string, len(reqs))
	for i, r := range reqs {
		users[i], ids[i], keys[i] = r.userID, r.donationID, r.keyPrefix
	}
	err := func() error {
		rows, err := b.pool.Query(ctx, sqlClaimCharges, users, ids, keys, string(giveathon.StatusProcessing), claimFrom(), giveathon.AttemptStarted)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			c := &giveathon.ChargeClaim{}
			var i int64
			c.Donation, err = scanDonation(rows, &c.ProviderCustomerID, &c.ProviderPaymentMethodID, &c.DonorEmail, &c.DonorName,
				&c.Moved, &c.AttemptNo, &c.RequestKey, &i)
			if err != nil {
				return err
			}
			if i < 1 || i > int64(len(reqs)) || reqs[i-1].c != nil {
				return errors.New("claim charges: the statement answered for a claim it was not given")
			}
			reqs[i-1].c = c
		}
		return rows.Err()
	}()
	if err != nil {
		for _, r := range reqs {
			r.c, r.batchErr = nil, err
		}
	}
}

// moveReq is one move, on its own or in a batch.
type moveReq struct {
	pending
	m      giveathon.Move
	userID string
	rule   giveathon.StateRule
	// What the statement answered: the donation as moved, if it moved.
	d     *giveathon.Donation
	moved bool
	// batchErr is the batch's error: the move then runs again on its own.
	batchErr error
}

// MoveDonation applies a move as ONE statement: a conditional UPDATE (only from a state the
// state table lets move into m.To, so of two writers racing only one wins), and with it what
// the table says reaching m.To writes (settled_at, the event's totals, the outbox row of its
// e-mail, the partner's event), the end of the payment attempt, and the provider event (the
// move is made only if the event is new). No status is written here as a literal: each comes
// from the state table. It returns the donation as it is now and whether this call moved it.
//
// With write-combined moves on (EnableSettleBatch), a move without an event joins a batch: the
// same statement for many moves. A batch that fails (a conflict, a lost connection, one bad
// row) leaves each of its moves to run again on its own, retried as every statement is.
func (db *DB) MoveDonation(ctx context.Context, m giveathon.Move) (*giveathon.Donation, bool, error) {
	rule, ok := giveathon.States[m.To]
	if !ok {
		return nil, false, fmt.Errorf("move donation %s: %s is not a state a donation moves to", m.DonationID, m.To)
	}
	userID, err := db.donorOf(ctx, m.UserID, m.DonationID)
	if err != nil {
		return nil, false, err
	}
	r := &moveReq{m: m, userID: userID, rule: rule}
	batched := false
	if db.settle != nil && m.Event == nil {
		if err := db.settle.moves.do(ctx, r); err != nil {
			return nil, false, err
		}
		batched = r.batchErr == nil
	}
	if !batched {
		if err := db.Retry(ctx, func(ctx context.Context) error { return db.moveOne(ctx, r) }); err != nil {
			return nil, false, fmt.Errorf("move donation %s to %s: %w", m.DonationID, m.To, err)
		}
	}
	if r.moved {
		return r.d, true, nil
	}
	d, err := db.FindDonation(ctx, userID, m.DonationID)
	return d, false, err
}

// moveOne makes one move in one statement and records whether it moved.
func (db *DB) moveOne(ctx context.Context, r *moveReq) error {
	m, rule := r.m, r.rule
	var event, eventType, attemptStatus, attemptCode, attemptMessage string
	attemptNo := 0
	if m.Event != nil {
		event, eventType = m.Event.ID, m.Event.Type
	}
	if a := m.Attempt; a != nil {
		attemptNo, attemptStatus, attemptCode, attemptMessage = a.No, a.Status, a.Code, a.Message
	}
	rows, err := db.Pool.Query(ctx, sqlMoveDonation, m.DonationID, string(m.To), m.FailureCode, m.FailureMessage, m.PaymentIntentID,
		statusStrings(rule.From), rule.RecordsFailure, rule.Settles, int64(rule.Totals), event, eventType,
		attemptNo, attemptStatus, attemptCode, attemptMessage, rule.Email, r.userID, rule.PartnerEvent)
	if err != nil {
		return err
	}
	return scanMoved(rows, []*moveReq{r})
}

// moveMany makes the moves (none with an event) in one statement, in (donor, donation) order,
// and records on each whether it moved.
func (b *settleBatcher) moveMany(ctx context.Context, reqs []*moveReq) error {
	reqs = slices.Clone(reqs)
	slices.SortFunc(reqs, func(a, b *moveReq) int {
		return cmp.Or(strings.Compare(a.userID, b.userID), strings.Compare(a.m.DonationID, b.m.DonationID))
	})
	n := len(reqs)
	ids, users, to, fcodes, fmsgs, pis, froms := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	recordsFailure, settles, totals, attemptNos := make([]bool, n), make([]bool, n), make([]int64, n), make([]int64, n)
	attemptStatuses, attemptCodes, attemptMessages, emails, partnerEvents := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, r := range reqs {
		m, rule := r.m, r.rule
		ids[i], users[i], to[i], fcodes[i], fmsgs[i], pis[i] = m.DonationID, r.userID, string(m.To), m.FailureCode, m.FailureMessage, m.PaymentIntentID
		froms[i] = strings.Join(statusStrings(rule.From), ",")
		recordsFailure[i], settles[i], totals[i] = rule.RecordsFailure, rule.Settles, int64(rule.Totals)
		if a := m.Attempt; a != nil {
			attemptNos[i], attemptStatuses[i], attemptCodes[i], attemptMessages[i] = int64(a.No), a.Status, a.Code, a.Message
		}
		emails[i], partnerEvents[i] = rule.Email, rule.PartnerEvent
	}
	rows, err := b.pool.Query(ctx, sqlMoveDonations, ids, users, to, fcodes, fmsgs, pis, froms, recordsFailure, settles, totals,
		attemptNos, attemptStatuses, attemptCodes, attemptMessages, emails, partnerEvents)
	if err != nil {
		return err
	}
	return scanMoved(rows, reqs)
}

// scanMoved reads the moved donations a move statement answers, each by its ordinal in reqs.
func scanMoved(rows pgx.Rows, reqs []*moveReq) error {
	defer rows.Close()
	for _, r := range reqs {
		r.d, r.moved = nil, false
	}
	for rows.Next() {
		var i int64
		d, err := scanDonation(rows, &i)
		if err != nil {
			return err
		}
		if i < 1 || i > int64(len(reqs)) {
			return errors.New("move donations: the statement answered for a move it was not given")
		}
		reqs[i-1].d, reqs[i-1].moved = d, true
	}
	return rows.Err()
}

// sqlMoveDonation is MoveDonation's one statement for one move: the donation named by the
// donor and its id, so that a generic plan prunes to the donor's partition as it starts.
var sqlMoveDonation = `WITH ev AS (
		INSERT INTO webhook_events (provider_event_id, type, processed_at)
		SELECT $10, $11, now() WHERE $10 <> ''
		ON CONFLICT (provider_event_id) DO NOTHING RETURNING 1),
	attempt AS (
		UPDATE payment_attempts SET status = $13, error_code = nullif($14, ''),
			error_message = nullif($15, ''), finished_at = now()
		WHERE $12 > 0 AND donation_id = $1 AND attempt_no = $12 RETURNING 1),
	moved AS (
		UPDATE donations SET status = $2,
			failure_code = CASE WHEN $7 THEN nullif($3, '') ELSE failure_code END,
			failure_message = CASE WHEN $7 THEN nullif($4, '') ELSE failure_message END,
			payment_intent_id = coalesce(payment_intent_id, nullif($5, '')),
			updated_at = now(),
			settled_at = CASE WHEN $8 THEN now() ELSE settled_at END
		WHERE user_id = $17 AND id = $1 AND status = ANY($6::text[]) AND ($10 = '' OR EXISTS (SELECT 1 FROM ev))
		RETURNING ` + donationColumns + `, $9::int8 AS tot, $16::text AS em, $18::text AS pe, 1::int8 AS i),
	` + sqlMoveConsequences

// sqlMoveDonations is the same statement for a batch of moves without events, each given by
// its ordinal in the arrays, its from-states comma-joined. It runs on the batch pool only,
// whose sessions plan the join of the list to the donations as index lookups (EnableSettleBatch).
var sqlMoveDonations = `WITH r AS (
		SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bool[],
			$9::bool[], $10::int8[], $11::int8[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[])
			WITH ORDINALITY AS r(id, u, st, fc, fm, pi, fr, rf, se, tot, ano, ast, acode, amsg, em, pe, i)),
	attempt AS (
		UPDATE payment_attempts a SET status = r.ast, error_code = nullif(r.acode, ''),
			error_message = nullif(r.amsg, ''), finished_at = now()
		FROM r WHERE r.ano > 0 AND a.donation_id = r.id AND a.attempt_no = r.ano RETURNING 1),
	moved AS (
		UPDATE donations d SET status = r.st,
			failure_code = CASE WHEN r.rf THEN nullif(r.fc, '') ELSE d.failure_code END,
			failure_message = CASE WHEN r.rf THEN nullif(r.fm, '') ELSE d.failure_message END,
			payment_intent_id = coalesce(d.payment_intent_id, nullif(r.pi, '')),
			updated_at = now(),
			settled_at = CASE WHEN r.se THEN now() ELSE d.settled_at END
		FROM r
		WHERE d.user_id = r.u AND d.id = r.id AND d.status = ANY(string_to_array(r.fr, ','))
		RETURNING ` + donationColumnsOf("d.") + `, r.tot, r.em, r.pe, r.i),
	` + sqlMoveConsequences

// sqlClaimCharges is sqlClaimCharge for a batch of claims, of distinct donations, each given
// by its ordinal in the arrays. It runs on the batch pool only (EnableSettleBatch).
var sqlClaimCharges = `WITH r AS (
		SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[]) WITH ORDINALITY AS r(u, id, k, i)),
	moved AS (
		UPDATE donations d SET status = $4, updated_at = now()
		FROM r WHERE d.user_id = r.u AND d.id = r.id AND d.status = ANY($5::text[])
		RETURNING d.*, r.i),
	cur AS (
		SELECT * FROM moved
		UNION ALL
		SELECT d.*, r.i FROM r JOIN donations d ON d.user_id = r.u AND d.id = r.id
		WHERE NOT EXISTS (SELECT 1 FROM moved m WHERE m.i = r.i)),
	attempt AS (
		INSERT INTO payment_attempts (donation_id, attempt_no, provider_request_key, status)
		SELECT c.id, next.n, r.k || next.n, $6
		FROM cur c JOIN r ON r.i = c.i
			CROSS JOIN LATERAL (SELECT coalesce(max(a.attempt_no), 0) + 1 AS n FROM payment_attempts a WHERE a.donation_id = c.id) AS next
		WHERE c.status = $4
		ORDER BY c.id
		RETURNING donation_id, attempt_no, provider_request_key)
	SELECT ` + donationColumnsOf("d.") + `,
		pm.provider_customer_id, pm.provider_payment_method_id, u.email, u.name,
		EXISTS (SELECT 1 FROM moved m WHERE m.i = d.i), coalesce(a.attempt_no, 0), coalesce(a.provider_request_key, ''), d.i
	FROM cur d JOIN payment_methods pm ON pm.user_id = d.user_id AND pm.id = d.payment_method_id
		JOIN users u ON u.id = d.user_id
		LEFT JOIN attempt a ON a.donation_id = d.id`

// sqlMoveConsequences is what the moves in CTE moved write, each as its state's rule says
// (moved's tot, em and pe: the totals' change, the e-mail, the partner's event), and then the
// moved donations, each with its ordinal i. The totals take one row of each charity's per
// statement, in charity order, after every donation is locked: no two statements wait on each
// other's shards.
var sqlMoveConsequences = `counted AS (
		INSERT INTO event_totals (charity_id, shard, total_cents, donation_count)
		SELECT charity_id::uuid, floor(random() * 64)::int, sum(tot * amount_cents)::int8, sum(tot)::int8
		FROM moved WHERE tot <> 0 GROUP BY charity_id ORDER BY charity_id
		ON CONFLICT (charity_id, shard) DO UPDATE SET
			total_cents = event_totals.total_cents + excluded.total_cents,
			donation_count = event_totals.donation_count + excluded.donation_count),
	mailed AS (
		INSERT INTO notifications (user_id, donation_id, kind, channel, status)
		SELECT user_id::uuid, id::uuid, em, 'email', 'pending' FROM moved WHERE em <> ''
		ON CONFLICT (donation_id, kind) DO NOTHING),
	partnered AS (
		INSERT INTO partner_events (partner_id, donation_id, type, data)
		SELECT m.partner_id::uuid, m.id::uuid, m.pe, ` + sqlPartnerEventData("m", "c") + `
		FROM moved m JOIN charities c ON c.id = m.charity_id::uuid
		WHERE m.pe <> '' AND m.partner_id <> ''
		ON CONFLICT (donation_id, type) WHERE donation_id IS NOT NULL DO NOTHING)
	SELECT id, user_id, charity_id, amount_cents, currency, status, idempotency_key, request_hash, payment_method_id,
		payment_intent_id, failure_code, failure_message, message, anonymous, created_at, updated_at, settled_at,
		partner_id, partner_reference, i FROM moved`
