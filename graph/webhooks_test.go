package graph_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/graph"
	"github.com/giveathon/giveathon/internal/testenv"
	"github.com/giveathon/giveathon/webhooks"
	"github.com/jackc/pgx/v5"
)

// partnerHeader names the partner (and its key's scopes) a test request acts for: the test
// server puts that Caller in the request's context, as the API key middleware does.
const partnerHeader = "X-Test-Partner"

type asPartner struct{ id, scopes string }

func (p asPartner) RoundTrip(r *http.Request) (*http.Response, error) {
	r.Header.Set(partnerHeader, p.id+"|"+p.scopes)
	return http.DefaultTransport.RoundTrip(r)
}

type queued struct {
	mu  sync.Mutex
	ids []string
}

func (q *queued) Redeliver(_ context.Context, id string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.ids = append(q.ids, id)
	return nil
}

// TestWebhookEndpointsThroughGraphQL: a partner manages its endpoints with WEBHOOKS_MANAGE
// only; bad input names its field; another partner sees none of them (NOT_FOUND, null
// nodes); a rotation answers a new secret; a failed delivery is sent again with the same id.
func TestWebhookEndpointsThroughGraphQL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := testenv.DB(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	keys, _ := webhooks.NewKeyring([]byte(strings.Repeat("k", 32)))
	q := &queued{}
	res := &graph.Resolver{CharityService: d, Logger: logger, Webhooks: &webhooks.Service{DB: d, Keys: keys, Queue: q, Development: true}}
	h := graph.NewHandler(res, graph.Config{Logger: logger, Ready: func(context.Context) error { return nil }, Limits: graph.Limits{MaxComplexity: 500}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id, scopes, ok := strings.Cut(r.Header.Get(partnerHeader), "|"); ok {
			key := &giveathon.APIKey{PartnerID: id}
			for _, s := range strings.Split(scopes, ",") {
				key.Scopes = append(key.Scopes, giveathon.APIScope(s))
			}
			r = r.WithContext(giveathon.NewContextWithCaller(r.Context(), &giveathon.Caller{Partner: &giveathon.Partner{ID: id}, Key: key}))
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	partner := func(name, scopes string) *testenv.Client {
		var id string
		if err := d.Pool.QueryRow(ctx, `INSERT INTO partners (name) VALUES ($1) RETURNING id::text`, name).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return &testenv.Client{URL: srv.URL, HTTP: &http.Client{Transport: asPartner{id, scopes}}}
	}
	a, b := partner("Stream Co", "WEBHOOKS_MANAGE"), partner("Other Co", "WEBHOOKS_MANAGE")
	reader := partner("Reader Co", "DONATIONS_READ")

	const create = `mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { secret endpoint { id url events status } } }`
	r := a.Do(t, create, map[string]any{"i": map[string]any{"url": "http://127.0.0.1:9/hook", "events": []string{"donation.succeeded"}}}).NoErrors(t)
	epID, secret := r.String("createWebhookEndpoint", "endpoint", "id"), r.String("createWebhookEndpoint", "secret")
	if !strings.HasPrefix(secret, "whsec_") || r.String("createWebhookEndpoint", "endpoint", "status") != "enabled" {
		t.Fatalf("created %s", r.Raw)
	}
	for field, in := range map[string]map[string]any{
		"url":    {"url": "ftp://partner.example/", "events": []string{"*"}},
		"events": {"url": "https://partner.example/", "events": []string{"donation.created"}},
	} {
		if r := a.Do(t, create, map[string]any{"i": in}); r.Code() != "BAD_USER_INPUT" || r.Field() != field {
			t.Errorf("bad %s: %s %s", field, r.Code(), r.Raw)
		}
	}
	if r := reader.Do(t, `{ webhookEndpoints { id } }`, nil); r.Code() != "FORBIDDEN" {
		t.Errorf("without WEBHOOKS_MANAGE: %s", r.Raw)
	}
	if r := (&testenv.Client{URL: srv.URL}).Do(t, `{ webhookEndpoints { id } }`, nil); r.Code() != "UNAUTHENTICATED" {
		t.Errorf("without a key: %s", r.Raw)
	}
	if r := b.Do(t, `{ webhookEndpoints { id } }`, nil).NoErrors(t); len(r.Get("webhookEndpoints").([]any)) != 0 {
		t.Errorf("another partner sees %s", r.Raw)
	}
	const update = `mutation($i: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(input: $i) { id events } }`
	if r := b.Do(t, update, map[string]any{"i": map[string]any{"id": epID, "events": []string{"*"}}}); r.Code() != "NOT_FOUND" {
		t.Errorf("another partner's update: %s", r.Raw)
	}
	if r := b.Do(t, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": epID}).NoErrors(t); r.Get("node") != nil {
		t.Errorf("another partner's node: %s", r.Raw)
	}
	if r := a.Do(t, `query($id: ID!) { node(id: $id) { ... on WebhookEndpoint { url } } }`, map[string]any{"id": epID}).NoErrors(t); r.String("node", "url") != "http://127.0.0.1:9/hook" {
		t.Errorf("own node: %s", r.Raw)
	}
	a.Do(t, update, map[string]any{"i": map[string]any{"id": epID, "events": []string{"*", "donation.failed"}}}).NoErrors(t)

	const rotate = `mutation($id: ID!, $h: Int) { rotateWebhookSecret(id: $id, overlapHours: $h) { secret } }`
	if r := a.Do(t, rotate, map[string]any{"id": epID, "h": 169}); r.Code() != "BAD_USER_INPUT" || r.Field() != "overlapHours" {
		t.Errorf("overlap of 169 h: %s", r.Raw)
	}
	if s := a.Do(t, rotate, map[string]any{"id": epID, "h": 1}).NoErrors(t).String("rotateWebhookSecret", "secret"); s == secret || !strings.HasPrefix(s, "whsec_") {
		t.Errorf("rotated secret %q", s)
	}

	// A delivery that failed goes back to pending, for its owner only.
	var rawEndpoint, partnerID, eventID string
	if err := d.Pool.QueryRow(ctx, `SELECT id::text, partner_id::text FROM webhook_endpoints`).Scan(&rawEndpoint, &partnerID); err != nil {
		t.Fatal(err)
	}
	err := d.InTx(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO partner_events (partner_id, type, data, seq) VALUES ($1, 'donation.failed', '{}', 1) RETURNING id::text`,
			partnerID).Scan(&eventID); err != nil {
			return err
		}
		return (&webhooks.Dispatcher{}).Dispatch(ctx, tx, []giveathon.PartnerEvent{{ID: eventID, PartnerID: partnerID, Type: "donation.failed"}})
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Pool.Exec(ctx, `UPDATE webhook_deliveries SET status = 'failed'`); err != nil {
		t.Fatal(err)
	}
	const deliveries = `query($id: ID!) { webhookDeliveries(endpointId: $id) { edges { node { id webhookId status attempts { statusCode } } } } }`
	r = a.Do(t, deliveries, map[string]any{"id": epID}).NoErrors(t)
	dID := r.String("webhookDeliveries", "edges", 0, "node", "id")
	if r.String("webhookDeliveries", "edges", 0, "node", "webhookId") != giveathon.WebhookMessageID(eventID) {
		t.Errorf("deliveries %s", r.Raw)
	}
	if r := b.Do(t, deliveries, map[string]any{"id": epID}); r.Code() != "NOT_FOUND" {
		t.Errorf("another partner's deliveries: %s", r.Raw)
	}
	const redeliver = `mutation($id: ID!) { redeliverWebhook(deliveryId: $id) { status webhookId } }`
	if r := b.Do(t, redeliver, map[string]any{"id": dID}); r.Code() != "NOT_FOUND" {
		t.Errorf("another partner's redelivery: %s", r.Raw)
	}
	if r := a.Do(t, redeliver, map[string]any{"id": dID}).NoErrors(t); r.String("redeliverWebhook", "status") != "pending" || len(q.ids) != 1 {
		t.Errorf("redelivery %s, queued %v", r.Raw, q.ids)
	}

	if r := b.Do(t, `mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }`, map[string]any{"id": epID}); r.Code() != "NOT_FOUND" {
		t.Errorf("another partner's delete: %s", r.Raw)
	}
	a.Do(t, `mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }`, map[string]any{"id": epID}).NoErrors(t)
	if r := a.Do(t, `{ webhookEndpoints { id } }`, nil).NoErrors(t); len(r.Get("webhookEndpoints").([]any)) != 0 {
		t.Errorf("a deleted endpoint is listed: %s", r.Raw)
	}
	var pending int
	_ = d.Pool.QueryRow(ctx, `SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'`).Scan(&pending)
	if pending != 0 {
		t.Errorf("%d deliveries of a deleted endpoint still pending", pending)
	}
}
