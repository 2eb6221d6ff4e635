package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/db"
	"github.com/giveathon/giveathon/internal/testenv"
	"github.com/giveathon/giveathon/notify"
	"github.com/giveathon/giveathon/payments/sandbox"
	"github.com/giveathon/giveathon/settlement"
	"github.com/stripe/stripe-go/v76/webhook"
)

// money is a running Giveathon with real PostgreSQL, River workers, a Stripe sandbox the test
// controls, and Mailpit.
type money struct {
	srv     *running
	db      *db.DB
	sandbox *sandbox.Server
	// sandboxURL is the sandbox's address, for calls a test makes as the provider's dashboard.
	sandboxURL string
	mail       *testenv.Mailpit
	secret     string
	charity    string
}

func setupMoney(t *testing.T, extraEnv ...string) *money {
	t.Helper()
	return setupMoneyOn(t, testenv.URL(t), extraEnv...)
}

// setupMoneyOn is setupMoney on the database at dbURL.
func setupMoneyOn(t *testing.T, dbURL string, extraEnv ...string) *money {
	t.Helper()
	sb := sandbox.New(sandbox.Config{})
	sbSrv := httptest.NewServer(sb)
	t.Cleanup(func() { sbSrv.Close(); sb.Close() })
	mp := testenv.StartMailpit(t)
	secret := "whsec_test" + strings.Repeat("x", 24)
	env := map[string]string{
		"DATABASE_URL":          dbURL,
		"STRIPE_API_BASE":       sbSrv.URL,
		"STRIPE_WEBHOOK_SECRET": secret,
		"STRIPE_RATE_LIMIT":     "1000",
		"SMTP_URL":              mp.SMTPURL,
		"CHARGE_RETRY_BASE":     "10ms",
		"CHARGE_RETRY_MAX":      "40ms",
		"JOBS_POLL_INTERVAL":    "50ms",
		"RECONCILE_INTERVAL":    "1h",
		"LOG_LEVEL":             "warn",
	}
	for _, kv := range extraEnv {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	srv := start(t, env)
	sb.SetWebhook(srv.url+"/webhooks/stripe", secret)
	d, err := db.Open(context.Background(), dbURL, 5)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	m := &money{srv: srv, db: d, sandbox: sb, sandboxURL: sbSrv.URL, mail: mp, secret: secret}
	r := srv.client.Do(t, `{ charities(first: 1) { edges { node { id } } } }`, nil).NoErrors(t)
	m.charity = r.String("charities", "edges", 0, "node", "id")
	return m
}

// donor registers a donor and returns a client that signs in as them.
func (m *money) donor(t *testing.T) *testenv.Client {
	t.Helper()
	email := fmt.Sprintf("donor-%d@example.org", time.Now().UnixNano())
	token := m.srv.client.Do(t, registerOp, creds(email)).NoErrors(t).String("register", "token")
	return m.srv.client.As(token)
}

const (
	addPMOp  = `mutation($i: AddPaymentMethodInput!) { addPaymentMethod(input: $i) { id brand last4 expMonth expYear isDefault } }`
	submitOp = `mutation($i: SubmitDonationInput!) { submitDonation(input: $i) { needsConfirmation duplicateOf { id } donation { id status amountCents } } }`
	getOp    = `query($id: ID!) { donation(id: $id) { id status amountCents failureCode failureMessage settledAt
		charity { name } paymentMethod { last4 } attempts { attemptNo status errorCode } nextAction { type clientSecret url } } }`
	historyOp = `query($a: String, $s: DonationStatus) { me { donations(first: 3, after: $a, status: $s) { totalCount
		edges { cursor node { id amountCents } } pageInfo { hasNextPage endCursor } } } }`
)

func (m *money) addCard(t *testing.T, c *testenv.Client, pm string) string {
	t.Helper()
	r := c.Do(t, addPMOp, map[string]any{"i": map[string]any{"providerPaymentMethodId": pm}}).NoErrors(t)
	return r.String("addPaymentMethod", "id")
}

func (m *money) submit(t *testing.T, c *testenv.Client, card string, amount int, key string, more ...map[string]any) *testenv.Response {
	t.Helper()
	in := map[string]any{"charityId": m.charity, "amountCents": amount, "paymentMethodId": card, "idempotencyKey": key}
	for _, extra := range more {
		for k, v := range extra {
			in[k] = v
		}
	}
	return c.Do(t, submitOp, map[string]any{"i": in})
}

func (m *money) give(t *testing.T, c *testenv.Client, card string, amount int) string {
	t.Helper()
	r := m.submit(t, c, card, amount, newKey()).NoErrors(t)
	if r.String("submitDonation", "donation", "status") != "PENDING" {
		t.Fatalf("submit: %s", r.Raw)
	}
	return r.String("submitDonation", "donation", "id")
}

var keySeq struct {
	sync.Mutex
	n int
}

func newKey() string {
	keySeq.Lock()
	defer keySeq.Unlock()
	keySeq.n++
	return fmt.Sprintf("key-%d-%d", time.Now().UnixNano(), keySeq.n)
}

// wait polls the donation until its status is one of want.
func (m *money) wait(t *testing.T, c *testenv.Client, id string, want ...string) *testenv.Response {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := c.Do(t, getOp, map[string]any{"id": id}).NoErrors(t)
		for _, w := range want {
			if r.String("donation", "status") == w {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("donation %s did not reach %v: %s", id, want, r.Raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rawID decodes a donation's global id.
func rawID(t *testing.T, global string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(global)
	if err != nil {
		t.Fatalf("decode %q: %v", global, err)
	}
	_, id, _ := strings.Cut(string(b), ":")
	return id
}

// charges returns the sandbox ledger's charges of a donation.
func (m *money) charges(t *testing.T, globalID string) []sandbox.Charge {
	id := rawID(t, globalID)
	var out []sandbox.Charge
	for _, c := range m.sandbox.Charges() {
		if c.Metadata["donation_id"] == id {
			out = append(out, c)
		}
	}
	return out
}

// emails waits for the e-mail of kind about a donation and checks it is the only one.
func (m *money) emails(t *testing.T, globalID, kind string) *testenv.MailpitContent {
	t.Helper()
	id := rawID(t, globalID)
	msgs := m.mail.WaitForMessages(t, "message-id:"+notify.MessageID(id, kind), 1, 20*time.Second)
	// Let a duplicate, if any, arrive before counting.
	time.Sleep(200 * time.Millisecond)
	if all := m.mail.Messages(t, "message-id:"+notify.MessageID(id, kind)); len(all) != 1 {
		t.Fatalf("%d %s e-mails for donation %s, want exactly 1", len(all), kind, id)
	}
	other := notify.KindFailure
	if kind == notify.KindFailure {
		other = notify.KindReceipt
	}
	if n := len(m.mail.Messages(t, "message-id:"+notify.MessageID(id, other))); n != 0 {
		t.Fatalf("%d %s e-mails for donation %s, want none", n, other, id)
	}
	return m.mail.Message(t, msgs[0].ID)
}

func attempts(r *testenv.Response) []any {
	a, _ := r.Get("donation", "attempts").([]any)
	return a
}

func TestDonationSucceedsWithOneChargeAndOneReceipt(t *testing.T) {
	t.Parallel()
	m := setupMoney(t)
	c := m.donor(t)
	r := c.Do(t, addPMOp, map[string]any{"i": map[string]any{"providerPaymentMethodId": "pm_card_visa"}}).NoErrors(t)
	if r.String("addPaymentMethod", "brand") != "visa" || r.String("addPaymentMethod", "last4") != "4242" || r.Get("addPaymentMethod", "isDefault") != true {
		t.Fatalf("addPaymentMethod: %s", r.Raw)
	}
	card := r.String("addPaymentMethod", "id")
	id := m.give(t, c, card, 2500)
	got := m.wait(t, c, id, "SUCCEEDED", "FAILED")
	if got.String("donation", "status") != "SUCCEEDED" || len(attempts(got)) != 1 || got.String("donation", "settledAt") == "" ||
		got.String("donation", "paymentMethod", "last4") != "4242" || got.String("donation", "charity", "name") == "" {
		t.Fatalf("donation: %s", got.Raw)
	}
	ch := m.charges(t, id)
	if len(ch) != 1 || ch[0].Amount != 2500 || ch[0].Currency != "usd" {
		t.Fatalf("ledger: %+v", ch)
	}
	mail := m.emails(t, id, notify.KindReceipt)
	for _, want := range []string{"$25.00", rawID(t, id), "no goods or services"} {
		if !strings.Contains(strings.ToLower(mail.Text), strings.ToLower(want)) {
			t.Errorf("receipt lacks %q:\n%s", want, mail.Text)
		}
	}
	// The metrics saw it all (job events arrive a moment after the job's work).
	wantMetrics := []string{
		`giveathon_donations_total{status="SUCCEEDED"}`,
		`giveathon_graphql_operations_total{code="",operation="mutation submitDonation"}`,
		`giveathon_graphql_operation_duration_seconds_bucket{operation="query donation"`,
		`giveathon_http_request_duration_seconds_bucket{route="/graphql"`,
		`giveathon_stripe_calls_total{op="create payment intent",outcome="ok"}`,
		`giveathon_stripe_rate_limit_wait_seconds_count`,
		`giveathon_jobs_total{kind="charge_donation",outcome="completed"}`,
		`giveathon_outbox_emails_total{kind="receipt",outcome="sent"}`,
		`giveathon_outbox_wait_seconds_bucket`,
		`giveathon_db_pool_connections{pool="domain",state="idle"}`,
	}
	var missing []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get(m.srv.url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		missing = missing[:0]
		for _, want := range wantMetrics {
			if !strings.Contains(string(body), want) {
				missing = append(missing, want)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(missing) > 0 {
		t.Errorf("/metrics lacks %v", missing)
	}
	// The card is listed, and nothing of it but what may be shown is stored.
	pms := c.Do(t, `{ me { paymentMethods { id last4 } } }`, nil).NoErrors(t)
	if pms.String("me", "paymentMethods", 0, "id") != card {
		t.Fatalf("paymentMethods: %s", pms.Raw)
	}
}

func TestDeclinedCardFailsOnceWithOneFailureNotice(t *testing.T) {
	t.Parallel()
	m := setupMoney(t)
	c := m.donor(t)
	for _, tc := range []struct{ pm, code string }{
		{"pm_card_chargeDeclined", "generic_decline"},
		{"pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds"},
	} {
		card := m.addCard(t, c, tc.pm)
		id := m.give(t, c, card, 1500)
		got := m.wait(t, c, id, "FAILED", "SUCCEEDED")
		if got.String("donation", "status") != "FAILED" || got.String("donation", "failureCode") != tc.code ||
			got.String("donation", "failureMessage") == "" || len(attempts(got)) != 1 {
			t.Fatalf("%s: %s", tc.pm, got.Raw)
		}
		if n := len(m.charges(t, id)); n != 0 {
			t.Fatalf("%s: %d charges for a declined card", tc.pm, n)
		}
		mail := m.emails(t, id, notify.KindFailure)
		if !strings.Contains(mail.Text, got.String("donation", "failureMessage")) {
			t.Errorf("failure notice lacks the reason %q:\n%s", got.String("donation", "failureMessage"), mail.Text)
		}
	}
}

func TestThreeDSecureThenCompleted(t *testing.T) {
	t.Parallel()
	m := setupMoney(t)
	c := m.donor(t)
	card := m.addCard(t, c, "pm_card_authenticationRequired")

	complete := func(r *testenv.Response, action string) {
		t.Helper()
		next := r.Get("donation", "nextAction").(map[string]any)
		pageURL, _ := next["url"].(string)
		if next["clientSecret"] == "" || pageURL == "" {
			t.Fatalf("nextAction: %s", r.Raw)
		}
		u, _ := url.Parse(pageURL)
		form := url.Values{"client_secret": {next["clientSecret"].(string)}, "action": {action}}
		req, _ := http.NewRequest(http.MethodPost, u.Scheme+"://"+u.Host+u.Path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("authenticate %s: %d", action, resp.StatusCode)
		}
	}

	// Completed in the browser: the webhook finishes it.
	id := m.give(t, c, card, 1700)
	r := m.wait(t, c, id, "REQUIRES_ACTION", "FAILED", "SUCCEEDED")
	if r.String("donation", "status") != "REQUIRES_ACTION" || r.String("donation", "nextAction", "type") != "use_stripe_sdk" {
		t.Fatalf("3-D Secure card: %s", r.Raw)
	}
	// Nobody but the owner sees the client secret.
	other := m.donor(t)
	if o := other.Do(t, getOp, map[string]any{"id": id}); o.Code() != "NOT_FOUND" {
		t.Fatalf("another donor read the donation: %s", o.Raw)
	}
	complete(r, "complete")
	m.wait(t, c, id, "SUCCEEDED")
	if n := len(m.charges(t, id)); n != 1 {
		t.Fatalf("%d charges after 3-D Secure", n)
	}
	m.emails(t, id, notify.KindReceipt)

	// Completed while webhooks are lost: refreshDonation reads the PaymentIntent.
	m.sandbox.SetWebhook("", "")
	id2 := m.give(t, c, card, 1800)
	r = m.wait(t, c, id2, "REQUIRES_ACTION")
	complete(r, "complete")
	ref := c.Do(t, `mutation($id: ID!) { refreshDonation(id: $id) { status } }`, map[string]any{"id": id2}).NoErrors(t)
	if ref.String("refreshDonation", "status") != "SUCCEEDED" {
		t.Fatalf("refreshDonation: %s", ref.Raw)
	}

	// Authentication failed: FAILED with its reason.
	m.sandbox.SetWebhook(m.srv.url+"/webhooks/stripe", m.secret)
	id3 := m.give(t, c, card, 1900)
	r = m.wait(t, c, id3, "REQUIRES_ACTION")
	complete(r, "fail")
	r = m.wait(t, c, id3, "FAILED")
	if r.String("donation", "failureCode") != "payment_intent_authentication_failure" {
		t.Fatalf("failed authentication: %s", r.Raw)
	}
	m.emails(t, id3, notify.KindFailure)
}

func TestTransientFailuresAreRetried(t *testing.T) {
	t.Parallel()
	m := setupMoney(t)
	c := m.donor(t)
	card := m.addCard(t, c, "pm_card_visa")

	// A 500, then success: the second attempt sends the first's key again, meets its saved
	// 500 as a replay (so that request has ended), finds no PaymentIntent for the donation in
	// the donor's list, and only then creates under its own key: two attempts, one charge.
	m.sandbox.Script(sandbox.ScriptedFault{Method: "POST", PathPrefix: "/v1/payment_intents", Fault: "500", Count: 1})
	id := m.give(t, c, card, 3100)
	r := m.wait(t, c, id, "SUCCEEDED", "FAILED")
	if r.String("donation", "status") != "SUCCEEDED" || len(attempts(r)) != 2 {
		t.Fatalf("a 500 then success: %s", r.Raw)
	}
	if n := len(m.charges(t, id)); n != 1 {
		t.Fatalf("%d charges, want 1", n)
	}
	m.emails(t, id, notify.KindReceipt)

	// A timeout after the charge executed, with the webhook lost too: the retry finds the
	// PaymentIntent by its metadata, and charges nothing twice.
	m.sandbox.SetWebhook("", "")
	m.sandbox.Script(sandbox.ScriptedFault{Method: "POST", PathPrefix: "/v1/payment_intents", Fault: "timeout_after", Count: 1})
	id = m.give(t, c, card, 3200)
	r = m.wait(t, c, id, "SUCCEEDED", "FAILED")
	if r.String("donation", "status") != "SUCCEEDED" || len(attempts(r)) != 2 {
		t.Fatalf("timeout after execution: %s", r.Raw)
	}
	if n := len(m.charges(t, id)); n != 1 {
		t.Fatalf("%d charges after a lost answer, want 1", n)
	}
	m.sandbox.SetWebhook(m.srv.url+"/webhooks/stripe", m.secret)

	// A processing error that never clears: five attempts, then FAILED and one notice.
	proc := m.addCard(t, c, "pm_card_chargeDeclinedProcessingError")
	id = m.give(t, c, proc, 3300)
	r = m.wait(t, c, id, "FAILED", "SUCCEEDED")
	if r.String("donation", "status") != "FAILED" || len(attempts(r)) != 5 || r.String("donation", "failureCode") != "processing_error" {
		t.Fatalf("persistent processing error: %s", r.Raw)
	}
	m.emails(t, id, notify.KindFailure)

	// 500s throughout: FAILED after five attempts, one failure e-mail, no charge. Attempt n
	// sends keys 1 to n, each earlier one replaying its 500: 1 + 2 + 3 + 4 + 5 creates.
	m.sandbox.Script(sandbox.ScriptedFault{Method: "POST", PathPrefix: "/v1/payment_intents", Fault: "500", Count: 15})
	id = m.give(t, c, card, 3400)
	r = m.wait(t, c, id, "FAILED", "SUCCEEDED")
	if r.String("donation", "status") != "FAILED" || len(attempts(r)) != 5 {
		t.Fatalf("five 500s: %s", r.Raw)
	}
	if n := len(m.charges(t, id)); n != 0 {
		t.Fatalf("%d charges for a donation that failed", n)
	}
	m.emails(t, id, notify.KindFailure)
}

// TestASlowProviderChargesOnce: the provider takes longer than STRIPE_TIMEOUT over a charge,
// and goes on with it after the worker has given up on its answer. The retries send the same
// key and meet a 409 while it runs, rather than looking for a PaymentIntent that does not exist
// yet and creating a second one under a new key; the last attempt leaves the donation
// PROCESSING rather than failing it while the charge may still go through, whether that
// attempt met the 409 too or a 429 (which says nothing of the key's running request); and the
// charge's webhook, once it does, settles the donation. One charge, SUCCEEDED.
func TestASlowProviderChargesOnce(t *testing.T) {
	t.Parallel()
	const slow = 2 * time.Second
	for name, tc := range map[string]struct {
		env  []string
		last []sandbox.ScriptedFault
	}{
		"409s to the last attempt": {},
		"a 429 on the last attempt": {env: []string{"CHARGE_MAX_ATTEMPTS=2"},
			last: []sandbox.ScriptedFault{{Method: "POST", PathPrefix: "/v1/payment_intents", Fault: sandbox.FaultError429}}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m := setupMoney(t, append([]string{"STRIPE_TIMEOUT=300ms"}, tc.env...)...)
			c := m.donor(t)
			card := m.addCard(t, c, "pm_card_visa")
			m.sandbox.Script(append([]sandbox.ScriptedFault{{Method: "POST", PathPrefix: "/v1/payment_intents", Fault: sandbox.FaultSlow, Latency: slow}}, tc.last...)...)
			start := time.Now()
			id := m.give(t, c, card, 3500)
			r := m.wait(t, c, id, "SUCCEEDED", "FAILED")
			if r.String("donation", "status") != "SUCCEEDED" {
				t.Fatalf("after a slow charge: %s", r.Raw)
			}
			// Past the slow request's end, so that a second charge would have been made by now.
			time.Sleep(time.Until(start.Add(slow + 500*time.Millisecond)))
			if n := len(m.charges(t, id)); n != 1 {
				t.Fatalf("%d charges for one donation, want 1: %s", n, r.Raw)
			}
			m.emails(t, id, notify.KindReceipt)
		})
	}
}

func TestIdempotencyAndDuplicates(t *testing.T) {
	t.Parallel()
	m := setupMoney(t)
	c := m.donor(t)
	card := m.addCard(t, c, "pm_card_visa")

	key := newKey()
	first := m.submit(t, c, card, 2000, key).NoErrors(t)
	id := first.String("submitDonation", "donation", "id")
	again := m.submit(t, c, card, 2000, key).NoErrors(t)
	if again.String("submitDonation", "donation", "id") != id {
		t.Fatalf("same key gave another donation: %s", again.Raw)
	}
	if r := m.submit(t, c, card, 2100, key); r.Code() != "CONFLICT" {
		t.Fatalf("same key, other amount: %s", r.Raw)
	}
	dup := m.submit(t, c, card, 2000, newKey()).NoErrors(t)
	if dup.Get("submitDonation", "needsConfirmation") != true || dup.String("submitDonation", "duplicateOf", "id") != id || dup.Get("submitDonation", "donation") != nil {
		t.Fatalf("duplicate within 60 s: %s", dup.Raw)
	}
	confirmed := m.submit(t, c, card, 2000, newKey(), map[string]any{"confirmDuplicate": true}).NoErrors(t)
	if got := confirmed.String("submitDonation", "donation", "id"); got == "" || got == id {
		t.Fatalf("confirmDuplicate: %s", confirmed.Raw)
	}
	m.wait(t, c, id, "SUCCEEDED")

	// An earlier gift that FAILED does not count: the donor is retrying.
	declined := m.addCard(t, c, "pm_card_chargeDeclined")
	failed := m.give(t, c, declined, 4400)
	m.wait(t, c, failed, "FAILED")
	retry := m.submit(t, c, card, 4400, newKey()).NoErrors(t)
	if retry.Get("submitDonation", "needsConfirmation") != false {
		t.Fatalf("retry after a failed gift asked for confirmation: %s", retry.Raw)
	}

	// 50 concurrent submits with one key: one donation, one PaymentIntent, one charge.
	key = newKey()
	ids := make(chan string, 50)
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := m.submit(t, c, card, 5000, key)
			ids <- r.String("submitDonation", "donation", "id")
		}()
	}
	wg.Wait()
	close(ids)
	distinct := map[string]bool{}
	for id := range ids {
		distinct[id] = true
	}
	if len(distinct) != 1 || distinct[""] {
		t.Fatalf("50 concurrent submits with one key gave %v", distinct)
	}
	for id := range distinct {
		m.wait(t, c, id, "SUCCEEDED")
		if n := len(m.charges(t, id)); n != 1 {
			t.Fatalf("%d charges", n)
		}
		var pis int
		_ = m.db.Pool.QueryRow(context.Background(), `SELECT count(DISTINCT payment_intent_id) FROM donations WHERE idempotency_key = $1`, key).Scan(&pis)
		if pis != 1 {
			t.Fatalf("%d PaymentIntents", pis)
		}
	}
}

func TestWebhooks(t *testing.T) {
	t.Parallel()
	m := setupMoney(t)
	m.sandbox.SetFaults(sandbox.Faults{WebhookDuplicateRate: 1})
	c := m.donor(t)
	card := m.addCard(t, c, "pm_card_visa")
	id := m.give(t, c, card, 2600)
	m.wait(t, c, id, "SUCCEEDED")
	m.emails(t, id, notify.KindReceipt)

	// Not a POST: 405, naming the method the endpoint takes.
	if resp, err := http.Get(m.srv.url + "/webhooks/stripe"); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodPost {
		t.Errorf("GET /webhooks/stripe: %d, Allow %q; want 405 and POST", resp.StatusCode, resp.Header.Get("Allow"))
	}

	// A forged event: 400, and nothing changes.
	var before int
	_ = m.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM webhook_events`).Scan(&before)
	body := `{"id":"evt_forged","object":"event","api_version":"2023-10-16","type":"payment_intent.succeeded","data":{"object":{"id":"pi_x","object":"payment_intent","status":"succeeded","metadata":{"donation_id":"` + rawID(t, id) + `"}}}}`
	for _, sig := range []string{"t=1,v1=deadbeef", "", fmt.Sprintf("t=%d,v1=%s", time.Now().Unix(), strings.Repeat("ab", 32))} {
		resp, err := http.Post(m.srv.url+"/webhooks/stripe", "application/json", strings.NewReader(body))
		if sig != "" {
			req, _ := http.NewRequest(http.MethodPost, m.srv.url+"/webhooks/stripe", strings.NewReader(body))
			req.Header.Set("Stripe-Signature", sig)
			resp, err = http.DefaultClient.Do(req)
		}
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("forged webhook (%q): %d", sig, resp.StatusCode)
		}
	}
	// A correctly signed but stale event (older than 5 minutes) is refused too.
	stale := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: []byte(body), Secret: m.secret, Timestamp: time.Now().Add(-10 * time.Minute)})
	req, _ := http.NewRequest(http.MethodPost, m.srv.url+"/webhooks/stripe", strings.NewReader(body))
	req.Header.Set("Stripe-Signature", stale.Header)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("stale webhook: %d", resp.StatusCode)
	}
	// Signed, fresh, but with another secret: refused.
	other := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: []byte(body), Secret: "whsec_someone_else", Timestamp: time.Now()})
	req, _ = http.NewRequest(http.MethodPost, m.srv.url+"/webhooks/stripe", strings.NewReader(body))
	req.Header.Set("Stripe-Signature", other.Header)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("webhook signed with another secret: %d", resp.StatusCode)
	}
	var after int
	_ = m.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM webhook_events`).Scan(&after)
	if after != before {
		t.Fatalf("forged webhooks were recorded: %d -> %d", before, after)
	}

	// A signed event delivered twice is handled once.
	for i := 0; i < 2; i++ {
		if code := m.postSigned(t, strings.Replace(body, "evt_forged", "evt_twice", 1), time.Now()); code != http.StatusOK {
			t.Fatalf("signed webhook delivery %d: %d", i+1, code)
		}
	}
	var n int
	_ = m.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM webhook_events WHERE provider_event_id = 'evt_twice'`).Scan(&n)
	if n != 1 {
		t.Fatalf("event recorded %d times", n)
	}

	// An event about a PaymentIntent that is no donation of ours is acknowledged and ignored.
	foreign := strings.NewReplacer("evt_forged", "evt_foreign", rawID(t, id), "not-a-donation").Replace(body)
	if code := m.postSigned(t, foreign, time.Now()); code != http.StatusOK {
		t.Fatalf("foreign event: %d", code)
	}
}

func TestReconcilerFinishesADonationWhoseJobWasLost(t *testing.T) {
	t.Parallel()
	m := setupMoney(t, "RECONCILE_INTERVAL=300ms", "STALE_PENDING=200ms", "STALE_PROCESSING=200ms")
	c := m.donor(t)
	card := m.addCard(t, c, "pm_card_visa")
	me := c.Do(t, `{ me { id } }`, nil).NoErrors(t)
	userID := rawID(t, me.String("me", "id"))

	// A donation recorded while its job was lost (the enqueue after commit failed).
	lost := settlement.New(m.db, nil, lostQueue{}, nil, nil, settlement.Config{})
	res, err := lost.SubmitDonation(context.Background(), userID, giveathon.SubmitDonationInput{
		CharityID: rawID(t, m.charity), AmountCents: 777, PaymentMethodID: rawID(t, card), IdempotencyKey: newKey(),
	})
	if err != nil || res.Donation == nil {
		t.Fatalf("record donation: %v", err)
	}
	id := globalDonationID(res.Donation.ID)
	m.wait(t, c, id, "SUCCEEDED")
	if n := len(m.charges(t, id)); n != 1 {
		t.Fatalf("%d charges", n)
	}
	m.emails(t, id, notify.KindReceipt)

	// A donation left PROCESSING after its charge went through and its worker died: the
	// reconciler reads the PaymentIntent and settles it.
	res, err = lost.SubmitDonation(context.Background(), userID, giveathon.SubmitDonationInput{
		CharityID: rawID(t, m.charity), AmountCents: 888, PaymentMethodID: rawID(t, card), IdempotencyKey: newKey(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := m.db.Pool.Exec(ctx, `UPDATE donations SET status = 'PROCESSING' WHERE id = $1`, res.Donation.ID); err != nil {
		t.Fatal(err)
	}
	id = globalDonationID(res.Donation.ID)
	m.wait(t, c, id, "SUCCEEDED")
	if n := len(m.charges(t, id)); n != 1 {
		t.Fatalf("%d charges", n)
	}
}

func TestHistoryPagesWithoutGapsWhileDonationsArrive(t *testing.T) {
	t.Parallel()
	m := setupMoney(t)
	c := m.donor(t)
	card := m.addCard(t, c, "pm_card_visa")
	for i := 0; i < 7; i++ {
		m.give(t, c, card, 1000+i)
	}
	seen := map[string]bool{}
	var after any
	for page := 0; page < 10; page++ {
		r := c.Do(t, historyOp, map[string]any{"a": after}).NoErrors(t)
		edges := r.Get("me", "donations", "edges").([]any)
		var prev float64 = 1 << 30
		for _, e := range edges {
			node := e.(map[string]any)["node"].(map[string]any)
			if seen[node["id"].(string)] {
				t.Fatalf("donation repeated across pages")
			}
			seen[node["id"].(string)] = true
			// Newest first: amounts were given in rising order.
			if amt := node["amountCents"].(float64); amt > prev {
				t.Fatalf("not newest first")
			} else {
				prev = amt
			}
		}
		// New donations arrive while the donor pages.
		m.give(t, c, card, 2000+page)
		if r.Get("me", "donations", "pageInfo", "hasNextPage") != true {
			break
		}
		after = r.String("me", "donations", "pageInfo", "endCursor")
	}
	if len(seen) != 7 {
		t.Fatalf("paged through %d of the 7 donations that existed at the start", len(seen))
	}
	// Filter by status.
	time.Sleep(100 * time.Millisecond)
	r := c.Do(t, historyOp, map[string]any{"s": "FAILED"}).NoErrors(t)
	if r.Get("me", "donations", "totalCount") != float64(0) {
		t.Fatalf("FAILED filter: %s", r.Raw)
	}
}

func TestOtherDonorsSeeNothing(t *testing.T) {
	t.Parallel()
	m := setupMoney(t)
	a := m.donor(t)
	b := m.donor(t)
	card := m.addCard(t, a, "pm_card_visa")
	id := m.give(t, a, card, 1234)
	if r := b.Do(t, getOp, map[string]any{"id": id}); r.Code() != "NOT_FOUND" || r.Get("donation") != nil {
		t.Fatalf("B read A's donation: %s", r.Raw)
	}
	if r := b.Do(t, getOp, map[string]any{"id": rawID(t, id)}); r.Code() != "NOT_FOUND" {
		t.Fatalf("B read A's donation by raw id: %s", r.Raw)
	}
	if r := b.Do(t, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": id}).NoErrors(t); r.Get("node") != nil {
		t.Fatalf("B read A's donation through node: %s", r.Raw)
	}
	if r := b.Do(t, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": card}).NoErrors(t); r.Get("node") != nil {
		t.Fatalf("B read A's card through node: %s", r.Raw)
	}
	if r := b.Do(t, `mutation($id: ID!) { refreshDonation(id: $id) { status } }`, map[string]any{"id": id}); r.Code() != "NOT_FOUND" {
		t.Fatalf("B refreshed A's donation: %s", r.Raw)
	}
	if r := b.Do(t, `mutation($id: ID!) { removePaymentMethod(id: $id) }`, map[string]any{"id": card}); r.Code() != "NOT_FOUND" {
		t.Fatalf("B removed A's card: %s", r.Raw)
	}
	if r := m.submit(t, b, card, 1000, newKey()); r.Code() != "BAD_USER_INPUT" || r.Field() != "paymentMethodId" {
		t.Fatalf("B gave with A's card: %s", r.Raw)
	}
	if r := m.srv.client.Do(t, getOp, map[string]any{"id": id}); r.Code() != "UNAUTHENTICATED" {
		t.Fatalf("anonymous read: %s", r.Raw)
	}
}

func TestBadDonationInputNamesTheFieldAndWritesNothing(t *testing.T) {
	t.Parallel()
	m := setupMoney(t)
	c := m.donor(t)
	card := m.addCard(t, c, "pm_card_visa")
	removed := m.addCard(t, c, "pm_card_mastercard")
	c.Do(t, `mutation($id: ID!) { removePaymentMethod(id: $id) }`, map[string]any{"id": removed}).NoErrors(t)
	long := strings.Repeat("k", 256)
	for _, tc := range []struct {
		name  string
		in    map[string]any
		field string
	}{
		{"amount 0", map[string]any{"amountCents": 0}, "amountCents"},
		{"amount 99", map[string]any{"amountCents": 99}, "amountCents"},
		{"amount over the max", map[string]any{"amountCents": 10_000_001}, "amountCents"},
		{"negative amount", map[string]any{"amountCents": -500}, "amountCents"},
		{"currency", map[string]any{"currency": "EUR"}, "currency"},
		{"empty key", map[string]any{"idempotencyKey": ""}, "idempotencyKey"},
		{"key with spaces", map[string]any{"idempotencyKey": "bad key"}, "idempotencyKey"},
		{"key too long", map[string]any{"idempotencyKey": long}, "idempotencyKey"},
		{"message too long", map[string]any{"message": strings.Repeat("m", 501)}, "message"},
		{"unknown charity", map[string]any{"charityId": "Q2hhcml0eTowMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDA"}, "charityId"},
		{"charity id of another type", map[string]any{"charityId": card}, "charityId"},
		{"garbage charity id", map[string]any{"charityId": "nope"}, "charityId"},
		{"removed card", map[string]any{"paymentMethodId": removed}, "paymentMethodId"},
		{"garbage card id", map[string]any{"paymentMethodId": "nope"}, "paymentMethodId"},
	} {
		in := map[string]any{"amountCents": 1000, "idempotencyKey": newKey()}
		for k, v := range tc.in {
			in[k] = v
		}
		r := m.submit(t, c, card, 1000, in["idempotencyKey"].(string), in)
		if r.Code() != "BAD_USER_INPUT" || r.Field() != tc.field {
			t.Errorf("%s: want BAD_USER_INPUT on %s, got %s", tc.name, tc.field, r.Raw)
		}
	}
	// An amount that is not a whole number is refused on its path and names its field: a
	// string ("1500" was taken as 1500) by the Int scalar, a fraction or a boolean by
	// GraphQL's coercion of the variables (which said "cannot use string as Int" of 1500.5).
	for _, in := range []any{"1500", 1500.5, true} {
		r := m.submit(t, c, card, 1000, newKey(), map[string]any{"amountCents": in})
		if r.Code() != "BAD_USER_INPUT" || r.Field() != "amountCents" || !strings.Contains(r.Raw, `"amountCents"]`) ||
			!strings.Contains(r.Raw, "whole number") {
			t.Errorf("amountCents %#v: want BAD_USER_INPUT on its path and field, saying it needs a whole number, got %s", in, r.Raw)
		}
	}
	// Nor is a number text: a message of 1e30 was taken as "1e+30".
	if r := m.submit(t, c, card, 1000, newKey(), map[string]any{"message": 1e30}); r.Code() != "BAD_USER_INPUT" || r.Field() != "message" || !strings.Contains(r.Raw, `"message"]`) {
		t.Errorf("a number as the message: want BAD_USER_INPUT on its path and field, got %s", r.Raw)
	}
	// The limits themselves are accepted.
	for _, in := range []map[string]any{
		{"amountCents": 100}, {"amountCents": 10_000_000}, {"idempotencyKey": strings.Repeat("k", 255)},
		{"message": strings.Repeat("m", 500)}, {"currency": "usd", "amountCents": 101},
	} {
		full := map[string]any{"amountCents": 1000, "idempotencyKey": newKey(), "confirmDuplicate": true}
		for k, v := range in {
			full[k] = v
		}
		m.submit(t, c, card, full["amountCents"].(int), full["idempotencyKey"].(string), full).NoErrors(t)
	}
	var n int
	_ = m.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM donations`).Scan(&n)
	if n != 5 {
		t.Fatalf("%d donations written, want only the 5 valid ones", n)
	}
	// Payment method input.
	for _, pm := range []string{"", "card_4242", "pm_" + strings.Repeat("x", 300), "pm_does_not_exist"} {
		r := c.Do(t, addPMOp, map[string]any{"i": map[string]any{"providerPaymentMethodId": pm}})
		if r.Code() != "BAD_USER_INPUT" || r.Field() != "providerPaymentMethodId" {
			t.Errorf("addPaymentMethod(%q): %s", pm, r.Raw)
		}
	}
	if r := c.Do(t, `mutation($id: ID!) { removePaymentMethod(id: $id) }`, map[string]any{"id": removed}); r.Code() != "NOT_FOUND" {
		t.Errorf("removing a removed card: %s", r.Raw)
	}
}

func globalDonationID(id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("Donation:" + id))
}

// TestSplitRoles runs the parts as separate processes would: the sandbox alone, the API
// without workers, and the workers alone.
func TestSplitRoles(t *testing.T) {
	t.Parallel()
	dbURL := testenv.URL(t)
	secret := "whsec_split" + strings.Repeat("y", 24)

	// The sandbox alone: webhooks go to the API, whose address we learn below.
	sandboxAddr := make(chan string, 1)
	sbCtx, stopSandbox := context.WithCancel(context.Background())
	defer stopSandbox()
	apiPort := freePort(t)
	sbProg := &program{stdout: &syncBuffer{}, stderr: &syncBuffer{}, listening: func(a string) { sandboxAddr <- a },
		getenv: envFunc(map[string]string{"SANDBOX_ADDR": "127.0.0.1:0", "STRIPE_WEBHOOK_SECRET": secret,
			"SANDBOX_WEBHOOK_URL": "http://127.0.0.1:" + apiPort + "/webhooks/stripe"})}
	go func() { _ = sbProg.run(sbCtx, []string{"stripe-sandbox"}) }()
	base := "http://" + <-sandboxAddr

	common := map[string]string{"DATABASE_URL": dbURL, "STRIPE_API_BASE": base, "STRIPE_WEBHOOK_SECRET": secret,
		"STRIPE_RATE_LIMIT": "1000", "JOBS_POLL_INTERVAL": "50ms", "LOG_LEVEL": "warn"}
	apiEnv := map[string]string{"HTTP_ADDR": "127.0.0.1:" + apiPort}
	for k, v := range common {
		apiEnv[k] = v
	}
	api := startWith(t, apiEnv, "serve", "--no-workers")

	startWorkers(t, common)
	m := withAPI(t, api)
	c := m.donor(t)
	card := m.addCard(t, c, "pm_card_visa")
	id := m.give(t, c, card, 4200)
	m.wait(t, c, id, "SUCCEEDED")

	resp, err := http.Get(base + "/_sandbox/charges")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ledger struct {
		Count       int   `json:"count"`
		TotalAmount int64 `json:"total_amount"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ledger); err != nil || ledger.Count != 1 || ledger.TotalAmount != 4200 {
		t.Fatalf("ledger: %+v, %v", ledger, err)
	}
}

// startWorkers runs `giveathon work` with env until the test ends, and fails the test if it
// does not stop cleanly.
func startWorkers(t *testing.T, env map[string]string) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	logs := &syncBuffer{}
	go func() {
		done <- (&program{stdout: logs, stderr: logs, getenv: envFunc(env)}).run(ctx, []string{"work"})
	}()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("work: %v\n%s", err, logs)
		}
	})
}

// withAPI returns the money-path helpers over a running API, giving to its first charity.
func withAPI(t *testing.T, api *running) *money {
	t.Helper()
	m := &money{srv: api}
	m.charity = api.client.Do(t, `{ charities(first: 1) { edges { node { id } } } }`, nil).NoErrors(t).String("charities", "edges", 0, "node", "id")
	return m
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// lostQueue loses every charge it is asked to queue.
type lostQueue struct{}

func (lostQueue) Enqueue(context.Context, ...*giveathon.Donation) (int, error) {
	return 0, fmt.Errorf("lost")
}
