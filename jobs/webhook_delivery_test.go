package jobs_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/db"
	"github.com/giveathon/giveathon/internal/testenv"
	"github.com/giveathon/giveathon/jobs"
	"github.com/giveathon/giveathon/webhooks"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// received is one request the test receiver got.
type received struct {
	at      time.Time
	headers http.Header
	body    []byte
}

// receiver is a partner's endpoint: answer gives the status (and headers) of the nth request.
type receiver struct {
	mu     sync.Mutex
	got    []received
	answer func(n int, w http.ResponseWriter) int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.got = append(rc.got, received{at: time.Now(), headers: r.Header.Clone(), body: body})
	n := len(rc.got)
	rc.mu.Unlock()
	w.WriteHeader(rc.answer(n, w))
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// notices records the endpoints whose partner was told they were disabled.
type notices struct {
	mu   sync.Mutex
	list []string
}

func (n *notices) EndpointDisabled(_ context.Context, ep *giveathon.WebhookEndpoint, reason string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.list = append(n.list, ep.ID+": "+reason)
	return nil
}

func (n *notices) all() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.list...)
}

// hooks is a partner with one endpoint on a local receiver, and River workers sending its
// webhooks.
type hooks struct {
	d        *db.DB
	j        *jobs.Jobs
	partner  string
	endpoint *giveathon.WebhookEndpoint
	secret   string
	recv     *receiver
	notices  *notices
}

func setupHooks(t *testing.T, answer func(n int, w http.ResponseWriter) int, cfg jobs.Config) *hooks {
	t.Helper()
	ctx := context.Background()
	h := &hooks{d: testenv.DB(t), recv: &receiver{answer: answer}, notices: &notices{}}
	srv := httptest.NewServer(h.recv)
	t.Cleanup(srv.Close)
	if err := h.d.Pool.QueryRow(ctx, `INSERT INTO partners (name, contact_email) VALUES ('Stream Co', 'ops@stream.example') RETURNING id::text`).Scan(&h.partner); err != nil {
		t.Fatal(err)
	}
	master := make([]byte, 32)
	_, _ = rand.Read(master)
	keys, err := webhooks.NewKeyring(master)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	sender := &webhooks.Sender{DB: h.d, Keys: keys, Client: webhooks.NewClient(true), Notify: h.notices, Logger: logger}
	cfg.FetchPollInterval = 100 * time.Millisecond
	cfg.ReconcileInterval = time.Hour
	h.j, err = jobs.New(h.d.Pool, jobs.Deps{DB: h.d, Webhooks: sender, Logger: logger}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.j.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = h.j.Stop(stopCtx)
	})
	svc := &webhooks.Service{DB: h.d, Keys: keys, Queue: h.j, Development: true}
	if h.endpoint, h.secret, err = svc.CreateEndpoint(ctx, h.partner, srv.URL+"/hook", []string{giveathon.EventDonationSucceeded}); err != nil {
		t.Fatal(err)
	}
	return h
}

// event writes a sequenced event of the partner and dispatches it as the sequencer does: in
// its transaction, its jobs queued there too (queue false: no job, as when the jobs live in
// another database). It returns the delivery's id.
func (h *hooks) event(t *testing.T, typ string, queue bool) (giveathon.PartnerEvent, string) {
	t.Helper()
	ctx := context.Background()
	ev := giveathon.PartnerEvent{PartnerID: h.partner, Type: typ, Data: []byte(`{"partnerReference":"order-7","amountCents":1500}`)}
	d := &webhooks.Dispatcher{}
	if queue {
		d.EnqueueTx = h.j.EnqueueWebhooksTx
	}
	err := h.d.InTx(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `UPDATE partners SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq`, h.partner).Scan(&ev.Seq); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO partner_events (partner_id, type, data, seq, total_cents, total_count)
			VALUES ($1, $2, $3, $4, 0, 0) RETURNING id::text, created_at`, h.partner, typ, ev.Data, ev.Seq).Scan(&ev.ID, &ev.CreatedAt); err != nil {
			return err
		}
		return d.Dispatch(ctx, tx, []giveathon.PartnerEvent{ev})
	})
	if err != nil {
		t.Fatal(err)
	}
	var id string
	_ = h.d.Pool.QueryRow(ctx, `SELECT coalesce((SELECT id::text FROM webhook_deliveries WHERE event_id = $1), '')`, ev.ID).Scan(&id)
	return ev, id
}

func (h *hooks) delivery(t *testing.T, id string) *giveathon.WebhookDelivery {
	t.Helper()
	d, err := h.d.FindWebhookDelivery(context.Background(), h.partner, id)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestWebhookRetriedWithTheSameID: an endpoint that fails the first try (500) gets the retry
// about 5 s later with the same webhook-id, signed so that the reference library accepts it;
// the delivery is delivered, with both tries in its log. An event type the endpoint did not
// ask for makes no delivery.
func TestWebhookRetriedWithTheSameID(t *testing.T) {
	t.Parallel()
	h := setupHooks(t, func(n int, _ http.ResponseWriter) int {
		if n == 1 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	}, jobs.Config{})
	ev, id := h.event(t, giveathon.EventDonationSucceeded, true)
	if _, other := h.event(t, giveathon.EventDonationFailed, true); other != "" {
		t.Errorf("a delivery of an event type the endpoint did not ask for")
	}
	testenv.Eventually(t, 40*time.Second, 100*time.Millisecond, "the retry", func() bool { return len(h.recv.requests()) >= 2 })
	got := h.recv.requests()
	if gap := got[1].at.Sub(got[0].at); gap < 4*time.Second || gap > 16*time.Second {
		t.Errorf("the retry came %s after the first try, want about 5 s", gap)
	}
	want := giveathon.WebhookMessageID(ev.ID)
	wh, err := standardwebhooks.NewWebhook(h.secret)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range got[:2] {
		if r.headers.Get("webhook-id") != want {
			t.Errorf("try %d: webhook-id %q, want %q", i+1, r.headers.Get("webhook-id"), want)
		}
		if err := wh.Verify(r.body, r.headers); err != nil {
			t.Errorf("try %d: the reference library refuses it: %v", i+1, err)
		}
		if !bytes.Contains(r.body, []byte(`"type":"donation.succeeded"`)) || !bytes.Contains(r.body, []byte("order-7")) {
			t.Errorf("try %d: body %s", i+1, r.body)
		}
	}
	testenv.Eventually(t, 10*time.Second, 100*time.Millisecond, "delivered", func() bool { return h.delivery(t, id).Status == giveathon.DeliveryDelivered })
	d := h.delivery(t, id)
	if d.AttemptCount != 2 || len(d.AttemptLog) != 2 || *d.AttemptLog[0].StatusCode != 500 || *d.AttemptLog[1].StatusCode != 200 ||
		d.AttemptLog[0].Error == nil || d.AttemptLog[1].Error != nil || d.DeliveredAt == nil {
		t.Errorf("delivery %+v, attempts %+v", d, d.AttemptLog)
	}
	time.Sleep(time.Second)
	if n := len(h.recv.requests()); n != 2 {
		t.Errorf("%d requests after delivery, want 2", n)
	}
}

// TestWebhook410DisablesTheEndpoint: 410 Gone fails the delivery at once, disables the
// endpoint and tells its partner once.
func TestWebhook410DisablesTheEndpoint(t *testing.T) {
	t.Parallel()
	h := setupHooks(t, func(int, http.ResponseWriter) int { return http.StatusGone }, jobs.Config{})
	_, id := h.event(t, giveathon.EventDonationSucceeded, true)
	testenv.Eventually(t, 20*time.Second, 100*time.Millisecond, "the delivery failed", func() bool { return h.delivery(t, id).Status == giveathon.DeliveryFailed })
	ep, err := h.d.FindWebhookEndpoint(context.Background(), h.partner, h.endpoint.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ep.Status != giveathon.EndpointDisabled || ep.DisabledReason == nil || *ep.DisabledReason != "the endpoint answered 410 Gone" {
		t.Errorf("endpoint %s (%v)", ep.Status, ep.DisabledReason)
	}
	if n := h.notices.all(); len(n) != 1 {
		t.Errorf("partner told %v, want once", n)
	}
	// Nothing more goes to a disabled endpoint: the next event's delivery is held, untried,
	// for when it is turned back on.
	_, held := h.event(t, giveathon.EventDonationSucceeded, true)
	time.Sleep(time.Second) // its job ran
	if held == "" || h.delivery(t, held).Status != giveathon.DeliveryPending || h.delivery(t, held).AttemptCount != 0 {
		t.Errorf("the delivery of an event while the endpoint is disabled: %q", held)
	}
	if n := len(h.recv.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

// TestWebhook429SnoozesForRetryAfter: a 429 with Retry-After holds the delivery that long
// (a snooze, not a failed try of the schedule), and the try is in the log.
func TestWebhook429SnoozesForRetryAfter(t *testing.T) {
	t.Parallel()
	h := setupHooks(t, func(_ int, w http.ResponseWriter) int {
		w.Header().Set("Retry-After", "120")
		return http.StatusTooManyRequests
	}, jobs.Config{})
	_, id := h.event(t, giveathon.EventDonationSucceeded, true)
	testenv.Eventually(t, 20*time.Second, 100*time.Millisecond, "the first try recorded", func() bool { return h.delivery(t, id).AttemptCount == 1 })
	var state string
	var scheduled time.Time
	var attempt int
	var meta []byte
	testenv.Eventually(t, 10*time.Second, 100*time.Millisecond, "the job snoozed", func() bool {
		err := h.d.Pool.QueryRow(context.Background(), `SELECT state::text, scheduled_at, attempt, metadata FROM river_job
			WHERE kind = 'webhook_delivery' AND args->>'delivery_id' = $1`, id).Scan(&state, &scheduled, &attempt, &meta)
		return err == nil && state == "scheduled"
	})
	if wait := time.Until(scheduled); wait < 100*time.Second || wait > 121*time.Second || attempt != 0 || !strings.Contains(string(meta), `"snoozes": 1`) && !strings.Contains(string(meta), `"snoozes":1`) {
		t.Errorf("job %s in %s, attempt %d, metadata %s; want snoozed for 120 s", state, wait, attempt, meta)
	}
	d := h.delivery(t, id)
	if d.Status != giveathon.DeliveryPending || d.NextAttemptAt == nil || time.Until(*d.NextAttemptAt) < 100*time.Second ||
		*d.AttemptLog[0].StatusCode != 429 {
		t.Errorf("delivery %+v", d)
	}
}

// TestWebhookGivenUpDisablesAndTells: a delivery that fails its last try is given up, its
// endpoint disabled (failing since when, how many given up) and the partner told once.
func TestWebhookGivenUpDisablesAndTells(t *testing.T) {
	t.Parallel()
	h := setupHooks(t, func(int, http.ResponseWriter) int { return http.StatusBadGateway }, jobs.Config{WebhookRetryScale: 0.0001})
	_, id := h.event(t, giveathon.EventDonationSucceeded, false)
	// The schedule's last two tries: the delivery has made eight (the count is the delivery's,
	// whatever its job's attempts).
	if _, err := h.d.Pool.Exec(context.Background(), `UPDATE webhook_deliveries SET attempts = 8 WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if _, err := h.j.Client.Insert(context.Background(), jobs.WebhookDeliveryArgs{DeliveryID: id}, nil); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, 100*time.Millisecond, "the delivery given up", func() bool { return h.delivery(t, id).Status == giveathon.DeliveryFailed })
	d := h.delivery(t, id)
	ep, err := h.d.FindWebhookEndpoint(context.Background(), h.partner, h.endpoint.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.AttemptCount != 10 || ep.Status != giveathon.EndpointDisabled || ep.DisabledReason == nil ||
		!strings.HasPrefix(*ep.DisabledReason, "failing since ") || !strings.HasSuffix(*ep.DisabledReason, ", 1 deliveries given up") {
		t.Errorf("delivery %d tries; endpoint %s (%v)", d.AttemptCount, ep.Status, ep.DisabledReason)
	}
	if n := h.notices.all(); len(n) != 1 {
		t.Errorf("partner told %v, want once", n)
	}
}

// TestWebhookSweepQueuesLostDeliveries: a pending delivery more than a minute overdue with
// no job (lost, or never queued) is queued by the sweep and delivered, once.
func TestWebhookSweepQueuesLostDeliveries(t *testing.T) {
	t.Parallel()
	h := setupHooks(t, func(int, http.ResponseWriter) int { return http.StatusNoContent }, jobs.Config{WebhookSweepInterval: time.Second})
	_, id := h.event(t, giveathon.EventDonationSucceeded, false)
	_, recent := h.event(t, giveathon.EventDonationSucceeded, false)
	if _, err := h.d.Pool.Exec(context.Background(), `UPDATE webhook_deliveries SET next_attempt_at = now() - interval '2 minutes' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, 100*time.Millisecond, "the lost delivery delivered", func() bool { return h.delivery(t, id).Status == giveathon.DeliveryDelivered })
	time.Sleep(2 * time.Second)
	if n := len(h.recv.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
	if d := h.delivery(t, recent); d.Status != giveathon.DeliveryPending || d.AttemptCount != 0 {
		t.Errorf("a delivery not yet overdue was swept: %+v", d)
	}
}

// TestWebhookEventsWhileDisabledGoOutWhenEnabled: an event of a disabled endpoint's types gets
// its delivery, held (no try while the endpoint is off); turned back on, the endpoint gets it
// from the sweep. Before, such an event had no delivery at all: only partnerEvents had it.
func TestWebhookEventsWhileDisabledGoOutWhenEnabled(t *testing.T) {
	t.Parallel()
	h := setupHooks(t, func(int, http.ResponseWriter) int { return http.StatusNoContent }, jobs.Config{WebhookSweepInterval: time.Second})
	ctx := context.Background()
	off, on := false, true
	if _, err := h.d.UpdateWebhookEndpoint(ctx, h.partner, h.endpoint.ID, db.WebhookEndpointUpdate{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	_, id := h.event(t, giveathon.EventDonationSucceeded, true)
	if id == "" {
		t.Fatal("an event while the endpoint was disabled got no delivery")
	}
	time.Sleep(2 * time.Second) // its job ran, and the sweep
	if n := len(h.recv.requests()); n != 0 || h.delivery(t, id).Status != giveathon.DeliveryPending {
		t.Fatalf("while disabled: %d requests, delivery %+v", n, h.delivery(t, id))
	}
	if _, err := h.d.UpdateWebhookEndpoint(ctx, h.partner, h.endpoint.ID, db.WebhookEndpointUpdate{Enabled: &on}); err != nil {
		t.Fatal(err)
	}
	// The sweep takes deliveries a minute overdue: this one is made so rather than waited for.
	if _, err := h.d.Pool.Exec(ctx, `UPDATE webhook_deliveries SET next_attempt_at = now() - interval '2 minutes' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, 100*time.Millisecond, "the held delivery delivered", func() bool { return h.delivery(t, id).Status == giveathon.DeliveryDelivered })
}

// TestWebhookRescuedJobWaitsByTheDeliverysTries: River rescues the job of a process that died
// mid-try and asks when to run it again. The wait follows the tries the delivery recorded (a
// try cut short by the crash is not the endpoint's failure), not River's attempts, and a
// delivery that was delivered before the crash ends at once instead of lingering.
func TestWebhookRescuedJobWaitsByTheDeliverysTries(t *testing.T) {
	t.Parallel()
	h := setupHooks(t, func(int, http.ResponseWriter) int { return http.StatusNoContent }, jobs.Config{})
	_, id := h.event(t, giveathon.EventDonationSucceeded, false)
	w := &jobs.WebhookDeliveryWorker{Sender: &webhooks.Sender{DB: h.d}, Scale: 1}
	// The second River attempt of a delivery with one recorded try: the next is 5 s away, not
	// the 5 minutes of a second failure.
	if _, err := h.d.Pool.Exec(context.Background(), `UPDATE webhook_deliveries SET attempts = 1 WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	job := &river.Job[jobs.WebhookDeliveryArgs]{JobRow: &rivertype.JobRow{Attempt: 2}, Args: jobs.WebhookDeliveryArgs{DeliveryID: id}}
	if wait := time.Until(w.NextRetry(job)); wait < 4*time.Second || wait > 6*time.Second {
		t.Errorf("a rescued job with one try recorded waits %s, want about 5 s", wait)
	}
	// Delivered before the crash: run at once (and end).
	if _, err := h.d.Pool.Exec(context.Background(), `UPDATE webhook_deliveries SET status = 'delivered' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if next := w.NextRetry(job); next.IsZero() || time.Until(next) > time.Second {
		t.Errorf("a rescued job of a delivered delivery runs at %v, want now", next)
	}
}

// TestWebhookJobWaitsTheFirstStepWhenTheDatabaseFails: a job whose run failed on the database
// (a restart) cannot read the delivery's tries when River asks when to run it again. Its
// River attempts count the database's failures too, so they are no stand-in for the tries: the
// job comes back after the first step (5 s), not after the step of its attempt (the fifth
// attempt's would be 5 hours), and its next run counts the delivery's tries.
func TestWebhookJobWaitsTheFirstStepWhenTheDatabaseFails(t *testing.T) {
	t.Parallel()
	down := testenv.Open(t, testenv.URL(t))
	down.Close()
	w := &jobs.WebhookDeliveryWorker{Sender: &webhooks.Sender{DB: down}, Scale: 1}
	job := &river.Job[jobs.WebhookDeliveryArgs]{JobRow: &rivertype.JobRow{Attempt: 5}, Args: jobs.WebhookDeliveryArgs{DeliveryID: uuid.NewString()}}
	if wait := time.Until(w.NextRetry(job)); wait < 4*time.Second || wait > 6*time.Second {
		t.Errorf("a job whose database is down waits %s, want about 5 s", wait)
	}
}
