package main

import (
	"context"
	"encoding/csv"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/internal/testenv"
	"github.com/giveathon/giveathon/notify"
	"github.com/giveathon/giveathon/payments/sandbox"
)

const (
	refundOp  = `mutation($i: RefundDonationInput!) { refundDonation(input: $i) { id status } }`
	disputeOp = `query($id: ID!) { donation(id: $id) { id status dispute { status reason amountCents } } }`
)

// admin registers the admin of a money test (ADMIN_EMAILS names it) and returns its client.
func (m *money) admin(t *testing.T, email string) *testenv.Client {
	t.Helper()
	token := m.srv.client.Do(t, registerOp, creds(email)).NoErrors(t).String("register", "token")
	return m.srv.client.As(token)
}

// totalCents reads the event's total, waiting out the totals snapshot's age until it is want.
func (m *money) totalCents(t *testing.T, want float64) float64 {
	t.Helper()
	var got float64
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		got = m.srv.client.Do(t, `{ event { totalCents } }`, nil).NoErrors(t).Get("event", "totalCents").(float64)
		if got == want || time.Now().After(deadline) {
			return got
		}
	}
}

// refundEmails counts the refund e-mails of a donation, after giving a late one time to come.
func (m *money) refundEmails(t *testing.T, globalID string) int {
	t.Helper()
	q := "message-id:" + notify.MessageID(rawID(t, globalID), notify.KindRefund)
	m.mail.WaitForMessages(t, q, 1, 20*time.Second)
	time.Sleep(300 * time.Millisecond)
	return len(m.mail.Messages(t, q))
}

// TestRefundsAreForAdminsAndHappenOnce: an admin refunds a gift; it ends REFUNDED with the
// totals lowered and one refund e-mail; asking again changes nothing at the provider or here;
// a donor's and a visitor's refund are refused; a gift that did not succeed cannot be refunded;
// a refund made in the provider's dashboard takes the same path through its webhook.
func TestRefundsAreForAdminsAndHappenOnce(t *testing.T) {
	t.Parallel()
	m := setupMoney(t, "ADMIN_EMAILS=ops@example.org")
	adm := m.admin(t, "ops@example.org")
	c := m.donor(t)
	card := m.addCard(t, c, "pm_card_visa")
	id := m.give(t, c, card, 2500)
	m.wait(t, c, id, "SUCCEEDED")
	before := m.totalCents(t, 2500)
	in := map[string]any{"i": map[string]any{"donationId": id, "reason": "the donor asked"}}

	if r := c.Do(t, refundOp, in); r.Code() != "FORBIDDEN" {
		t.Fatalf("a donor's refund: %s", r.Raw)
	}
	if r := m.srv.client.Do(t, refundOp, in); r.Code() != "UNAUTHENTICATED" {
		t.Fatalf("a visitor's refund: %s", r.Raw)
	}
	if r := adm.Do(t, refundOp, in).NoErrors(t); r.String("refundDonation", "status") != "REFUNDED" {
		t.Fatalf("the admin's refund: %s", r.Raw)
	}
	if got := m.totalCents(t, before-2500); got != before-2500 {
		t.Fatalf("totals %v after refunding 2500 of %v", got, before)
	}
	audit := adm.Do(t, `{ adminAuditLog(first: 5) { edges { node { action } } } }`, nil).NoErrors(t)
	if audit.String("adminAuditLog", "edges", 0, "node", "action") != "refundDonation" {
		t.Fatalf("the audit log after a refund: %s", audit.Raw)
	}
	// Again, and with the provider's charge.refunded event arriving meanwhile: one refund.
	if r := adm.Do(t, refundOp, in).NoErrors(t); r.String("refundDonation", "status") != "REFUNDED" {
		t.Fatalf("the second refund: %s", r.Raw)
	}
	if n := m.refundEmails(t, id); n != 1 {
		t.Fatalf("%d refund e-mails, want 1", n)
	}
	if ch := m.charges(t, id); len(ch) != 1 || ch[0].Refunds != 1 || ch[0].AmountRefunded != 2500 {
		t.Fatalf("the provider's ledger: %+v", ch)
	}
	if got := m.totalCents(t, before-2500); got != before-2500 {
		t.Fatalf("totals %v after a second refund", got)
	}

	// A declined gift has nothing to refund.
	declined := m.give(t, c, m.addCard(t, c, "pm_card_chargeDeclined"), 700)
	m.wait(t, c, declined, "FAILED")
	if r := adm.Do(t, refundOp, map[string]any{"i": map[string]any{"donationId": declined}}); r.Code() != "CONFLICT" {
		t.Fatalf("refunding a failed gift: %s", r.Raw)
	}

	// A refund in the provider's dashboard: its charge.refunded event moves the donation.
	other := m.give(t, c, card, 1300)
	m.wait(t, c, other, "SUCCEEDED")
	var pi string
	if err := m.db.Pool.QueryRow(context.Background(), `SELECT payment_intent_id FROM donations WHERE id = $1`, rawID(t, other)).Scan(&pi); err != nil {
		t.Fatal(err)
	}
	m.stripe(t, "/v1/refunds", url.Values{"payment_intent": {pi}})
	m.wait(t, c, other, "REFUNDED")
	if n := m.refundEmails(t, other); n != 1 {
		t.Fatalf("%d refund e-mails after a dashboard refund, want 1", n)
	}
}

// TestADisputeShowsAndALostOneLeavesTheTotals: the dispute test card's gift succeeds and then
// shows its dispute, and the admins get one e-mail; when the dispute is lost the gift leaves
// the totals as a refund does.
func TestADisputeShowsAndALostOneLeavesTheTotals(t *testing.T) {
	t.Parallel()
	m := setupMoney(t, "ADMIN_EMAILS=ops@example.org")
	c := m.donor(t)
	id := m.give(t, c, m.addCard(t, c, "pm_card_createDispute"), 1200)
	m.wait(t, c, id, "SUCCEEDED")
	var r *testenv.Response
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r = c.Do(t, disputeOp, map[string]any{"id": id}).NoErrors(t)
		if r.Get("donation", "dispute") != nil || time.Now().After(deadline) {
			break
		}
	}
	if r.String("donation", "dispute", "status") != "needs_response" || r.Get("donation", "dispute", "amountCents") != float64(1200) ||
		r.String("donation", "dispute", "reason") == "" {
		t.Fatalf("the dispute: %s", r.Raw)
	}
	alerts := m.mail.WaitForMessages(t, "to:ops@example.org subject:Disputed", 1, 20*time.Second)
	time.Sleep(300 * time.Millisecond)
	if all := m.mail.Messages(t, "to:ops@example.org subject:Disputed"); len(all) != 1 || len(alerts) != 1 {
		t.Fatalf("%d dispute e-mails to the admin, want 1", len(all))
	}
	before := m.totalCents(t, 1200)
	ch := m.charges(t, id)
	if len(ch) != 1 || ch[0].Dispute == "" {
		t.Fatalf("the provider's ledger: %+v", ch)
	}
	// A disputed gift is not refunded too: the card holder's bank takes the money back through
	// the dispute, and a refund would give it back twice.
	adm := m.admin(t, "ops@example.org")
	if r := adm.Do(t, refundOp, map[string]any{"i": map[string]any{"donationId": id, "reason": "asked"}}); r.Code() != "CONFLICT" ||
		!strings.Contains(r.Raw, "disputed") {
		t.Fatalf("a refund of a disputed gift: %s, want CONFLICT naming the dispute", r.Raw)
	}
	if ch := m.charges(t, id); len(ch) != 1 || ch[0].Refunds != 0 {
		t.Fatalf("the provider's ledger after a refused refund: %+v", ch)
	}
	// The payout file holds the disputed money back while the dispute is open (it was paid
	// out as if the provider still had it).
	if got := m.payoutRow(t, adm); got["disputed_count"] != "1" || got["disputed_amount"] != "12.00" || got["net_amount"] != "0.00" || got["succeeded_amount"] != "12.00" {
		t.Errorf("charities.csv with the dispute open: %v", got)
	}
	if err := m.sandbox.CloseDispute(ch[0].Dispute, "lost"); err != nil {
		t.Fatal(err)
	}
	m.wait(t, c, id, "REFUNDED")
	if r := c.Do(t, disputeOp, map[string]any{"id": id}).NoErrors(t); r.String("donation", "dispute", "status") != "lost" {
		t.Fatalf("the lost dispute: %s", r.Raw)
	}
	if got := m.totalCents(t, before-1200); got != before-1200 {
		t.Fatalf("totals %v after a lost dispute of 1200 (from %v)", got, before)
	}
	if got := m.payoutRow(t, adm); got["disputed_count"] != "0" || got["refunded_amount"] != "12.00" || got["net_amount"] != "0.00" {
		t.Errorf("charities.csv after the dispute was lost: %v", got)
	}
}

// payoutRow is the test charity's row of charities.csv, by column.
func (m *money) payoutRow(t *testing.T, admin *testenv.Client) map[string]string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, m.srv.url+"/admin/exports/charities.csv", nil)
	req.Header.Set("Authorization", "Bearer "+admin.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rows, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil || resp.StatusCode != http.StatusOK || len(rows) < 2 {
		t.Fatalf("charities.csv: %d %v %v", resp.StatusCode, rows, err)
	}
	for _, row := range rows[1:] {
		if row[0] == rawID(t, m.charity) {
			out := map[string]string{}
			for i, col := range rows[0] {
				out[col] = row[i]
			}
			return out
		}
	}
	t.Fatalf("charities.csv has no row for the test charity: %v", rows)
	return nil
}

// stripe calls the provider's API (the sandbox) as its dashboard would.
func (m *money) stripe(t *testing.T, path string, form url.Values) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, m.sandboxURL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Authorization", "Bearer "+sandbox.SecretKey)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %d", path, resp.StatusCode)
	}
}

// TestARefundAskedAgainWithAnotherReasonRefundsOnce: a refund the provider failed twice
// (UNAVAILABLE) asked again with another reason is a new request, not an idempotency error
// shown as an internal one; a reason of 500 letters that take two bytes each is the provider's
// limit too; the charge is refunded once.
func TestARefundAskedAgainWithAnotherReasonRefundsOnce(t *testing.T) {
	t.Parallel()
	m := setupMoney(t, "ADMIN_EMAILS=ops@example.org")
	c := m.donor(t)
	adm := m.admin(t, "ops@example.org")
	card := m.addCard(t, c, "pm_card_visa")
	id := m.give(t, c, card, 2300)
	m.wait(t, c, id, "SUCCEEDED")
	m.sandbox.Script(sandbox.ScriptedFault{Method: "POST", PathPrefix: "/v1/refunds", Fault: sandbox.FaultError500, Count: 2})
	if r := adm.Do(t, refundOp, map[string]any{"i": map[string]any{"donationId": id, "reason": "first reason"}}); r.Code() != "UNAVAILABLE" {
		t.Fatalf("a refund the provider failed twice: %s, want UNAVAILABLE", r.Raw)
	}
	long := strings.Repeat("é", giveathon.MaxRefundReasonLen)
	if r := adm.Do(t, refundOp, map[string]any{"i": map[string]any{"donationId": id, "reason": long}}).NoErrors(t); r.String("refundDonation", "status") != "REFUNDED" {
		t.Fatalf("asked again with another reason: %s", r.Raw)
	}
	if ch := m.charges(t, id); len(ch) != 1 || ch[0].Refunds != 1 || ch[0].AmountRefunded != 2300 {
		t.Fatalf("the provider's ledger: %+v, want one refund of 2300", ch)
	}
}

// TestRefundsAskedAtOnceRefundOnceAndAreAudited: admins refunding one gift at the same moment all see
// it REFUNDED and the provider refunds it once; the audit log has the refund, and no more lines
// than there were asks (each admin who found the gift SUCCEEDED and asked is recorded; the
// refund's own event may move the gift before any of them does, so the mover cannot be the one
// that audits it).
func TestRefundsAskedAtOnceRefundOnceAndAreAudited(t *testing.T) {
	t.Parallel()
	m := setupMoney(t, "ADMIN_EMAILS=ops@example.org")
	c := m.donor(t)
	adm := m.admin(t, "ops@example.org")
	id := m.give(t, c, m.addCard(t, c, "pm_card_visa"), 1900)
	m.wait(t, c, id, "SUCCEEDED")
	var wg sync.WaitGroup
	answers := make([]*testenv.Response, 8)
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = adm.Do(t, refundOp, map[string]any{"i": map[string]any{"donationId": id, "reason": "asked"}})
		}()
	}
	wg.Wait()
	for i, r := range answers {
		if len(r.Errors) > 0 || r.String("refundDonation", "status") != "REFUNDED" {
			t.Errorf("refund %d: %s", i, r.Raw)
		}
	}
	if ch := m.charges(t, id); len(ch) != 1 || ch[0].Refunds != 1 {
		t.Fatalf("the provider's ledger: %+v, want one refund", ch)
	}
	audit := adm.Do(t, `{ adminAuditLog(first: 20) { edges { node { action } } } }`, nil).NoErrors(t)
	if n := strings.Count(audit.Raw, `"refundDonation"`); n < 1 || n > len(answers) {
		t.Errorf("%d audit lines for one refund asked %d times: %s", n, len(answers), audit.Raw)
	}
}

// TestARefundTheProviderDidNotAnswerIsAudited: the provider takes longer than STRIPE_TIMEOUT
// over both of a refund call's tries, so the admin gets UNAVAILABLE, and then makes the refund:
// its event moves the gift, with no call left to audit it. The admin's ask is in the audit log
// all the same, its outcome unknown; the refund is made once.
func TestARefundTheProviderDidNotAnswerIsAudited(t *testing.T) {
	t.Parallel()
	m := setupMoney(t, "ADMIN_EMAILS=ops@example.org", "STRIPE_TIMEOUT=300ms")
	c := m.donor(t)
	adm := m.admin(t, "ops@example.org")
	id := m.give(t, c, m.addCard(t, c, "pm_card_visa"), 1700)
	m.wait(t, c, id, "SUCCEEDED")
	m.sandbox.Script(sandbox.ScriptedFault{Method: "POST", PathPrefix: "/v1/refunds", Fault: sandbox.FaultSlow, Latency: time.Second, Count: 2})
	if r := adm.Do(t, refundOp, map[string]any{"i": map[string]any{"donationId": id, "reason": "asked"}}); r.Code() != "UNAVAILABLE" {
		t.Fatalf("a refund the provider did not answer: %s, want UNAVAILABLE", r.Raw)
	}
	audit := adm.Do(t, `{ adminAuditLog(first: 5) { edges { node { action after } } } }`, nil).NoErrors(t)
	if !strings.Contains(audit.Raw, `"refundDonation"`) || !strings.Contains(audit.Raw, "did not answer") {
		t.Errorf("the audit log after an unanswered refund: %s", audit.Raw)
	}
	m.wait(t, c, id, "REFUNDED")
	if ch := m.charges(t, id); len(ch) != 1 || ch[0].Refunds != 1 {
		t.Fatalf("the provider's ledger: %+v, want one refund", ch)
	}
}
