package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/internal/gqlclient"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// A share of the gifts comes through a partner (a streaming platform, say): its API key gives
// for its own donors, and its webhook endpoint, run here, fails a share of first deliveries
// (500, 503 with Retry-After, a connection dropped). Every event the partner is owed must
// arrive, signed, under one webhook-id per event, and its stream must replay with no gap.

const (
	partnerSubmitOp = `mutation($i: PartnerSubmitDonationInput!) { partnerSubmitDonation(input: $i) { donation { id } needsConfirmation } }`
	partnerNextOp   = `query($id: ID!) { partnerDonation(id: $id) { status } }`
	partnerEventsOp = `query($a: String) { partnerEvents(first: 500, after: $a) { edges { cursor node { sequence id type } } pageInfo { hasNextPage endCursor } } }`
)

// partnerRun is the partner's side of a run: its key, its endpoint and what the endpoint got.
type partnerRun struct {
	key string
	id  string
	// verifier is the reference Standard Webhooks verifier, with the endpoint's secret.
	verifier *standardwebhooks.Webhook
	srv      *http.Server

	mu sync.Mutex
	// got holds the first body seen under each webhook-id; tries counts deliveries per id.
	got   map[string]webhookGot
	tries map[string]int
	// badSignatures counts deliveries the endpoint's secret does not verify; failedFirst the
	// first tries it failed on purpose.
	badSignatures, failedFirst int
}

type webhookGot struct {
	typ, donation string
}

// setupPartner registers the partner, its key and its webhook endpoint (all events).
func (r *runner) setupPartner(ctx context.Context) error {
	p := &partnerRun{got: map[string]webhookGot{}, tries: map[string]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { r.receive(w, req) }),
		ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	r.partner = p

	var created struct{ CreatePartner struct{ ID string } }
	if err := gqlclient.Retry(ctx, time.Minute, func(ctx context.Context) error {
		return r.do(ctx, r.adminToken, `mutation($i: CreatePartnerInput!) { createPartner(input: $i) { id } }`,
			map[string]any{"i": map[string]any{"name": "Chaos Streams"}}, &created)
	}); err != nil {
		return fmt.Errorf("create the partner: %w", err)
	}
	p.id = created.CreatePartner.ID
	var key struct{ CreateApiKey struct{ Secret string } }
	if err := gqlclient.Retry(ctx, time.Minute, func(ctx context.Context) error {
		return r.do(ctx, r.adminToken, `mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret } }`,
			map[string]any{"i": map[string]any{"partnerId": p.id, "scopes": []string{"DONATIONS_WRITE", "DONATIONS_READ", "WEBHOOKS_MANAGE"}}}, &key)
	}); err != nil {
		return fmt.Errorf("create the partner's key: %w", err)
	}
	p.key = key.CreateApiKey.Secret
	var ep struct{ CreateWebhookEndpoint struct{ Secret string } }
	if err := gqlclient.Retry(ctx, time.Minute, func(ctx context.Context) error {
		return r.do(ctx, p.key, `mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { secret } }`,
			map[string]any{"i": map[string]any{"url": "http://" + ln.Addr().String() + "/hooks", "events": []string{"*"}}}, &ep)
	}); err != nil {
		return fmt.Errorf("register the partner's endpoint: %w", err)
	}
	p.verifier, err = standardwebhooks.NewWebhook(ep.CreateWebhookEndpoint.Secret)
	if err != nil {
		return fmt.Errorf("the endpoint's secret is not whsec_ and base64: %w", err)
	}
	r.progress("partner, key and webhook endpoint at %s", ln.Addr())
	return nil
}

// receive is the partner's endpoint: it checks the signature as the Standard Webhooks
// verifiers do, fails a share of first tries, and records what arrived.
func (r *runner) receive(w http.ResponseWriter, req *http.Request) {
	p := r.partner
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	id := req.Header.Get("webhook-id")
	signed := p.verifier.Verify(body, req.Header) == nil
	p.mu.Lock()
	p.tries[id]++
	first := p.tries[id] == 1
	fail := first && r.float() < r.o.webhookFail
	if fail {
		p.failedFirst++
	}
	if !signed {
		p.badSignatures++
	}
	p.mu.Unlock()
	if fail {
		switch r.intn(3) {
		case 0:
			w.WriteHeader(http.StatusInternalServerError)
		case 1:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			// The connection dropped without an answer.
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return
				}
			}
			w.WriteHeader(http.StatusBadGateway)
		}
		return
	}
	var msg struct {
		Type string `json:"type"`
		Data struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &msg); err != nil || !signed {
		// A partner refuses what it cannot verify; counted above.
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	if prev, ok := p.got[id]; !ok {
		p.got[id] = webhookGot{typ: msg.Type, donation: rawID(msg.Data.ID)}
	} else if prev.typ != msg.Type || prev.donation != rawID(msg.Data.ID) {
		// One webhook-id for two different events: counted by the check.
		p.got[id+"#"+strconv.Itoa(p.tries[id])] = webhookGot{typ: msg.Type, donation: rawID(msg.Data.ID)}
	}
	p.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// partnerSubmission makes submission i a gift through the partner: one of a few dozen of the
// partner's donors, a card that succeeds or declines, an amount no other gift of the run has
// (so the 60 s duplicate window never asks to confirm).
func (r *runner) partnerSubmission(i int, key string) submission {
	pm := "pm_card_visa"
	if r.float() < r.o.declineRate {
		pm = "pm_card_chargeDeclined"
	}
	n := max(1, r.o.donors/4)
	return submission{
		partner: true,
		key:     key,
		input: map[string]any{"donor": map[string]any{"email": fmt.Sprintf("fan-%d-%d@example.org", r.o.seed, r.intn(n)), "name": "Chaos Fan"},
			"charityId": r.charities[r.intn(len(r.charities))], "amountCents": 100 + i, "providerPaymentMethodId": pm,
			"idempotencyKey": key, "partnerReference": key},
		double: r.float() < r.o.doubleSend,
	}
}

// checkPartner compares the partner's events with what its endpoint got and what its stream
// replays: every event owed (by the donations' outcomes, and every event recorded) arrived
// under one webhook-id, and the stream numbers them 1..N.
func (r *runner) checkPartner(ctx context.Context, res *result) error {
	p := r.partner
	if p == nil {
		return nil
	}
	p.srv.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	res.partnerGifts = int(r.partnerAcks.Load())
	res.webhookBadSignatures = p.badSignatures
	res.webhookFailedFirst = p.failedFirst
	received := map[string]int{} // "<donation>.<type>" -> distinct webhook-ids
	ids := map[string]bool{}
	for id, g := range p.got {
		base, _, again := strings.Cut(id, "#")
		if again {
			res.webhookDuplicatedIDs++
			fmt.Fprintf(r.log, "chaos: webhook-id %s carried two different events\n", base)
			continue
		}
		ids[id] = true
		received[g.donation+"."+g.typ]++
	}
	for k, n := range received {
		if n > 1 && !strings.HasPrefix(k, ".") {
			res.webhookDuplicatedIDs += n - 1
			fmt.Fprintf(r.log, "chaos: event %s arrived under %d webhook-ids\n", k, n)
		}
	}
	// What the outcomes owe the partner.
	rows, err := r.pool.Query(ctx, `SELECT id::text, status FROM donations WHERE partner_id IS NOT NULL`)
	if err != nil {
		return fmt.Errorf("read the partner's gifts: %w", err)
	}
	owed := map[string][]string{"SUCCEEDED": {"donation.succeeded"}, "FAILED": {"donation.failed"},
		"REFUNDED": {"donation.succeeded", "donation.refunded"}}
	for rows.Next() {
		var id, status string
		if err := rows.Scan(&id, &status); err != nil {
			rows.Close()
			return err
		}
		for _, typ := range owed[status] {
			if received[id+"."+typ] == 0 {
				res.webhooksLost++
				fmt.Fprintf(r.log, "chaos: WEBHOOK LOST: %s of %s (%s) never arrived\n", typ, id, status)
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	// Every event recorded, whatever its kind, arrived too.
	var events []string
	rows, err = r.pool.Query(ctx, `SELECT id::text FROM partner_events`)
	if err != nil {
		return fmt.Errorf("read the partner's events: %w", err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		id = giveathon.WebhookMessageID(id)
		events = append(events, id)
		if !ids[id] {
			res.webhooksLost++
			fmt.Fprintf(r.log, "chaos: WEBHOOK LOST: event %s was never delivered\n", id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	res.partnerEvents = len(events)

	// The stream from the start: 1..N, each event once.
	var after any
	var seen int64
	for {
		var out struct {
			PartnerEvents struct {
				Edges []struct {
					Cursor string
					Node   struct {
						Sequence int64
						ID, Type string
					}
				}
				PageInfo struct {
					HasNextPage bool
					EndCursor   string
				}
			}
		}
		if err := gqlclient.Retry(ctx, time.Minute, func(ctx context.Context) error {
			return r.do(ctx, p.key, partnerEventsOp, map[string]any{"a": after}, &out)
		}); err != nil {
			return fmt.Errorf("replay the partner's events: %w", err)
		}
		for _, e := range out.PartnerEvents.Edges {
			if e.Node.Sequence != seen+1 {
				res.streamGaps++
				fmt.Fprintf(r.log, "chaos: the stream went from %d to %d\n", seen, e.Node.Sequence)
			}
			seen = e.Node.Sequence
		}
		if !out.PartnerEvents.PageInfo.HasNextPage || len(out.PartnerEvents.Edges) == 0 {
			break
		}
		after = out.PartnerEvents.PageInfo.EndCursor
	}
	if seen != int64(len(events)) {
		res.streamGaps += int(abs(int64(len(events)) - seen))
		fmt.Fprintf(r.log, "chaos: the stream replays %d events; %d were recorded\n", seen, len(events))
	}
	return nil
}
