package graph_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/auth"
	"github.com/giveathon/giveathon/db"
	"github.com/giveathon/giveathon/graph"
	"github.com/giveathon/giveathon/internal/testenv"
	"github.com/giveathon/giveathon/settlement"
)

// partnerBundle is the GraphQL server with partners' fields. The request's partner is put in
// its context from a test header (the API keys' authentication is tested on its own): what is
// tested here is what a partner, once authenticated, may see.
type partnerBundle struct {
	db  *db.DB
	url string
}

func setupPartners(t *testing.T) *partnerBundle {
	t.Helper()
	d := testenv.DB(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := settlement.New(d, nil, nil, nil, logger, settlement.Config{})
	res := &graph.Resolver{Auth: auth.NewService(d, logger), CharityService: d, Logger: logger, DonationService: svc,
		PartnerGifts: &settlement.Partners{Service: svc, Gifts: d}, Refunds: svc, PaymentMethodService: paymentMethods{d}}
	h := graph.NewHandler(res, graph.Config{Logger: logger, Ready: func(ctx context.Context) error { return nil },
		Limits: graph.Limits{}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id := r.Header.Get("X-Test-Partner"); id != "" {
			c := &giveathon.Caller{Partner: &giveathon.Partner{ID: id}, Key: &giveathon.APIKey{PartnerID: id,
				Scopes: []giveathon.APIScope{giveathon.ScopeDonationsRead, giveathon.ScopeDonationsWrite}}}
			r = r.WithContext(giveathon.NewContextWithCaller(r.Context(), c))
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return &partnerBundle{db: d, url: srv.URL}
}

// paymentMethods reads cards from the database (what the Donation's paymentMethod needs).
type paymentMethods struct{ *db.DB }

func (paymentMethods) CreateSetupIntent(context.Context, *giveathon.User) (*giveathon.SetupIntent, error) {
	return nil, nil
}

func (paymentMethods) AddPaymentMethod(context.Context, *giveathon.User, giveathon.AddPaymentMethodInput) (*giveathon.PaymentMethod, error) {
	return nil, nil
}

func (paymentMethods) RemovePaymentMethod(context.Context, *giveathon.User, string) error { return nil }

// as posts an operation as a partner.
func (b *partnerBundle) as(t *testing.T, partnerID, query string, vars map[string]any) *testenv.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.url+"/graphql", jsonBody(t, map[string]any{"query": query, "variables": vars}))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Test-Partner", partnerID)
	return (&testenv.Client{URL: b.url}).Send(t, req)
}

func (b *partnerBundle) partner(t *testing.T) string {
	t.Helper()
	var id string
	if err := b.db.Pool.QueryRow(context.Background(), `INSERT INTO partners (name) VALUES ('P') RETURNING id::text`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// sequenced writes the partner's events with sequence numbers from..to.
func (b *partnerBundle) sequenced(t *testing.T, partnerID string, from, to int) {
	t.Helper()
	if _, err := b.db.Pool.Exec(context.Background(), `INSERT INTO partner_events (partner_id, type, data, seq, total_cents, total_count)
		SELECT $1, 'donation.succeeded', jsonb_build_object('amountCents', 100, 'n', s), s, s * 100, s FROM generate_series($2::int8, $3::int8) s;
		`, partnerID, from, to); err != nil {
		t.Fatal(err)
	}
	if _, err := b.db.Pool.Exec(context.Background(), `UPDATE partners SET last_seq = $2::int8, total_cents = $2::int8 * 100, total_count = $2::int8 WHERE id = $1`,
		partnerID, to); err != nil {
		t.Fatal(err)
	}
}

const eventsOp = `query($a: String, $f: Int) { partnerEvents(after: $a, first: $f) {
	edges { cursor node { sequence id type data timestamp } } pageInfo { hasNextPage endCursor } } }`

// TestPartnerEventsPageFromACursor: partnerEvents pages in sequence order from any cursor,
// refuses a cursor that is no sequence number, shows a partner only its own events, and
// totalsCheckpoint gives the totals at a sequence number.
func TestPartnerEventsPageFromACursor(t *testing.T) {
	t.Parallel()
	b := setupPartners(t)
	p, other := b.partner(t), b.partner(t)
	b.sequenced(t, p, 1, 5)
	r := b.as(t, p, eventsOp, map[string]any{"f": 2}).NoErrors(t)
	if r.String("partnerEvents", "edges", 1, "cursor") != "2" || r.Get("partnerEvents", "pageInfo", "hasNextPage") != true {
		t.Fatalf("first page: %s", r.Raw)
	}
	r = b.as(t, p, eventsOp, map[string]any{"a": "2", "f": 10}).NoErrors(t)
	edges, _ := r.Get("partnerEvents", "edges").([]any)
	if len(edges) != 3 || r.String("partnerEvents", "edges", 0, "cursor") != "3" || r.Get("partnerEvents", "pageInfo", "hasNextPage") != false {
		t.Fatalf("after 2: %s", r.Raw)
	}
	if id := r.String("partnerEvents", "edges", 0, "node", "id"); len(id) != 36 || id[:4] != "msg_" {
		t.Errorf("event id %q is not a webhook-id", id)
	}
	for _, bad := range []string{"abc", "-1", "1.5"} {
		if r := b.as(t, p, eventsOp, map[string]any{"a": bad}); r.Code() != "BAD_USER_INPUT" || r.Field() != "after" {
			t.Errorf("after %q: %s", bad, r.Raw)
		}
	}
	if r := b.as(t, p, eventsOp, map[string]any{"f": 501}); r.Code() != "BAD_USER_INPUT" {
		t.Errorf("first 501: %s", r.Raw)
	}
	if r := b.as(t, other, eventsOp, nil).NoErrors(t); len(r.Get("partnerEvents", "edges").([]any)) != 0 {
		t.Errorf("another partner sees events: %s", r.Raw)
	}
	const checkpointOp = `query($s: SafeInt) { totalsCheckpoint(sequence: $s) { sequence totalCents donationCount } }`
	for seq, want := range map[any]string{nil: "5 500 5", 3: "3 300 3", 0: "0 0 0"} {
		r := b.as(t, p, checkpointOp, map[string]any{"s": seq}).NoErrors(t)
		got := fmt.Sprint(r.Get("totalsCheckpoint", "sequence"), " ", r.Get("totalsCheckpoint", "totalCents"), " ", r.Get("totalsCheckpoint", "donationCount"))
		if got != want {
			t.Errorf("checkpoint at %v: %s, want %s", seq, got, want)
		}
	}
	if r := b.as(t, p, checkpointOp, map[string]any{"s": 6}); r.Code() != "BAD_USER_INPUT" {
		t.Errorf("checkpoint beyond the last: %s", r.Raw)
	}
	if r := (&testenv.Client{URL: b.url}).Do(t, eventsOp, nil); r.Code() != "UNAUTHENTICATED" {
		t.Errorf("without a key: %s", r.Raw)
	}
}

// TestPartnerEventsSubscriptionReplaysThenGoesLive: the subscription sends the events after its
// cursor in order, then the ones sequenced later as they come.
func TestPartnerEventsSubscriptionReplaysThenGoesLive(t *testing.T) {
	t.Parallel()
	b := setupPartners(t)
	p := b.partner(t)
	b.sequenced(t, p, 1, 3)
	sub := (&testenv.Client{URL: b.url}).Subscribe(t, `subscription($a: String) { partnerEvents(after: $a) { sequence type } }`,
		map[string]any{"a": "1"}, http.Header{"X-Test-Partner": {p}})
	next := func(want int) {
		t.Helper()
		r := sub.Next(t, 10*time.Second).NoErrors(t)
		if got := r.Get("partnerEvents", "sequence"); fmt.Sprint(got) != strconv.Itoa(want) {
			t.Fatalf("got %s, want sequence %d", r.Raw, want)
		}
	}
	next(2)
	next(3)
	b.sequenced(t, p, 4, 5)
	next(4)
	next(5)
}

// TestPartnerSeesOnlyItsOwnGifts: a partner reads its gift by the Donation's id, with the
// donation's own fields (attempts, card); another partner gets null, and so does a node lookup
// by it.
func TestPartnerSeesOnlyItsOwnGifts(t *testing.T) {
	t.Parallel()
	b := setupPartners(t)
	p, other := b.partner(t), b.partner(t)
	don := testenv.NewDonor(t, b.db)
	dn := don.Donation(t, b.db, giveathon.StatusProcessing, 1234)
	if _, err := b.db.Pool.Exec(context.Background(), `UPDATE donations SET partner_id = $2, partner_reference = 'ref-1' WHERE id = $1`, dn.ID, p); err != nil {
		t.Fatal(err)
	}
	gid := base64.RawURLEncoding.EncodeToString([]byte("Donation:" + dn.ID))
	const op = `query($id: ID!) { partnerDonation(id: $id) { id partnerReference donorEmail amountCents status
		donation { id attempts { attemptNo } paymentMethod { last4 } } } }`
	r := b.as(t, p, op, map[string]any{"id": gid}).NoErrors(t)
	if r.String("partnerDonation", "partnerReference") != "ref-1" || r.String("partnerDonation", "donation", "id") != gid ||
		r.String("partnerDonation", "donation", "paymentMethod", "last4") != "4242" {
		t.Fatalf("own gift: %s", r.Raw)
	}
	own := r.String("partnerDonation", "id")
	if r := b.as(t, other, op, map[string]any{"id": gid}).NoErrors(t); r.Get("partnerDonation") != nil {
		t.Errorf("another partner sees it: %s", r.Raw)
	}
	const nodeOp = `query($id: ID!) { node(id: $id) { id ... on PartnerDonation { amountCents } } }`
	if r := b.as(t, p, nodeOp, map[string]any{"id": own}).NoErrors(t); r.String("node", "id") != own {
		t.Errorf("node for its partner: %s", r.Raw)
	}
	if r := b.as(t, other, nodeOp, map[string]any{"id": own}).NoErrors(t); r.Get("node") != nil {
		t.Errorf("node for another partner: %s", r.Raw)
	}
	const listOp = `query($f: PartnerDonationFilter) { partnerDonations(first: 5, filter: $f) { edges { node { id } } } }`
	for filter, n := range map[string]int{"ref-1": 1, "ref-2": 0} {
		r := b.as(t, p, listOp, map[string]any{"f": map[string]any{"partnerReference": filter}}).NoErrors(t)
		if got := len(r.Get("partnerDonations", "edges").([]any)); got != n {
			t.Errorf("filter %s: %d gifts, want %d", filter, got, n)
		}
	}
	if r := b.as(t, other, listOp, nil).NoErrors(t); len(r.Get("partnerDonations", "edges").([]any)) != 0 {
		t.Errorf("another partner lists it: %s", r.Raw)
	}
}

func jsonBody(t *testing.T, v any) io.Reader {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(b)
}
