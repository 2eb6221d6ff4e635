package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/giveathon/giveathon/internal/testenv"
	"github.com/giveathon/giveathon/payments/sandbox"
)

const (
	donationUpdatedOp = `subscription($id: ID!) { donationUpdated(id: $id) { id status failureCode } }`
	eventTotalsOp     = `subscription { eventTotals { totalCents donationCount
		charityTotals { charity { id } totalCents donationCount } recentDonations { donorName amountCents charity { id } } } }`
	eventOp = `{ event { name open startsAt endsAt goalCents totalCents donationCount
		charityTotals(first: 3) { charity { id name } totalCents donationCount } recentDonations(first: 5) { donorName amountCents } } }`
)

// TestLiveUpdatesReachAnotherProcess runs the API without workers and the workers in a
// process of their own: the worker moves the donation, and the API's subscribers hear of it
// through PostgreSQL's notifications. The re-read timer is set to an hour, so nothing but a
// notice can carry the change.
func TestLiveUpdatesReachAnotherProcess(t *testing.T) {
	t.Parallel()
	dbURL := testenv.URL(t)
	sb := sandbox.New(sandbox.Config{})
	sbSrv := httptest.NewServer(sb)
	t.Cleanup(func() { sbSrv.Close(); sb.Close() })
	secret := "whsec_live" + strings.Repeat("z", 24)
	common := map[string]string{"DATABASE_URL": dbURL, "STRIPE_API_BASE": sbSrv.URL, "STRIPE_WEBHOOK_SECRET": secret,
		"STRIPE_RATE_LIMIT": "1000", "JOBS_POLL_INTERVAL": "50ms", "LOG_LEVEL": "warn", "LIVE_RESYNC_INTERVAL": "1h",
		"RECONCILE_INTERVAL": "1h"}
	api := startWith(t, common, "serve", "--no-workers")
	sb.SetWebhook(api.url+"/webhooks/stripe", secret)

	startWorkers(t, common)
	m := withAPI(t, api)

	// Anyone may watch the totals: nothing raised yet.
	totals := api.client.Subscribe(t, eventTotalsOp, nil, nil)
	if r := totals.Next(t, 10*time.Second).NoErrors(t); r.Get("eventTotals", "totalCents") != float64(0) {
		t.Fatalf("first totals: %s", r.Raw)
	}

	// A donor watches their gift from PENDING to SUCCEEDED.
	c := m.donor(t)
	card := m.addCard(t, c, "pm_card_visa")
	key := newKey()
	r := m.submit(t, c, card, 2500, key, map[string]any{"anonymous": true}).NoErrors(t)
	id := r.String("submitDonation", "donation", "id")
	sub := c.Subscribe(t, donationUpdatedOp, map[string]any{"id": id}, nil)
	first := sub.Next(t, 10*time.Second).NoErrors(t)
	if first.String("donationUpdated", "id") != id {
		t.Fatalf("first push: %s", first.Raw)
	}
	// On a busy machine the workers may settle the gift before the subscription's first read:
	// then that read shows it, and no later push is owed.
	if first.String("donationUpdated", "status") != "SUCCEEDED" {
		sub.Until(t, 30*time.Second, func(r *testenv.Response) bool {
			r.NoErrors(t)
			return r.String("donationUpdated", "status") == "SUCCEEDED"
		})
	}

	// The totals follow, and the public list hides the anonymous donor's name.
	got := totals.Until(t, 30*time.Second, func(r *testenv.Response) bool {
		r.NoErrors(t)
		return r.Get("eventTotals", "totalCents") == float64(2500)
	})
	if got.Get("eventTotals", "donationCount") != float64(1) ||
		got.String("eventTotals", "charityTotals", 0, "charity", "id") != m.charity ||
		got.String("eventTotals", "recentDonations", 0, "donorName") != "Anonymous" {
		t.Fatalf("totals after one gift: %s", got.Raw)
	}

	// A declined gift moves the donation but not the totals; the query agrees with the pushes.
	declined := m.addCard(t, c, "pm_card_chargeDeclined")
	did := m.give(t, c, declined, 700)
	dsub := c.Subscribe(t, donationUpdatedOp, map[string]any{"id": did}, nil)
	failed := dsub.Until(t, 30*time.Second, func(r *testenv.Response) bool {
		return r.NoErrors(t).String("donationUpdated", "status") == "FAILED"
	})
	if failed.String("donationUpdated", "failureCode") == "" {
		t.Fatalf("failed push without a code: %s", failed.Raw)
	}
	ev := api.client.Do(t, eventOp, nil).NoErrors(t)
	if ev.Get("event", "totalCents") != float64(2500) || ev.Get("event", "donationCount") != float64(1) || ev.Get("event", "open") != true {
		t.Fatalf("event after a declined gift: %s", ev.Raw)
	}

	// A stopping server ends its live subscriptions (their connections outlive Shutdown
	// otherwise) and stops cleanly, with subscribers still connected.
	stopped := make(chan error, 1)
	go func() { stopped <- api.stop(t) }()
	if closed, got := totals.Ended(30 * time.Second); !closed {
		t.Fatalf("a subscription outlived the server's stop: %s", got)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("stop with subscribers connected: %v", err)
	}
	if strings.Contains(api.logs.String(), "subscription: read failed") || strings.Contains(api.logs.String(), "closed pool") {
		t.Fatalf("subscriptions read after the pools closed:\n%s", api.logs)
	}
}

func TestSubscriptionsCheckWhoIsAsking(t *testing.T) {
	t.Parallel()
	m := setupMoney(t)
	owner := m.donor(t)
	id := m.give(t, owner, m.addCard(t, owner, "pm_card_visa"), 1500)

	// Signed out: asked to sign in.
	anon := m.srv.client.Subscribe(t, donationUpdatedOp, map[string]any{"id": id}, nil)
	if r := anon.Next(t, 10*time.Second); r.Code() != "UNAUTHENTICATED" {
		t.Fatalf("anonymous subscriber: %s", r.Raw)
	}
	// Another donor: the donation does not exist for them.
	other := m.donor(t)
	s := other.Subscribe(t, donationUpdatedOp, map[string]any{"id": id}, nil)
	if r := s.Next(t, 10*time.Second); r.Code() != "NOT_FOUND" {
		t.Fatalf("other donor: %s", r.Raw)
	}
	// A made-up token is refused when the connection starts.
	if s, err := m.srv.client.As("not-a-token").TrySubscribe(donationUpdatedOp, map[string]any{"id": id}, nil); err == nil {
		defer s.Close()
		if refused, got := s.Ended(10 * time.Second); !refused {
			t.Fatalf("a bad token's connection was not refused: %s", got)
		}
		if code, reason := s.CloseStatus(); code != 4403 || !strings.Contains(reason, "session") {
			t.Errorf("a bad token's connection was closed with %d %q, want 4403 and the reason", code, reason)
		}
	}
	// The owner through the session cookie, as the browser does (the upgrade carries it).
	token := owner.Token
	cookie := http.Header{"Cookie": {"giveathon_session=" + token}, "Origin": {m.srv.url}}
	viaCookie := m.srv.client.Subscribe(t, donationUpdatedOp, map[string]any{"id": id}, cookie)
	if r := viaCookie.Next(t, 10*time.Second).NoErrors(t); r.String("donationUpdated", "id") != id {
		t.Fatalf("owner by cookie: %s", r.Raw)
	}
	// A page of another site may not use the cookie: coder/websocket refuses the upgrade.
	evil := http.Header{"Cookie": {"giveathon_session=" + token}, "Origin": {"http://evil.example"}}
	if s, err := m.srv.client.TrySubscribe(donationUpdatedOp, map[string]any{"id": id}, evil); err == nil {
		s.Close()
		t.Fatal("a cross-site page opened a websocket with the donor's cookie")
	}
}

// TestSigningOutEndsTheDonorsSubscriptions: the stream of a donation stops with the session
// that opened it (checked at each re-read; here every 200 ms).
func TestSigningOutEndsTheDonorsSubscriptions(t *testing.T) {
	t.Parallel()
	m := setupMoney(t, "LIVE_RESYNC_INTERVAL=200ms")
	c := m.donor(t)
	id := m.give(t, c, m.addCard(t, c, "pm_card_visa"), 1200)
	sub := c.Subscribe(t, donationUpdatedOp, map[string]any{"id": id}, nil)
	sub.Next(t, 10*time.Second).NoErrors(t)
	c.Do(t, `mutation { logout }`, nil).NoErrors(t)
	// Pushes of the gift's own progress may come first.
	sub.WaitEnded(t, 10*time.Second)
}

func TestDonationsOnlyInsideTheEventWindow(t *testing.T) {
	t.Parallel()
	opens := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	m := setupMoney(t, "EVENT_STARTS_AT="+opens.Format(time.RFC3339), "EVENT_NAME=Winter Giving")
	c := m.donor(t)
	card := m.addCard(t, c, "pm_card_visa")
	r := m.submit(t, c, card, 1000, newKey())
	if r.Code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, "Winter Giving has not started yet") {
		t.Fatalf("submit before the event: %s", r.Raw)
	}
	var n int
	if err := m.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM donations`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("donations written before the event: %d, %v", n, err)
	}
	ev := m.srv.client.Do(t, eventOp, nil).NoErrors(t)
	if ev.Get("event", "open") != false || ev.String("event", "name") != "Winter Giving" ||
		ev.String("event", "endsAt") != opens.Add(72*time.Hour).Format(time.RFC3339) {
		t.Fatalf("event before it opens: %s", ev.Raw)
	}
}

func TestReconcilerCorrectsTheEventTotals(t *testing.T) {
	t.Parallel()
	m := setupMoney(t)
	c := m.donor(t)
	id := m.give(t, c, m.addCard(t, c, "pm_card_visa"), 3100)
	m.wait(t, c, id, "SUCCEEDED")
	ctx := context.Background()
	// Someone books a wrong figure by hand (or a bug does): the reconciler puts it right.
	if _, err := m.db.Pool.Exec(ctx, `UPDATE event_totals SET total_cents = total_cents + 999, donation_count = donation_count + 2`); err != nil {
		t.Fatal(err)
	}
	fixes, err := m.db.ReconcileEventTotals(ctx)
	if err != nil || len(fixes) != 1 || fixes[0].Cents != -999 || fixes[0].Donations != -2 {
		t.Fatalf("fixes: %+v, %v", fixes, err)
	}
	if again, err := m.db.ReconcileEventTotals(ctx); err != nil || len(again) != 0 {
		t.Fatalf("second run: %+v, %v", again, err)
	}
	// The event query reads through a short cache: wait past it.
	time.Sleep(300 * time.Millisecond)
	if ev := m.srv.client.Do(t, eventOp, nil).NoErrors(t); ev.Get("event", "totalCents") != float64(3100) {
		t.Fatalf("event after reconciling: %s", ev.Raw)
	}
}

// TestAFullPageWithEveryFieldFitsTheDefaultLimits: the schema allows 100 per page, so the
// default complexity limit must let a full page of every field through.
func TestAFullPageWithEveryFieldFitsTheDefaultLimits(t *testing.T) {
	t.Parallel()
	srv := start(t, map[string]string{"DATABASE_URL": testenv.URL(t), "LOG_LEVEL": "warn"})
	r := srv.client.Do(t, `{ charities(first: 100, search: "") { totalCount
		edges { cursor node { id slug name description ein active } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } }
		event { name startsAt endsAt open goalCents totalCents donationCount
			charityTotals(first: 100) { charity { id slug name description ein active } totalCents donationCount }
			recentDonations(first: 50) { donorName amountCents currency settledAt charity { id name } } } }`, nil)
	r.NoErrors(t)
}

// TestTheWebAppIsServedCompressed: the app's page (or, in a binary built without it, the page
// that says how to build it) goes out gzipped to a browser that accepts it.
func TestTheWebAppIsServedCompressed(t *testing.T) {
	t.Parallel()
	srv := start(t, map[string]string{"DATABASE_URL": testenv.URL(t), "LOG_LEVEL": "warn"})
	req, _ := http.NewRequest(http.MethodGet, srv.url+"/give", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Fatalf("GET /give: %d %v", resp.StatusCode, resp.Header)
	}
}
