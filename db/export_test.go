package db

import (
	"time"

	"github.com/giveathon/giveathon"
)

// Keys are the ids a hot statement is called with in a test.
type Keys struct{ UserID, DonationID, PaymentMethodID, CharityID string }

// HotStatement is a statement on the money path or a donor's page, with the arguments its
// caller passes, for the partition test.
type HotStatement struct {
	Name string
	SQL  string
	Args func(k Keys) []any
}

// HotStatements lists the statements that must each touch one partition of every partitioned
// table they read or write.
var HotStatements = []HotStatement{
	{"submit: the facts of a new gift", sqlSubmitFacts, func(k Keys) []any {
		return []any{k.UserID, "key-1", k.CharityID, k.PaymentMethodID, int64(2500), time.Now(), false, string(giveathon.StatusFailed), nil, time.Now().Add(-time.Hour)}
	}},
	{"submit: the facts of a partner's gift", sqlSubmitFacts, func(k Keys) []any {
		return []any{k.UserID, "key-1", k.CharityID, k.PaymentMethodID, int64(2500), time.Now(), false, string(giveathon.StatusFailed), k.CharityID, nil}
	}},
	{"donation by id", sqlFindDonation, func(k Keys) []any { return []any{k.UserID, k.DonationID} }},
	{"history: count", sqlHistoryCount, func(k Keys) []any { return []any{k.UserID, nil} }},
	{"history: a page", sqlHistory, func(k Keys) []any { return []any{k.UserID, nil, time.Now(), k.DonationID, 21} }},
	{"charge: context", sqlChargeContext, func(k Keys) []any { return []any{k.UserID, k.DonationID} }},
	{"charge: claim (the move to PROCESSING, the attempt, the context)", sqlClaimCharge, func(k Keys) []any {
		return []any{k.UserID, k.DonationID, string(giveathon.StatusProcessing), []string{string(giveathon.StatusPending)}, "donation-x-a",
			giveathon.AttemptStarted}
	}},
	{"charge: record the PaymentIntent", sqlSetPaymentIntent, func(k Keys) []any { return []any{k.DonationID, "pi_1", k.UserID} }},
	{"move (charge, webhook, reconciler, refresh)", sqlMoveDonation, func(k Keys) []any {
		return []any{k.DonationID, string(giveathon.StatusSucceeded), "", "", "pi_1", []string{string(giveathon.StatusProcessing)},
			false, true, int64(1), "evt_1", "payment_intent.succeeded", 1, giveathon.AttemptSucceeded, "", "", giveathon.EmailReceipt, k.UserID,
			giveathon.EventDonationSucceeded}
	}},
	{"attempts of a donation", sqlPaymentAttempts, func(k Keys) []any { return []any{k.DonationID} }},
	{"export: cards", sqlExportCards, func(k Keys) []any { return []any{k.UserID} }},
	{"export: donations", sqlExportDonations, func(k Keys) []any { return []any{k.UserID} }},
	{"deletion: what is unfinished", sqlCountUnfinished, func(k Keys) []any {
		return []any{k.UserID, giveathon.Undecided, []string{NotificationPending, NotificationSending}}
	}},
	{"deletion: cards", sqlEraseCards, func(k Keys) []any { return []any{k.UserID} }},
	{"deletion: donations", sqlEraseDonations, func(k Keys) []any { return []any{k.UserID} }},
}

// PageStatement is a statement of a list paged newest first by (created_at, id), with the
// arguments of a page after a cursor (pageAfter) and the column, besides created_at, that its
// index scan must be bounded by ("": none).
type PageStatement struct {
	HotStatement
	Column string
}

// PageStatements lists the pages: each must start its index scan at the cursor, not read the
// list from its start.
var PageStatements = []PageStatement{
	{HotStatement{"a donor's history", sqlHistory, func(k Keys) []any { return []any{k.UserID, nil, time.Now(), k.DonationID, 21} }}, "user_id"},
	{HotStatement{"the audit log", sqlAuditPage, func(k Keys) []any { return []any{time.Now(), k.DonationID, 21} }}, ""},
	{HotStatement{"the partners", sqlPartnersPage, func(k Keys) []any { return []any{time.Now(), k.DonationID, 21} }}, ""},
	{HotStatement{"a partner's gifts", sqlPartnerGiftsPage, func(k Keys) []any { return []any{k.UserID, time.Now(), k.DonationID, nil, 21} }}, "partner_id"},
	{HotStatement{"a partner's gifts with a reference", sqlPartnerGiftsByReference, func(k Keys) []any {
		return []any{k.UserID, time.Now(), k.DonationID, nil, 21, "order-1"}
	}}, "partner_reference"},
	{HotStatement{"the console's donations", adminDonationsPage("true", 0), func(k Keys) []any { return []any{time.Now(), k.DonationID, 21} }}, ""},
	{HotStatement{"an endpoint's deliveries", sqlDeliveriesPage, func(k Keys) []any {
		return []any{k.CharityID, k.UserID, time.Now(), k.DonationID, 21}
	}}, "endpoint_id"},
}

// ReconcilerStatements lists the reconciler's statements, which look across donors (every
// partition), with the arguments of a run after the first: each must read its partitions
// through an index of what it looks for, never the whole table.
var ReconcilerStatements = []HotStatement{
	{"reconciler: stale PENDING", sqlFindStale, func(Keys) []any {
		return []any{string(giveathon.StatusPending), time.Now().Add(-5 * time.Minute), 500}
	}},
	{"reconciler: stale PROCESSING", sqlFindStale, func(Keys) []any {
		return []any{string(giveathon.StatusProcessing), time.Now().Add(-5 * time.Minute), 500}
	}},
	{"reconciler: stale REQUIRES_ACTION", sqlFindStale, func(Keys) []any {
		return []any{string(giveathon.StatusRequiresAction), time.Now().Add(-30 * time.Minute), 500}
	}},
	{"reconciler: disagreeing attempts", sqlFindDisagreeing, func(Keys) []any {
		return []any{500, DisagreeingStatuses(), giveathon.AttemptSucceeded}
	}},
	{"reconciler: abandoned attempts", sqlCloseAbandoned, func(Keys) []any {
		return []any{time.Now().Add(-5 * time.Minute), giveathon.AttemptError}
	}},
	{"reconciler: totals since the checkpoint", sqlCompareTotals, func(Keys) []any {
		return []any{time.Now().Add(-time.Minute), time.Now().Add(-5 * time.Second)}
	}},
}

// QueuedSubmits is how many submits wait for a flusher.
func (db *DB) QueuedSubmits() int {
	return db.batch.comb.queued()
}

// SubmitBatches is how many batch transactions were begun.
func (db *DB) SubmitBatches() int64 { return db.batch.batches.Load() }

// QueuedMoves is how many moves wait for a settle batch.
func (db *DB) QueuedMoves() int { return db.settle.moves.queued() }

// SettleBatches is how many settle batch statements were run.
func (db *DB) SettleBatches() int64 { return db.settle.batches.Load() }

// QueuedClaims is how many charge claims wait for a settle batch.
func (db *DB) QueuedClaims() int { return db.settle.claims.queued() }

// HoldSettleBatches keeps the settle flushers from starting until release is called (once;
// later calls do nothing): the claims and moves queued meanwhile are written together.
func (db *DB) HoldSettleBatches() (release func()) {
	claims, moves := db.settle.claims.hold(), db.settle.moves.hold()
	return func() { claims(); moves() }
}
