package db

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// ChargeRef names a donation whose charge is to be queued.
type ChargeRef struct{ UserID, DonationID string }

// ManyEnqueuer queues the charges of donations recorded in tx, in one statement.
type ManyEnqueuer func(ctx context.Context, tx pgx.Tx, refs []ChargeRef) error

// MaxSubmitBatch is how many submits one batch transaction writes at most.
const MaxSubmitBatch = 128

// submitBatcher write-combines submits (DB.EnableSubmitBatch) through a combiner: the submits
// that arrive while the flushers write make the next batches, each written in one transaction.
type submitBatcher struct {
	db   *DB
	comb *combiner[*submitReq]
	// batches counts the batch transactions begun (a split batch's halves each count).
	batches atomic.Int64
}

// submitReq is one submit waiting for its batch.
type submitReq struct {
	pending
	userID string
	in     giveathon.SubmitDonationInput
	hash   string
	decide giveathon.SubmitDecider
	res    *giveathon.SubmitResult
	err    error
}

// EnableSubmitBatch turns on write-combined submits with up to flushers batches written at
// once (SUBMIT_BATCH). A gift naming a charity, card or partner that is no id still takes the
// single path. Call before the first submit.
func (db *DB) EnableSubmitBatch(flushers int) {
	b := &submitBatcher{db: db}
	b.comb = newCombiner(flushers, MaxSubmitBatch, b.write)
	db.batch = b
}

// batchable reports whether a submit may join a batch: every id an id (an id that is none
// fails the single path's statement alone, as it always did).
func batchable(userID string, in giveathon.SubmitDonationInput) bool {
	ids := []string{userID, in.CharityID, in.PaymentMethodID}
	if in.Partner != nil {
		ids = append(ids, in.Partner.PartnerID)
	}
	for _, id := range ids {
		if !giveathon.IsUUID(id) {
			return false
		}
	}
	return true
}

// submit queues a submit and waits for its batch's answer. A submit whose caller left before
// a flusher took it is not written.
func (b *submitBatcher) submit(ctx context.Context, userID string, in giveathon.SubmitDonationInput, hash string, decide giveathon.SubmitDecider) (*giveathon.SubmitResult, error) {
	// The donor's and partner's ids as the database spells them: the batch matches the rows it
	// inserted back to their submits by their keys (submitReq.key).
	if in.Partner != nil {
		p := *in.Partner
		p.PartnerID = uuid.MustParse(p.PartnerID).String()
		in.Partner = &p
	}
	r := &submitReq{userID: uuid.MustParse(userID).String(), in: in, hash: hash, decide: decide}
	// A caller that leaves first: the batch may still commit the gift; as after a lost COMMIT,
	// the donor is told to try again, and the same key then finds it.
	if err := b.comb.do(ctx, r); err != nil {
		return nil, err
	}
	return r.res, r.err
}

// write writes a batch and sets its submits' answers. A batch that fails with an error that is no
// conflict and no lost connection (those InTxAt has already tried again) is split in halves,
// each written on its own, so one bad row fails alone.
func (b *submitBatcher) write(batch []*submitReq) {
	ctx, cancel := context.WithTimeout(context.Background(), b.db.retryTimeout())
	defer cancel()
	b.batches.Add(1)
	err := b.db.submitBatch(ctx, batch)
	// A partner's key taken by another transaction since the batch read its facts (another of
	// the partner's donors, so no donation's key conflicts): written again, the batch reads
	// that gift, as the single path does.
	for try := 0; try < 3 && isUniqueViolation(err, "partner_gifts_pkey"); try++ {
		b.batches.Add(1)
		err = b.db.submitBatch(ctx, batch)
	}
	if err != nil && len(batch) > 1 && giveathon.ErrorCode(err) == giveathon.EINTERNAL && !IsConflict(err) && !IsConnectionLoss(err) && ctx.Err() == nil {
		half := len(batch) / 2
		b.write(batch[:half])
		b.write(batch[half:])
		return
	}
	var fenceErr error
	if err == nil {
		users := make([]string, len(batch))
		for i, r := range batch {
			users[i] = r.userID
		}
		fenceErr = b.db.recordWrite(ctx, users...)
	}
	for _, r := range batch {
		switch {
		case err != nil:
			r.res, r.err = nil, err
			if giveathon.ErrorCode(err) == giveathon.EINTERNAL {
				r.err = fmt.Errorf("submit donation: %w", err)
			}
		case r.err == nil && fenceErr != nil:
			r.res, r.err = nil, fenceErr
		}
	}
}

// submitKey and giftKey name a submit's idempotency key and its duplicate-window group. A
// partner's key is the partner's, whichever of its donors gives (user is then "partner " and
// the partner's id).
type submitKey struct{ user, key string }

// keyOf is the idempotency key of a gift by the donor, through the partner ("" for none).
func keyOf(donor, partner, key string) submitKey {
	if partner != "" {
		return submitKey{"partner " + partner, key}
	}
	return submitKey{donor, key}
}

// key is the submit's idempotency key.
func (r *submitReq) key() submitKey {
	var partner string
	if p := r.in.Partner; p != nil {
		partner = p.PartnerID
	}
	return keyOf(r.userID, partner, r.in.IdempotencyKey)
}

type giftKey struct {
	user, charity string
	amount        int64
}

// submitBatch writes a batch in one transaction at READ COMMITTED (see docs/design-notes.md,
// "Write-combined submits"): it locks the donors' rows in id order, then in rounds reads every
// pending submit's facts in one statement, lets each submit's decide rule, inserts the new
// gifts in one statement (ON CONFLICT DO NOTHING), and finally queues their charges in one
// statement. A round takes at most one submit per (donor, key) and per (donor, charity,
// amount): a later one waits for the next round, which reads the earlier one's row as a
// serial run would (the same key: its donation or CONFLICT; an equal gift: confirm first).
func (db *DB) submitBatch(ctx context.Context, batch []*submitReq) error {
	return db.InTxAt(ctx, pgx.ReadCommitted, func(tx pgx.Tx) error {
		for _, r := range batch {
			r.res, r.err = nil, nil
		}
		users := make([]string, 0, len(batch))
		for _, r := range batch {
			users = append(users, r.userID)
		}
		if _, err := tx.Exec(ctx, sqlLockDonors, users); err != nil {
			return fmt.Errorf("lock donors: %w", err)
		}
		decided := map[submitKey]*giveathon.Donation{}
		var created []*giveathon.Donation
		pending := batch
		for round := 0; len(pending) > 0; round++ {
			if round > len(batch)+3 {
				return fmt.Errorf("submit batch: %d submits still pending after %d rounds", len(pending), round)
			}
			var now, later []*submitReq
			keys, gifts := map[submitKey]bool{}, map[giftKey]bool{}
			for _, r := range pending {
				k := r.key()
				if d := decided[k]; d != nil {
					r.res, _, r.err = r.decide(giveathon.SubmitFacts{Existing: d})
					continue
				}
				g := giftKey{r.userID, r.in.CharityID, r.in.AmountCents}
				if keys[k] || gifts[g] {
					later = append(later, r)
					continue
				}
				keys[k], gifts[g] = true, true
				now = append(now, r)
			}
			if len(now) == 0 {
				pending = later
				continue
			}
			inserts, err := db.decideBatch(ctx, tx, now)
			if err != nil {
				return err
			}
			rows, err := db.insertBatch(ctx, tx, inserts)
			if err != nil {
				return err
			}
			for _, r := range inserts {
				k := r.key()
				if d := rows[k]; d != nil {
					r.res = &giveathon.SubmitResult{Donation: d, Created: true}
					decided[k] = d
					created = append(created, d)
				} else {
					// Another transaction took the key first: the next round reads its row.
					later = append(later, r)
				}
			}
			for _, r := range now {
				if r.res != nil && r.res.Donation != nil {
					decided[r.key()] = r.res.Donation
				}
			}
			pending = later
		}
		if len(created) == 0 || db.EnqueueTx == nil {
			return nil
		}
		refs := make([]ChargeRef, len(created))
		for i, d := range created {
			refs[i] = ChargeRef{UserID: d.UserID, DonationID: d.ID}
		}
		if err := db.EnqueueTx(ctx, tx, refs); err != nil {
			return fmt.Errorf("queue charges: %w", err)
		}
		for _, r := range batch {
			if r.res != nil && r.res.Created {
				r.res.Queued = true
			}
		}
		return nil
	})
}

// sqlLockDonors locks the donors' rows in id order (no deadlock between batches, nor with the
// single path, which locks one): a donor's submits queue behind each other, so the duplicate
// window read after the lock sees every equal gift committed before it. NO KEY UPDATE leaves
// the foreign-key checks of other inserts (KEY SHARE) unblocked.
const sqlLockDonors = `SELECT id FROM users WHERE id = ANY($1::uuid[]) ORDER BY id FOR NO KEY UPDATE`

// sqlSubmitFactsBatch is sqlSubmitFacts for many submits at once, each answered by its
// ordinal.
var sqlSubmitFactsBatch = `SELECT r.i, ` + sqlGiftUnderKey("r.u", "r.k", "r.pa") + `,
	` + sqlNewGiftFacts("r.u", "r.c", "r.p", "r.a", "r.cf", "$7", "$8") + `
	FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::uuid[], $5::int8[], $6::bool[], $9::timestamptz[], $10::uuid[])
		WITH ORDINALITY AS r(u, k, c, p, a, cf, since, pa, i)
		CROSS JOIN LATERAL ` + sqlDeclinedCardsAsDC("r.u", "r.since")

// sqlDonationsByKey reads donations by (donor, id) pairs.
var sqlDonationsByKey = `SELECT ` + donationColumnsOf("d.") + ` FROM donations d
	JOIN unnest($1::uuid[], $2::uuid[]) AS r(u, i) ON d.user_id = r.u AND d.id = r.i`

// decideBatch reads the facts of the submits in one statement (and the donations they name in
// one more, when any), lets each decide, and returns those to insert; the others have their
// answer.
func (db *DB) decideBatch(ctx context.Context, tx pgx.Tx, reqs []*submitReq) ([]*submitReq, error) {
	n := len(reqs)
	us, ks, cs, ps := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	as, cfs, since, pas := make([]int64, n), make([]bool, n), make([]*time.Time, n), make([]*string, n)
	for i, r := range reqs {
		us[i], ks[i], cs[i], ps[i] = r.userID, r.in.IdempotencyKey, r.in.CharityID, r.in.PaymentMethodID
		as[i], cfs[i], since[i] = r.in.AmountCents, r.in.ConfirmDuplicate, nullTime(r.in.DeclinedCardsSince)
		if p := r.in.Partner; p != nil {
			pas[i] = &p.PartnerID
		}
	}
	rows, err := tx.Query(ctx, sqlSubmitFactsBatch, us, ks, cs, ps, as, cfs, string(giveathon.StatusFailed), time.Now().Add(-giveathon.DuplicateWindow), since, pas)
	if err != nil {
		return nil, fmt.Errorf("read submit facts: %w", err)
	}
	facts := make([]giveathon.SubmitFacts, n)
	existing, dup := make([]*string, n), make([]*string, n)
	var wantU, wantID []string
	for rows.Next() {
		var i int
		var f giveathon.SubmitFacts
		var e, d *string
		if err := rows.Scan(&i, &e, &f.CharityActive, &f.CardRemoved, &d, &f.DeclinedCards, &f.CardSucceeded); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read submit facts: %w", err)
		}
		if e != nil {
			owner, id := splitGiftUnderKey(*e)
			e = &id
			wantU, wantID = append(wantU, owner), append(wantID, id)
		}
		if d != nil {
			wantU, wantID = append(wantU, us[i-1]), append(wantID, *d)
		}
		facts[i-1], existing[i-1], dup[i-1] = f, e, d
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read submit facts: %w", err)
	}
	found := map[string]*giveathon.Donation{}
	if len(wantID) > 0 {
		rows, err := tx.Query(ctx, sqlDonationsByKey, wantU, wantID)
		if err != nil {
			return nil, fmt.Errorf("read donations: %w", err)
		}
		list, err := collectDonations(rows)
		if err != nil {
			return nil, fmt.Errorf("read donations: %w", err)
		}
		for _, d := range list {
			found[d.ID] = d
		}
	}
	var inserts []*submitReq
	for i, r := range reqs {
		f := facts[i]
		if existing[i] != nil {
			if f.Existing = found[*existing[i]]; f.Existing == nil {
				return nil, fmt.Errorf("read submit facts: donation %s vanished", *existing[i])
			}
		}
		if dup[i] != nil {
			if f.Duplicate = found[*dup[i]]; f.Duplicate == nil {
				return nil, fmt.Errorf("read submit facts: donation %s vanished", *dup[i])
			}
		}
		res, insert, err := r.decide(f)
		if insert && err == nil {
			inserts = append(inserts, r)
			continue
		}
		r.res, r.err = res, err
	}
	return inserts, nil
}

// sqlInsertBatch inserts new gifts in (donor, key) order, and a partner's key for each of a
// partner's gifts in the same statement (as sqlInsertDonation); a donor's key another
// transaction took first is skipped and comes back missing. A partner's key taken since its
// facts were read fails the statement (partner_gifts_pkey), and the batch is written again.
var sqlInsertBatch = `WITH d AS (
		INSERT INTO donations (user_id, charity_id, amount_cents, currency, status, idempotency_key, request_hash,
			payment_method_id, message, anonymous, partner_id, partner_reference)
		SELECT u, c, a, cur, $10, k, h, p, m, an, pa, pr
		FROM unnest($1::uuid[], $2::uuid[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::uuid[], $8::text[], $9::bool[],
			$11::uuid[], $12::text[]) AS r(u, c, a, cur, k, h, p, m, an, pa, pr)
		ORDER BY u, k
		ON CONFLICT DO NOTHING
		RETURNING *),
	gift AS (
		INSERT INTO partner_gifts (partner_id, idempotency_key, user_id, donation_id, request_hash)
		SELECT partner_id, idempotency_key, user_id, id, request_hash FROM d WHERE partner_id IS NOT NULL
		ORDER BY partner_id, idempotency_key)
	SELECT ` + donationColumnsOf("d.") + ` FROM d`

// insertBatch inserts the gifts and returns the rows written by (donor, key).
func (db *DB) insertBatch(ctx context.Context, tx pgx.Tx, reqs []*submitReq) (map[submitKey]*giveathon.Donation, error) {
	out := map[submitKey]*giveathon.Donation{}
	if len(reqs) == 0 {
		return out, nil
	}
	n := len(reqs)
	us, cs, curs, ks, hs, ps, ms := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	as, ans := make([]int64, n), make([]bool, n)
	pas, prs := make([]*string, n), make([]*string, n)
	for i, r := range reqs {
		us[i], cs[i], as[i], curs[i], ks[i], hs[i], ps[i], ms[i], ans[i] =
			r.userID, r.in.CharityID, r.in.AmountCents, r.in.Currency, r.in.IdempotencyKey, r.hash, r.in.PaymentMethodID, r.in.Message, r.in.Anonymous
		if p := r.in.Partner; p != nil {
			pas[i] = &p.PartnerID
			if p.Reference != "" {
				prs[i] = &p.Reference
			}
		}
	}
	rows, err := tx.Query(ctx, sqlInsertBatch, us, cs, as, curs, ks, hs, ps, ms, ans, string(giveathon.StatusPending), pas, prs)
	if err != nil {
		return nil, fmt.Errorf("insert donations: %w", err)
	}
	list, err := collectDonations(rows)
	if err != nil {
		return nil, fmt.Errorf("insert donations: %w", err)
	}
	for _, d := range list {
		out[keyOf(d.UserID, d.PartnerID, d.IdempotencyKey)] = d
	}
	return out, nil
}
