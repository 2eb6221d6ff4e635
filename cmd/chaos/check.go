package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// result is what the run found.
type result struct {
	donations, acknowledged int
	// lost: acknowledged submissions with no donation, or with another one than acknowledged.
	lost int
	// doubleCharged: donations with more than one charge in the provider's ledger.
	doubleCharged int
	// doubleRefunded: refunds beyond the first of a charge, in the provider's ledger.
	doubleRefunded int
	// refunded: donations REFUNDED (by the organiser during the run).
	refunded int
	// unsettled: donations neither SUCCEEDED nor FAILED.
	unsettled int
	// chargeMismatch: SUCCEEDED without a charge, FAILED with one, or a charge of no donation.
	chargeMismatch int
	// amountMismatchCents: |sum of SUCCEEDED amounts - sum of the ledger|.
	amountMismatchCents int64
	// emailMismatch: settled donations without exactly one e-mail of their outcome.
	emailMismatch int
	// jobsLeft: River jobs still available or retryable, but for the periodic reconciler.
	jobsLeft int
	// conflicts: one key answered with two donations.
	conflicts                        int
	serverKills, dbRestarts, seconds int
	succeeded, failed                int
	// submitPerSecond and settlePerSecond are the acknowledged submissions per second of the
	// load, and the settled donations per second of the whole run; serverRSSMB is the last
	// server's peak resident memory, sandboxRSSMB the Stripe sandbox's (it keeps every object
	// of the run, about 3 KB a charge).
	submitPerSecond, settlePerSecond, serverRSSMB, sandboxRSSMB float64
	// totalsMismatch: the event's counters disagree with the SUCCEEDED donations (cents plus
	// count, as absolute differences).
	totalsMismatch int64
	// With -partner: the partner's gifts and events; webhooksLost: events owed (by the gifts'
	// outcomes, or recorded) that never reached the endpoint; webhookDuplicatedIDs: events that
	// arrived under more than one webhook-id, or ids that carried two events; streamGaps: where
	// partnerEvents, replayed from the start, skips or repeats a sequence number.
	partnerGifts, partnerEvents                    int
	webhooksLost, webhookDuplicatedIDs, streamGaps int
	webhookBadSignatures, webhookFailedFirst       int
	// redeliveries: e-mails handed to the SMTP server again because a process died between
	// the server taking them and their record (the mailbox keeps one by Message-ID).
	redeliveries int

	// With -ha: the faults done and asked for, the longest time without a successful submit
	// (overall, and around each kind of fault), and the answers that said INTERNAL_SERVER_ERROR
	// or UNAVAILABLE.
	ha                              bool
	switchovers, failovers, rejoins int
	wantSwitchovers, wantFailovers  int
	maxOutage                       float64
	maxOutageLimit                  float64
	outages                         map[string]float64
	internalErrors, unavailable     int64
}

func (r *result) ok() bool {
	ok := r.lost == 0 && r.doubleCharged == 0 && r.doubleRefunded == 0 && r.unsettled == 0 && r.chargeMismatch == 0 && r.amountMismatchCents == 0 &&
		r.emailMismatch == 0 &&
		r.webhooksLost == 0 && r.webhookDuplicatedIDs == 0 && r.streamGaps == 0 && r.webhookBadSignatures == 0 && r.jobsLeft == 0 && r.totalsMismatch == 0 && r.conflicts == 0 && r.acknowledged == r.donations
	if r.ha {
		ok = ok && r.internalErrors == 0 && r.switchovers == r.wantSwitchovers && r.failovers == r.wantFailovers &&
			r.rejoins == r.failovers && (r.maxOutageLimit <= 0 || r.maxOutage <= r.maxOutageLimit)
	}
	return ok
}

func (r *result) print(w io.Writer) {
	if r.ha {
		fmt.Fprintf(w, "chaos-ha: succeeded=%d failed=%d charge_mismatch=%d jobs_left=%d key_conflicts=%d submit_per_second=%.0f settle_per_second=%.0f email_redeliveries=%d unavailable_answers=%d rejoins=%d switchover_outage_s=%.1f failover_outage_s=%.1f rejoin_outage_s=%.1f\n",
			r.succeeded, r.failed, r.chargeMismatch, r.jobsLeft, r.conflicts, r.submitPerSecond, r.settlePerSecond, r.redeliveries, r.unavailable, r.rejoins,
			r.outages["switchover"], r.outages["failover"], r.outages["rejoin"])
		fmt.Fprintf(w, "chaos-ha: donations=%d acknowledged=%d lost=%d double_charged=%d unsettled=%d amount_mismatch_cents=%d email_mismatch=%d totals_mismatch=%d switchovers=%d failovers=%d max_write_outage_s=%.1f internal_errors=%d seconds=%d\n",
			r.donations, r.acknowledged, r.lost, r.doubleCharged, r.unsettled, r.amountMismatchCents, r.emailMismatch, r.totalsMismatch,
			r.switchovers, r.failovers, r.maxOutage, r.internalErrors, r.seconds)
		return
	}
	fmt.Fprintf(w, "chaos: succeeded=%d failed=%d refunded=%d charge_mismatch=%d jobs_left=%d key_conflicts=%d submit_per_second=%.0f settle_per_second=%.0f server_peak_rss_mb=%.0f sandbox_peak_rss_mb=%.0f email_redeliveries=%d totals_mismatch=%d partner_gifts=%d partner_events=%d webhook_first_tries_failed=%d webhook_bad_signatures=%d stream_gaps=%d\n",
		r.succeeded, r.failed, r.refunded, r.chargeMismatch, r.jobsLeft, r.conflicts, r.submitPerSecond, r.settlePerSecond, r.serverRSSMB, r.sandboxRSSMB, r.redeliveries, r.totalsMismatch,
		r.partnerGifts, r.partnerEvents, r.webhookFailedFirst, r.webhookBadSignatures, r.streamGaps)
	fmt.Fprintf(w, "chaos: donations=%d acknowledged=%d lost=%d double_charged=%d double_refunded=%d unsettled=%d amount_mismatch_cents=%d email_mismatch=%d webhooks_lost=%d webhooks_duplicated_ids=%d server_kills=%d db_restarts=%d seconds=%d\n",
		r.donations, r.acknowledged, r.lost, r.doubleCharged, r.doubleRefunded, r.unsettled, r.amountMismatchCents, r.emailMismatch,
		r.webhooksLost, r.webhookDuplicatedIDs, r.serverKills, r.dbRestarts, r.seconds)
}

// check compares what the clients were told, the database, the provider's ledger, the
// mailbox and the job queue.
func (r *runner) check(ctx context.Context) (*result, error) {
	res := &result{donations: r.o.donations, acknowledged: int(r.ackCount.Load()), conflicts: int(r.conflicts.Load()),
		serverKills: r.kills, dbRestarts: r.restarts}

	type row struct {
		key, status string
		amount      int64
	}
	rows, err := r.pool.Query(ctx, `SELECT id::text, idempotency_key, status, amount_cents FROM donations`)
	if err != nil {
		return nil, fmt.Errorf("read donations: %w", err)
	}
	byID := map[string]row{}
	for rows.Next() {
		var id string
		var rw row
		if err := rows.Scan(&id, &rw.key, &rw.status, &rw.amount); err != nil {
			return nil, err
		}
		byID[id] = rw
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	r.acked.Range(func(k, v any) bool {
		id := rawID(v.(ackedDonation).id)
		if rw, ok := byID[id]; !ok || rw.key != k.(string) {
			res.lost++
			fmt.Fprintf(r.log, "chaos: LOST: key %s was acknowledged as donation %s\n", k, id)
		}
		return true
	})

	charges, err := r.ledger()
	if err != nil {
		return nil, err
	}
	// Read now, with the ledger's answer in it: after the 3,000,000 replay's checks, the
	// machine ran out of memory and the kernel stopped the sandbox, the largest process.
	res.sandboxRSSMB = peakRSSMB(r.sandbox.Cmd.Process.Pid)
	perDonation := map[string]int{}
	refundsOf := map[string]int{}
	var ledgerSum, succeededSum int64
	for _, c := range charges {
		// What the card holder is out of: the charge less what was refunded.
		ledgerSum += c.Amount - c.AmountRefunded
		id := c.Metadata["donation_id"]
		perDonation[id]++
		refundsOf[id] += c.Refunds
		if c.Refunds > 1 {
			res.doubleRefunded += c.Refunds - 1
			fmt.Fprintf(r.log, "chaos: DOUBLE REFUND: charge %s of donation %s refunded %d times\n", c.ID, id, c.Refunds)
		}
		if _, ok := byID[id]; !ok {
			res.chargeMismatch++
			fmt.Fprintf(r.log, "chaos: charge %s of no donation (%q)\n", c.ID, id)
		}
	}
	for id, rw := range byID {
		switch rw.status {
		case "SUCCEEDED":
			res.succeeded++
			succeededSum += rw.amount
			if perDonation[id] == 0 {
				res.chargeMismatch++
				fmt.Fprintf(r.log, "chaos: donation %s SUCCEEDED without a charge\n", id)
			}
		case "FAILED":
			res.failed++
			if perDonation[id] > 0 {
				res.chargeMismatch++
				fmt.Fprintf(r.log, "chaos: donation %s FAILED but was charged\n", id)
			}
		case "REFUNDED":
			res.refunded++
			if perDonation[id] == 0 || refundsOf[id] == 0 {
				res.chargeMismatch++
				fmt.Fprintf(r.log, "chaos: donation %s REFUNDED with %d charges and %d refunds\n", id, perDonation[id], refundsOf[id])
			}
		default:
			res.unsettled++
			fmt.Fprintf(r.log, "chaos: donation %s is still %s\n", id, rw.status)
		}
		if refundsOf[id] > 0 && rw.status != "REFUNDED" {
			res.chargeMismatch++
			fmt.Fprintf(r.log, "chaos: donation %s refunded at the provider but %s here\n", id, rw.status)
		}
		if perDonation[id] > 1 {
			res.doubleCharged++
			fmt.Fprintf(r.log, "chaos: DOUBLE CHARGE: donation %s charged %d times\n", id, perDonation[id])
		}
	}
	res.amountMismatchCents = abs(succeededSum - ledgerSum)

	// The live totals, kept by the moves themselves, must agree without the reconciler's help.
	var totalCents, totalCount int64
	if err := r.pool.QueryRow(ctx, `SELECT coalesce(sum(total_cents), 0)::int8, coalesce(sum(donation_count), 0)::int8 FROM event_totals`).
		Scan(&totalCents, &totalCount); err != nil {
		return nil, fmt.Errorf("read event totals: %w", err)
	}
	res.totalsMismatch = abs(totalCents-succeededSum) + abs(totalCount-int64(res.succeeded))
	// The reconciler (every 2 s here) would hide a drift: count each correction it logged.
	if logged, err := os.ReadFile(filepath.Join(r.dir, "server.log")); err == nil {
		if n := strings.Count(string(logged), "event totals disagreed with the donations"); n > 0 {
			fmt.Fprintf(r.log, "chaos: the reconciler corrected the event totals %d times\n", n)
			res.totalsMismatch += int64(n)
		}
	}
	if res.totalsMismatch != 0 {
		fmt.Fprintf(r.log, "chaos: event totals say %d cents in %d donations; the donations say %d in %d\n",
			totalCents, totalCount, succeededSum, res.succeeded)
	}

	mails, err := r.mails(ctx)
	if err != nil {
		return nil, err
	}
	for id, rw := range byID {
		// Exactly the e-mails of the donation's story: a receipt or a failure notice, and a
		// refund notice after a receipt.
		want := map[string][]string{"SUCCEEDED": {"receipt"}, "FAILED": {"failure"}, "REFUNDED": {"receipt", "refund"}}[rw.status]
		if want == nil {
			continue
		}
		got := map[string]int{}
		for _, kind := range []string{"receipt", "failure", "refund"} {
			got[kind] = mails[id+"."+kind]
		}
		wantCounts := map[string]int{"receipt": 0, "failure": 0, "refund": 0}
		for _, kind := range want {
			wantCounts[kind] = 1
		}
		if fmt.Sprint(got) != fmt.Sprint(wantCounts) {
			res.emailMismatch++
			fmt.Fprintf(r.log, "chaos: donation %s (%s) has e-mails %v, want %v\n", id, rw.status, got, wantCounts)
		}
	}

	// The reconciler's periodic job comes back every interval: it is not work left over (the
	// drain leaves it out too).
	if err := r.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE state IN ('available', 'retryable') AND kind <> 'reconcile'`).Scan(&res.jobsLeft); err != nil {
		return nil, fmt.Errorf("read jobs: %w", err)
	}
	if res.jobsLeft > 0 {
		r.reportJobsLeft(ctx)
	}
	if err := r.pool.QueryRow(ctx, `SELECT coalesce(sum(deliveries - 1), 0) FROM notifications WHERE deliveries > 1`).Scan(&res.redeliveries); err != nil {
		return nil, fmt.Errorf("read deliveries: %w", err)
	}
	if err := r.checkPartner(ctx, res); err != nil {
		return nil, err
	}
	res.internalErrors, res.unavailable = r.internalErrors.Load(), r.unavailable.Load()
	if r.o.ha {
		res.ha = true
		res.switchovers, res.failovers, res.rejoins = r.haRun.switchovers, r.haRun.failovers, r.haRun.rejoins
		res.wantSwitchovers, res.wantFailovers = r.o.switchovers, r.o.failovers
		res.maxOutage, res.maxOutageLimit = r.haRun.outage(time.Time{}, time.Time{}).Seconds(), r.o.maxOutage.Seconds()
		r.reportHA(res)
	}
	if r.loadSeconds > 0 {
		res.submitPerSecond = float64(res.acknowledged) / r.loadSeconds
	}
	if elapsed := time.Since(r.started).Seconds(); elapsed > 0 {
		res.settlePerSecond = float64(res.succeeded+res.failed) / elapsed
	}
	r.serverMu.Lock()
	if r.server != nil {
		res.serverRSSMB = peakRSSMB(r.server.Cmd.Process.Pid)
	}
	r.serverMu.Unlock()
	res.sandboxRSSMB = max(res.sandboxRSSMB, peakRSSMB(r.sandbox.Cmd.Process.Pid))
	return res, nil
}

type charge struct {
	ID             string            `json:"id"`
	Amount         int64             `json:"amount"`
	Metadata       map[string]string `json:"metadata"`
	Refunds        int               `json:"refunds"`
	AmountRefunded int64             `json:"amount_refunded"`
}

func (r *runner) ledger() ([]charge, error) {
	resp, err := http.Get(r.sbURL + "/_sandbox/charges")
	if err != nil {
		return nil, fmt.Errorf("read the ledger: %w", err)
	}
	defer resp.Body.Close()
	var out struct {
		Data []charge `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("decode the ledger: %w", err)
	}
	return out.Data, nil
}

// mails counts Mailpit's messages by "<donation id>.<kind>", from their Message-ID; without
// Mailpit, the notifications the server recorded as sent or logged.
func (r *runner) mails(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	if !r.o.mail {
		rows, err := r.pool.Query(ctx, `SELECT donation_id::text || '.' || kind FROM notifications WHERE status IN ('sent', 'logged')`)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				return nil, err
			}
			out[k]++
		}
		return out, rows.Err()
	}
	const page = 1000
	for start := 0; ; start += page {
		resp, err := http.Get(r.mailAPI + "/api/v1/messages?limit=" + strconv.Itoa(page) + "&start=" + strconv.Itoa(start))
		if err != nil {
			return nil, fmt.Errorf("read the mailbox: %w", err)
		}
		var body struct {
			Total    int `json:"total"`
			Messages []struct {
				MessageID string `json:"MessageID"`
			} `json:"messages"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("decode the mailbox: %w", err)
		}
		for _, m := range body.Messages {
			out[strings.TrimSuffix(strings.Trim(m.MessageID, "<>"), "@giveathon")]++
		}
		if len(body.Messages) < page {
			return out, nil
		}
	}
}

func (r *runner) countMails(ctx context.Context) (int, error) {
	if !r.o.mail {
		var n int
		err := r.pool.QueryRow(ctx, `SELECT count(*) FROM notifications WHERE status IN ('sent', 'logged')`).Scan(&n)
		return n, err
	}
	resp, err := http.Get(r.mailAPI + "/api/v1/messages?limit=1")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var body struct {
		Total int `json:"total"`
	}
	err = json.NewDecoder(resp.Body).Decode(&body)
	return body.Total, err
}

// rawID decodes a global id ("Donation:<uuid>", base64url) to the uuid.
func rawID(global string) string {
	b, err := base64.RawURLEncoding.DecodeString(global)
	if err != nil {
		return global
	}
	_, id, _ := strings.Cut(string(b), ":")
	return id
}

// peakRSSMB is a process's peak resident memory (VmHWM), in MB.
func peakRSSMB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// reportJobsLeft says which jobs are left over, and how they last failed.
func (r *runner) reportJobsLeft(ctx context.Context) {
	rows, err := r.pool.Query(ctx, `SELECT kind, state, attempt, scheduled_at, args::text, coalesce(errors[array_length(errors, 1)]::text, '')
		FROM river_job WHERE state IN ('available', 'retryable') AND kind <> 'reconcile' ORDER BY id LIMIT 20`)
	if err != nil {
		return
	}
	defer rows.Close()
	for rows.Next() {
		var kind, state, args, lastErr string
		var attempt int
		var at time.Time
		if rows.Scan(&kind, &state, &attempt, &at, &args, &lastErr) == nil {
			fmt.Fprintf(r.log, "chaos: job left: %s %s attempt %d due %s args %s last error %.300s\n", kind, state, attempt, at.Format(time.RFC3339), args, lastErr)
		}
	}
}
