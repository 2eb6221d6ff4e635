package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"
)

// postSigned posts a webhook signed with the server's secret at ts and returns the status.
func (m *money) postSigned(t *testing.T, payload string, ts time.Time) int {
	t.Helper()
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: []byte(payload), Secret: m.secret, Timestamp: ts})
	req, _ := http.NewRequest(http.MethodPost, m.srv.url+"/webhooks/stripe", strings.NewReader(string(signed.Payload)))
	req.Header.Set("Stripe-Signature", signed.Header)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestWebhookAboutAnotherPaymentMovesNothing sends correctly signed events that name a donation
// waiting for 3-D Secure but carry another PaymentIntent, another amount, another currency or
// another customer: none moves the donation or counts in the totals. An event signed with a
// timestamp in the future is refused outright.
func TestWebhookAboutAnotherPaymentMovesNothing(t *testing.T) {
	t.Parallel()
	m := setupMoney(t)
	c := m.donor(t)
	card := m.addCard(t, c, "pm_card_authenticationRequired")
	id := m.give(t, c, card, 4321)
	m.wait(t, c, id, "REQUIRES_ACTION")
	var pi, customer string
	if err := m.db.Pool.QueryRow(context.Background(), `SELECT d.payment_intent_id, pm.provider_customer_id
		FROM donations d JOIN payment_methods pm ON pm.id = d.payment_method_id WHERE d.id = $1`, rawID(t, id)).Scan(&pi, &customer); err != nil {
		t.Fatal(err)
	}
	total := func() float64 {
		return c.Do(t, `{ event { totalCents } }`, nil).NoErrors(t).Get("event", "totalCents").(float64)
	}
	status := func() string {
		return c.Do(t, getOp, map[string]any{"id": id}).NoErrors(t).String("donation", "status")
	}
	before := total()
	event := func(evt, piID string, amount, currency, cus string) string {
		return `{"id":"` + evt + `","object":"event","api_version":"2023-10-16","type":"payment_intent.succeeded","data":{"object":{` +
			`"id":"` + piID + `","object":"payment_intent","status":"succeeded","amount":` + amount + `,"currency":"` + currency +
			`","customer":"` + cus + `","metadata":{"donation_id":"` + rawID(t, id) + `"}}}}`
	}
	for name, payload := range map[string]string{
		"another PaymentIntent": event("evt_other_pi", "pi_someone_else", "4321", "usd", customer),
		"another amount":        event("evt_one_cent", pi, "1", "usd", customer),
		"another currency":      event("evt_eur", pi, "4321", "eur", customer),
		"another customer":      event("evt_other_cus", pi, "4321", "usd", "cus_someone_else"),
	} {
		if code := m.postSigned(t, payload, time.Now()); code != http.StatusOK {
			t.Fatalf("%s: %d", name, code)
		}
		if got := status(); got != "REQUIRES_ACTION" {
			t.Fatalf("an event with %s moved the donation to %s", name, got)
		}
	}
	if future := m.postSigned(t, event("evt_future", pi, "4321", "usd", customer), time.Now().Add(time.Hour)); future != http.StatusBadRequest {
		t.Fatalf("an event signed an hour ahead: %d", future)
	}
	// Two timestamps, the signature made with the future one: refused too.
	future := time.Now().Add(time.Hour)
	payload := event("evt_two_stamps", pi, "4321", "usd", customer)
	req, _ := http.NewRequest(http.MethodPost, m.srv.url+"/webhooks/stripe", strings.NewReader(payload))
	req.Header.Set("Stripe-Signature", fmt.Sprintf("t=%d,t=%d,v1=%s", time.Now().Unix(), future.Unix(),
		hex.EncodeToString(webhook.ComputeSignature(future, []byte(payload), m.secret))))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("an event with a present and a future timestamp: %d", resp.StatusCode)
	}
	if got := status(); got != "REQUIRES_ACTION" || total() != before {
		t.Fatalf("after the refused events: %s, totals %v -> %v", got, before, total())
	}

	// The donation's own PaymentIntent, amount, currency and customer: it moves.
	if code := m.postSigned(t, event("evt_own", pi, "4321", "usd", customer), time.Now()); code != http.StatusOK {
		t.Fatalf("own event: %d", code)
	}
	m.wait(t, c, id, "SUCCEEDED")
	// The totals are read through a snapshot that may be a moment old.
	for deadline := time.Now().Add(5 * time.Second); total() != before+4321; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("totals %v -> %v", before, total())
		}
	}
}
