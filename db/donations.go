package db

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/jackc/pgx/v5"
)

// donationColumnsOf lists a donation's columns, each qualified with the table alias t ("d.").
func donationColumnsOf(t string) string {
	return t + `id::text, ` + t + `user_id::text, ` + t + `charity_id::text, ` + t + `amount_cents, ` + t + `currency, ` +
		t + `status, ` + t + `idempotency_key, ` + t + `request_hash, ` + t + `payment_method_id::text, coalesce(` +
		t + `payment_intent_id, '') AS payment_intent_id, coalesce(` + t + `failure_code, '') AS failure_code, coalesce(` +
		t + `failure_message, '') AS failure_message, ` +
		t + `message, ` + t + `anonymous, ` + t + `created_at, ` + t + `updated_at, ` + t + `settled_at, coalesce(` +
		t + `partner_id::text, '') AS partner_id, coalesce(` + t + `partner_reference, '') AS partner_reference`
}

var donationColumns = donationColumnsOf("")

// scanDonation scans donationColumns, then any extra columns into extra.
func scanDonation(row pgx.Row, extra ...any) (*giveathon.Donation, error) {
	var d giveathon.Donation
	err := row.Scan(append([]any{&d.ID, &d.UserID, &d.CharityID, &d.AmountCents, &d.Currency, &d.Status, &d.IdempotencyKey,
		&d.RequestHash, &d.PaymentMethodID, &d.PaymentIntentID, &d.FailureCode, &d.FailureMessage, &d.Message,
		&d.Anonymous, &d.CreatedAt, &d.UpdatedAt, &d.SettledAt, &d.PartnerID, &d.PartnerReference}, extra...)...)
	if err != nil {
		return nil, err
	}
	return &d, nil
}

func collectDonations(rows pgx.Rows) ([]*giveathon.Donation, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*giveathon.Donation, error) { return scanDonation(r) })
}

// SubmitDonation records a gift in one transaction: it reads the facts the gift is checked
// against in one round trip, lets decide rule on them, and inserts the donation (PENDING)
// when decide says so, queuing its charge in the same transaction when the jobs live in this
// database (db.EnqueueTx set; the answer says Queued).
//
// With write-combined submits on (EnableSubmitBatch), the gift joins a batch unless it names a
// charity, card or partner that is no id; either way the transaction locks the
// donor's row first and runs at READ COMMITTED (docs/design-notes.md, "Write-combined submits").
func (db *DB) SubmitDonation(ctx context.Context, userID string, in giveathon.SubmitDonationInput, hash string, decide giveathon.SubmitDecider) (*giveathon.SubmitResult, error) {
	if db.batch != nil && batchable(userID, in) {
		return db.batch.submit(ctx, userID, in, hash, decide)
	}
	for round := 0; ; round++ {
		res, err := db.submitOnce(ctx, userID, in, hash, decide)
		// Concurrent submits with one key race to insert: the loser's unique violation sends it
		// round again, to find the winner's row (a partner's key is the partner's).
		if (isUniqueViolation(err, "donations_user_idempotency_key") || isUniqueViolation(err, "partner_gifts_pkey")) && round < 3 {
			continue
		} else if err == nil {
			err = db.recordWrite(ctx, userID)
		}
		return res, err
	}
}

// sqlSubmitFacts reads, in one round trip, everything a new gift is checked against: a
// donation under its key, then sqlNewGiftFacts (the charity, the card, an equal gift in the
// duplicate window, and the donor's cards declined since $10 with whether this card ever
// succeeded).
//
// A partner's gift ($9 set) is found under the partner's key, whichever of its donors gave it.
var sqlSubmitFacts = `SELECT ` + sqlGiftUnderKey("$1", "$2", "$9::uuid") + `,
	` + sqlNewGiftFacts("$1", "$3", "$4", "$5", "$7", "$8", "$6") + `
	FROM ` + sqlDeclinedCardsAsDC("$1", "$10::timestamptz")

// sqlGiftUnderKey is the SQL for the gift already recorded under a submit's key, as
// "<donor> <donation>" (splitGiftUnderKey), or NULL: the donor's key, or, when partner (SQL
// expressions, like donor and key) is not NULL, the partner's, whichever of its donors gave.
func sqlGiftUnderKey(donor, key, partner string) string {
	return `CASE WHEN ` + partner + ` IS NULL THEN (SELECT user_id::text || ' ' || id::text FROM donations WHERE user_id = ` + donor + ` AND idempotency_key = ` + key + `)
		ELSE (SELECT user_id::text || ' ' || donation_id::text FROM partner_gifts WHERE partner_id = ` + partner + ` AND idempotency_key = ` + key + `) END`
}

// splitGiftUnderKey reads sqlGiftUnderKey's answer: the gift's donor (under a partner's key,
// maybe another of its donors) and its id.
func splitGiftUnderKey(s string) (donor, id string) {
	donor, id, _ = strings.Cut(s, " ")
	return donor, id
}

// sqlNewGiftFacts is the SQL for the columns of the facts a new gift is checked against,
// the same for one submit and a batch: whether the charity takes donations, whether the card
// was removed, an equal gift in the duplicate window (unless the donor confirmed one), and,
// from dc (sqlDeclinedCardsAsDC, in the FROM list), the donor's declined cards and whether
// this card ever succeeded. Its arguments are SQL expressions: the donor, the charity, the
// card, the amount, the donor's confirmation, the FAILED status and the window's start.
func sqlNewGiftFacts(donor, charity, card, amount, confirmed, failed, windowStart string) string {
	return `(SELECT active FROM charities WHERE id = ` + charity + `),
	(SELECT removed_at IS NOT NULL FROM payment_methods WHERE id = ` + card + ` AND user_id = ` + donor + `),
	(SELECT id::text FROM donations WHERE NOT ` + confirmed + ` AND user_id = ` + donor + ` AND charity_id = ` + charity + `
		AND amount_cents = ` + amount + ` AND status <> ` + failed + ` AND created_at > ` + windowStart + ` ORDER BY created_at DESC LIMIT 1),
	dc.n, CASE WHEN dc.n > 0 THEN ` + sqlCardSucceeded(donor, card) + ` ELSE false END`
}

// sqlDeclinedCardsAsDC is the FROM item dc of sqlNewGiftFacts: the donor's cards declined
// since then (sqlDeclinedCards), counted once.
func sqlDeclinedCardsAsDC(donor, since string) string {
	return `(SELECT ` + sqlDeclinedCards(donor, since) + ` AS n) AS dc`
}

func (db *DB) submitOnce(ctx context.Context, userID string, in giveathon.SubmitDonationInput, hash string, decide giveathon.SubmitDecider) (*giveathon.SubmitResult, error) {
	var res *giveathon.SubmitResult
	level := db.Isolation
	if db.batch != nil {
		// The batches run at READ COMMITTED, which SSI does not see: a single submit then
		// rests on the donor's lock too, taken before its facts are read.
		level = pgx.ReadCommitted
	}
	err := db.InTxAt(ctx, level, func(tx pgx.Tx) error {
		res = nil
		if db.batch != nil {
			if _, err := tx.Exec(ctx, sqlLockDonors, []string{userID}); err != nil {
				return fmt.Errorf("lock donor: %w", err)
			}
		}
		var existingKey, dupID *string
		var f giveathon.SubmitFacts
		var partnerID, reference any
		if p := in.Partner; p != nil {
			partnerID, reference = p.PartnerID, nullIfEmpty(p.Reference)
		}
		err := tx.QueryRow(ctx, sqlSubmitFacts,
			userID, in.IdempotencyKey, in.CharityID, in.PaymentMethodID, in.AmountCents,
			time.Now().Add(-giveathon.DuplicateWindow), in.ConfirmDuplicate, string(giveathon.StatusFailed), partnerID,
			nullTime(in.DeclinedCardsSince)).
			Scan(&existingKey, &f.CharityActive, &f.CardRemoved, &dupID, &f.DeclinedCards, &f.CardSucceeded)
		if err != nil {
			return err
		}
		if existingKey != nil {
			owner, id := splitGiftUnderKey(*existingKey)
			if f.Existing, err = scanDonation(tx.QueryRow(ctx, sqlFindDonation, owner, id)); err != nil {
				return err
			}
		}
		if dupID != nil {
			if f.Duplicate, err = scanDonation(tx.QueryRow(ctx, sqlFindDonation, userID, *dupID)); err != nil {
				return err
			}
		}
		answer, insert, err := decide(f)
		if err != nil || !insert {
			res = answer
			return err
		}
		d, err := scanDonation(tx.QueryRow(ctx, sqlInsertDonation,
			userID, in.CharityID, in.AmountCents, in.Currency, in.IdempotencyKey, hash, in.PaymentMethodID, in.Message, in.Anonymous,
			string(giveathon.StatusPending), partnerID, reference))
		if err != nil {
			return err
		}
		res = &giveathon.SubmitResult{Donation: d, Created: true}
		if db.EnqueueTx != nil {
			if err := db.EnqueueTx(ctx, tx, []ChargeRef{{UserID: d.UserID, DonationID: d.ID}}); err != nil {
				return fmt.Errorf("queue charge: %w", err)
			}
			res.Queued = true
		}
		return nil
	})
	if err != nil && giveathon.ErrorCode(err) == giveathon.EINTERNAL {
		return nil, fmt.Errorf("submit donation: %w", err)
	}
	return res, err
}

// sqlInsertDonation inserts a new gift and, for a partner's ($11 set), the partner's key for it
// in the same statement: the key is unique per partner (partner_gifts_pkey).
var sqlInsertDonation = `WITH d AS (
		INSERT INTO donations (user_id, charity_id, amount_cents, currency, status, idempotency_key, request_hash,
			payment_method_id, message, anonymous, partner_id, partner_reference)
		VALUES ($1, $2, $3, $4, $10, $5, $6, $7, $8, $9, $11, $12) RETURNING *),
	gift AS (
		INSERT INTO partner_gifts (partner_id, idempotency_key, user_id, donation_id, request_hash)
		SELECT partner_id, idempotency_key, user_id, id, request_hash FROM d WHERE partner_id IS NOT NULL)
	SELECT ` + donationColumnsOf("d.") + ` FROM d`

// nullIfEmpty turns "" into SQL NULL.
func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// FindDonationByID returns one of the user's donations, or ENOTFOUND (another donor's too:
// the donor's key leads the lookup).
func (db *DB) FindDonationByID(ctx context.Context, userID, id string) (*giveathon.Donation, error) {
	if userID == "" {
		return nil, giveathon.Errorf(giveathon.ENOTFOUND, "donation not found")
	}
	return db.findDonation(ctx, db.read(userID), userID, id)
}

// FindDonation returns a donor's donation (for workers: no owner check, on the primary), or
// ENOTFOUND. The donor's id names the partition; "" (a job queued before the partitioning)
// finds the donor first.
func (db *DB) FindDonation(ctx context.Context, userID, id string) (*giveathon.Donation, error) {
	return db.findDonation(ctx, db.Pool, userID, id)
}

// findDonation reads a donor's donation through q: the pool, or a routed reader.
func (db *DB) findDonation(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, userID, id string) (*giveathon.Donation, error) {
	userID, err := db.donorOf(ctx, userID, id)
	if err != nil {
		return nil, err
	}
	d, err := scanDonation(q.QueryRow(ctx, sqlFindDonation, userID, id))
	return d, oneRow(err, "donation", "find donation")
}

// sqlFindDonation reads one donation by its key (donor, id).
var sqlFindDonation = `SELECT ` + donationColumns + ` FROM donations WHERE user_id = $1 AND id = $2`

// donorOf returns userID, or when it is "" the donor of donation id, looked up by the id
// alone (each partition's index); ENOTFOUND for an id that is no donation.
func (db *DB) donorOf(ctx context.Context, userID, id string) (string, error) {
	if !giveathon.IsUUID(id) {
		return "", giveathon.Errorf(giveathon.ENOTFOUND, "donation not found")
	}
	if userID != "" {
		if !giveathon.IsUUID(userID) {
			return "", giveathon.Errorf(giveathon.ENOTFOUND, "donation not found")
		}
		return userID, nil
	}
	err := db.Pool.QueryRow(ctx, `SELECT user_id::text FROM donations WHERE id = $1`, id).Scan(&userID)
	return userID, oneRow(err, "donation", "find the donor of donation "+id)
}

// FindDonations returns a page of a donor's donations, newest first, by (created_at, id), so
// donations made while a donor pages through appear before the first page and never shift
// the pages after it.
func (db *DB) FindDonations(ctx context.Context, f giveathon.DonationFilter) ([]*giveathon.Donation, []string, int, error) {
	page, err := f.Page.Validate()
	if err != nil {
		return nil, nil, 0, err
	}
	var status any
	if f.Status != nil {
		status = string(*f.Status)
	}
	after, err := pageAfter(page.After)
	if err != nil {
		return nil, nil, 0, err
	}
	var list []*giveathon.Donation
	var total int
	err = db.readTx(ctx, f.UserID, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, sqlHistoryCount, f.UserID, status).Scan(&total); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, sqlHistory, f.UserID, status, after.CreatedAt, after.ID, page.First+1)
		if err != nil {
			return err
		}
		list, err = collectDonations(rows)
		return err
	})
	if err != nil {
		return nil, nil, 0, fmt.Errorf("find donations: %w", err)
	}
	cursors := make([]string, len(list))
	for i, d := range list {
		cursors[i] = keysetCursor(d.CreatedAt, d.ID)
	}
	return list, cursors, total, nil
}

// A donor's history: the count, and a page (pageAfter).
const sqlHistoryCount = `SELECT count(*) FROM donations WHERE user_id = $1 AND ($2::text IS NULL OR status = $2)`

var sqlHistory = `SELECT ` + donationColumns + ` FROM donations
	WHERE user_id = $1 AND ($2::text IS NULL OR status = $2) AND (created_at, id) < ($3, $4::uuid)
	ORDER BY created_at DESC, id DESC LIMIT $5`

const sqlPaymentAttempts = `SELECT id::text, donation_id::text, attempt_no, provider_request_key, status,
	coalesce(error_code, ''), coalesce(error_message, ''), started_at, finished_at
	FROM payment_attempts WHERE donation_id = $1 ORDER BY attempt_no`

// FindPaymentAttempts returns a donation's attempts in order.
func (db *DB) FindPaymentAttempts(ctx context.Context, donationID string) ([]*giveathon.PaymentAttempt, error) {
	rows, err := db.Pool.Query(ctx, sqlPaymentAttempts, donationID)
	if err != nil {
		return nil, fmt.Errorf("find payment attempts: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*giveathon.PaymentAttempt, error) {
		var a giveathon.PaymentAttempt
		err := r.Scan(&a.ID, &a.DonationID, &a.AttemptNo, &a.ProviderRequestKey, &a.Status, &a.ErrorCode, &a.ErrorMessage, &a.StartedAt, &a.FinishedAt)
		return &a, err
	})
	if err != nil {
		return nil, fmt.Errorf("find payment attempts: %w", err)
	}
	return list, nil
}
