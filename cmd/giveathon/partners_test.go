package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/giveathon/giveathon/notify"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

const (
	createEndpointOp = `mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { secret endpoint { id } } }`
	partnerSubmitOp  = `mutation($i: PartnerSubmitDonationInput!) { partnerSubmitDonation(input: $i) { needsConfirmation donation { id status } } }`
	partnerGiftOp    = `query($id: ID!) { partnerDonation(id: $id) { id status partnerReference donorEmail } }`
	partnerGiftsOp   = `{ partnerDonations(first: 10) { edges { node { id } } } }`
	partnerEventsOp  = `query($a: String) { partnerEvents(first: 10, after: $a) { edges { cursor node { sequence id type } } } }`
	deliveriesOp     = `query($e: ID!) { webhookDeliveries(endpointId: $e) { edges { node { webhookId status attemptCount attempts { statusCode } } } } }`
)

// hook is one delivery a partner's endpoint received.
type hook struct {
	at     time.Time
	header http.Header
	body   []byte
}

// TestPartnerIntegrationEndToEnd is the partners issue's contract through the real program
// with the sandbox: an admin makes a partner and a key; the partner registers an endpoint,
// gives, and gets donation.succeeded signed so that the reference verifier accepts it, the
// first delivery failing and retried about 5 s later under the same webhook-id; the receipt
// goes to the partner's donor; another partner's key cannot see the gift; the stream replays
// from a cursor; the delivery log shows both tries; a revoked key is refused.
func TestPartnerIntegrationEndToEnd(t *testing.T) {
	t.Parallel()
	m := setupAdmin(t)
	var mu sync.Mutex
	var got []hook
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, hook{at: time.Now(), header: r.Header.Clone(), body: body})
		first := len(got) == 1
		mu.Unlock()
		if first {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer recv.Close()

	a := m.admin.Do(t, createPartnerOp, map[string]any{"i": map[string]any{"name": "Stream Co"}}).NoErrors(t).String("createPartner", "id")
	b := m.admin.Do(t, createPartnerOp, map[string]any{"i": map[string]any{"name": "Other Co"}}).NoErrors(t).String("createPartner", "id")
	all := []string{"DONATIONS_WRITE", "DONATIONS_READ", "WEBHOOKS_MANAGE"}
	ka, kaID := m.issueKey(t, a, all, nil)
	kb, _ := m.issueKey(t, b, all, nil)

	r := ka.Do(t, createEndpointOp, map[string]any{"i": map[string]any{"url": recv.URL + "/hook", "events": []string{"donation.succeeded"}}}).NoErrors(t)
	secret, endpoint := r.String("createWebhookEndpoint", "secret"), r.String("createWebhookEndpoint", "endpoint", "id")
	fan := "fan-" + newKey() + "@example.org"
	r = ka.Do(t, partnerSubmitOp, map[string]any{"i": map[string]any{"donor": map[string]any{"email": fan, "name": "A Fan"},
		"charityId": m.charity, "amountCents": 1500, "providerPaymentMethodId": "pm_card_visa", "idempotencyKey": newKey(),
		"partnerReference": "order-42"}}).NoErrors(t)
	gift := r.String("partnerSubmitDonation", "donation", "id")
	if r.String("partnerSubmitDonation", "donation", "status") != "PENDING" {
		t.Fatalf("partnerSubmitDonation: %s", r.Raw)
	}

	deadline := time.Now().Add(45 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 2 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	mu.Lock()
	hooks := append([]hook(nil), got...)
	mu.Unlock()
	if len(hooks) != 2 {
		t.Fatalf("%d deliveries in 45 s, want the first (failed) and its retry", len(hooks))
	}
	if id := hooks[0].header.Get("webhook-id"); id == "" || id != hooks[1].header.Get("webhook-id") {
		t.Errorf("webhook-id %q then %q: a retry keeps its id", id, hooks[1].header.Get("webhook-id"))
	}
	// The schedule's second try is 5 s after the first, give or take its jitter.
	if gap := hooks[1].at.Sub(hooks[0].at); gap < 4*time.Second || gap > 10*time.Second {
		t.Errorf("the retry came %s after the first try, want about 5 s", gap)
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(hooks[1].body, hooks[1].header); err != nil {
		t.Errorf("the reference verifier refuses the delivery: %v", err)
	}
	if err := wh.Verify(append(hooks[1].body, ' '), hooks[1].header); err == nil {
		t.Error("the reference verifier accepts a changed body: the test proves nothing")
	}
	var msg struct {
		Type string
		Data struct {
			ID, PartnerReference, Status string
			AmountCents                  int
		}
	}
	if err := json.Unmarshal(hooks[1].body, &msg); err != nil || msg.Type != "donation.succeeded" || msg.Data.ID != gift ||
		msg.Data.PartnerReference != "order-42" || msg.Data.Status != "SUCCEEDED" || msg.Data.AmountCents != 1500 {
		t.Errorf("the webhook's body: %s (%v)", hooks[1].body, err)
	}

	// The receipt goes to the partner's donor, without a link to a history they do not have.
	if msgs := m.mail.WaitForMessages(t, "message-id:"+notify.MessageID(rawID(t, gift), notify.KindReceipt), 1, 20*time.Second); len(msgs) != 1 ||
		!strings.Contains(strings.ToLower(strings.Join(msgs[0].To, ",")), fan) {
		t.Errorf("the receipt: %+v, want one to %s", msgs, fan)
	} else if c := m.mail.Message(t, msgs[0].ID); !strings.Contains(c.Text, "15.00") || strings.Contains(c.Text+c.HTML, "/history") {
		t.Errorf("the partner's donor's receipt links to a history:\n%s", c.Text)
	}

	// The delivery log has both tries.
	r = ka.Do(t, deliveriesOp, map[string]any{"e": endpoint}).NoErrors(t)
	if r.String("webhookDeliveries", "edges", 0, "node", "status") != "delivered" ||
		r.Get("webhookDeliveries", "edges", 0, "node", "attempts", 0, "statusCode") != float64(500) ||
		r.Get("webhookDeliveries", "edges", 0, "node", "attempts", 1, "statusCode") != float64(200) {
		t.Errorf("the delivery log: %s", r.Raw)
	}

	// Another partner sees nothing of it.
	if r := kb.Do(t, partnerGiftOp, map[string]any{"id": gift}); r.Get("partnerDonation") != nil {
		t.Errorf("another partner's key reads the gift: %s", r.Raw)
	}
	if r := kb.Do(t, partnerGiftsOp, nil).NoErrors(t); len(r.Get("partnerDonations", "edges").([]any)) != 0 {
		t.Errorf("another partner's list: %s", r.Raw)
	}
	if r := ka.Do(t, partnerGiftOp, map[string]any{"id": gift}).NoErrors(t); r.String("partnerDonation", "partnerReference") != "order-42" ||
		r.String("partnerDonation", "donorEmail") != fan {
		t.Errorf("the partner's own gift: %s", r.Raw)
	}

	// The stream replays from a cursor; its event id is the webhook-id.
	r = ka.Do(t, partnerEventsOp, nil).NoErrors(t)
	edges, _ := r.Get("partnerEvents", "edges").([]any)
	if len(edges) == 0 || r.String("partnerEvents", "edges", 0, "node", "id") != hooks[1].header.Get("webhook-id") {
		t.Fatalf("partnerEvents: %s", r.Raw)
	}
	if r2 := ka.Do(t, partnerEventsOp, map[string]any{"a": r.String("partnerEvents", "edges", 0, "cursor")}).NoErrors(t); len(r2.Get("partnerEvents", "edges").([]any)) != len(edges)-1 {
		t.Errorf("partnerEvents after the first: %s", r2.Raw)
	}

	// A revoked key is refused.
	m.admin.Do(t, revokeAPIKeyOp, map[string]any{"id": kaID}).NoErrors(t)
	if r := ka.Do(t, partnerGiftsOp, nil); r.Code() != "UNAUTHENTICATED" {
		t.Errorf("a revoked key: %s", r.Raw)
	}
}

// TestARefusedPartnerGiftLeavesNoDonor: a partner's gift to a charity that takes no gifts is
// refused on charityId before a donor is made for it: no account with the donor's e-mail and
// name, and no customer at the provider, is left behind.
func TestARefusedPartnerGiftLeavesNoDonor(t *testing.T) {
	t.Parallel()
	m := setupAdmin(t)
	p := m.admin.Do(t, createPartnerOp, map[string]any{"i": map[string]any{"name": "Refused Co"}}).NoErrors(t).String("createPartner", "id")
	k, _ := m.issueKey(t, p, []string{"DONATIONS_WRITE"}, nil)
	fan := "refused-" + newKey() + "@example.org"
	r := k.Do(t, partnerSubmitOp, map[string]any{"i": map[string]any{"donor": map[string]any{"email": fan, "name": "A Fan"},
		"charityId": "Q2hhcml0eTowMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDA", "amountCents": 1500,
		"providerPaymentMethodId": "pm_card_visa", "idempotencyKey": newKey()}})
	if r.Code() != "BAD_USER_INPUT" || r.Field() != "charityId" {
		t.Fatalf("a gift to no charity: %s, want BAD_USER_INPUT on charityId", r.Raw)
	}
	var accounts int
	if err := m.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM users WHERE email = $1`, fan).Scan(&accounts); err != nil || accounts != 0 {
		t.Errorf("%d accounts for the refused gift's donor (%v), want 0", accounts, err)
	}
}

// TestPartnerRequestsRacingUnderOneKeyRecordOneDonor: eight requests at once under one key,
// each naming another donor: one gift is made, the others are CONFLICT, and only its donor
// is recorded (each racing request recorded its donor before the gift's transaction refused it).
func TestPartnerRequestsRacingUnderOneKeyRecordOneDonor(t *testing.T) {
	t.Parallel()
	m := setupAdmin(t)
	p := m.admin.Do(t, createPartnerOp, map[string]any{"i": map[string]any{"name": "Race Co"}}).NoErrors(t).String("createPartner", "id")
	k, _ := m.issueKey(t, p, []string{"DONATIONS_WRITE"}, nil)
	key, run := newKey(), newKey()
	var wg sync.WaitGroup
	codes := make([]string, 8)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := k.Do(t, partnerSubmitOp, map[string]any{"i": map[string]any{
				"donor":     map[string]any{"email": fmt.Sprintf("race-%s-%d@example.org", run, i), "name": "A Fan"},
				"charityId": m.charity, "amountCents": 1500, "providerPaymentMethodId": "pm_card_visa", "idempotencyKey": key}})
			codes[i] = r.Code()
		}()
	}
	wg.Wait()
	made := 0
	for _, c := range codes {
		switch c {
		case "":
			made++
		case "CONFLICT":
		default:
			t.Errorf("a racing request answered %s", c)
		}
	}
	var accounts int
	if err := m.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM users WHERE email LIKE $1`, "race-"+run+"-%").Scan(&accounts); err != nil {
		t.Fatal(err)
	}
	if made != 1 || accounts != 1 {
		t.Errorf("%d gifts made and %d donors recorded by 8 racing requests under one key (%v), want 1 and 1", made, accounts, codes)
	}
}
