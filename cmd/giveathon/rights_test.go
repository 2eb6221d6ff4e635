package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/internal/testenv"
	"github.com/giveathon/giveathon/notify"
	"github.com/giveathon/giveathon/payments/sandbox"
)

const (
	exportOp = `{ exportMyData }`
	deleteOp = `mutation($p: String!) { deleteMyAccount(password: $p) }`
	meOp     = `{ me { email name paymentMethods { last4 } donations(first: 5) { totalCount } } }`
	password = "correct horse battery"
)

// rightsDonor is a donor whose e-mail and id the test knows.
type rightsDonor struct {
	c     *testenv.Client
	id    string
	email string
}

func (m *money) namedDonor(t *testing.T) rightsDonor {
	t.Helper()
	email := fmt.Sprintf("rights-%d@example.org", time.Now().UnixNano())
	r := m.srv.client.Do(t, registerOp, creds(email)).NoErrors(t)
	return rightsDonor{c: m.srv.client.As(r.String("register", "token")), id: rawID(t, r.String("register", "user", "id")), email: email}
}

// sandboxGet reads one of the sandbox's objects as the API key sees it.
func (m *money) sandboxGet(t *testing.T, path string, out any) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("Authorization", "Bearer "+sandbox.SecretKey)
	w := httptest.NewRecorder()
	m.sandbox.ServeHTTP(w, req)
	if err := json.Unmarshal(w.Body.Bytes(), out); err != nil || w.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, w.Code, w.Body)
	}
}

// detached reports whether the sandbox holds the provider's payment method detached.
func (m *money) detached(t *testing.T, pm string) bool {
	t.Helper()
	var got struct {
		Customer *string `json:"customer"`
	}
	m.sandboxGet(t, "/v1/payment_methods/"+pm, &got)
	return got.Customer == nil
}

func TestDonorsOwnData(t *testing.T) {
	t.Parallel()
	m := setupMoney(t)
	ctx := context.Background()
	d := m.namedDonor(t)
	visa := m.addCard(t, d.c, "pm_card_visa")
	m.addCard(t, d.c, "pm_card_mastercard")
	gift := m.give(t, d.c, visa, 2500)
	m.wait(t, d.c, gift, "SUCCEEDED")
	m.emails(t, gift, notify.KindReceipt)
	if r := m.submit(t, d.c, visa, 700, newKey(), map[string]any{"message": "For Grandma"}).NoErrors(t); r.String("submitDonation", "donation", "id") != "" {
		m.wait(t, d.c, r.String("submitDonation", "donation", "id"), "SUCCEEDED")
		m.emails(t, r.String("submitDonation", "donation", "id"), notify.KindReceipt)
	} else {
		t.Fatalf("second gift: %s", r.Raw)
	}
	var providerIDs []string
	rows, err := m.db.Pool.Query(ctx, `SELECT provider_payment_method_id FROM payment_methods WHERE user_id = $1`, d.id)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		providerIDs = append(providerIDs, id)
	}
	if len(providerIDs) != 2 {
		t.Fatalf("%d cards in the database, want 2", len(providerIDs))
	}

	t.Run("export", func(t *testing.T) {
		if r := m.srv.client.Do(t, exportOp, nil); r.Code() != "UNAUTHENTICATED" {
			t.Errorf("export signed out: %s, want UNAUTHENTICATED", r.Raw)
		}
		doc := d.c.Do(t, exportOp, nil).NoErrors(t).String("exportMyData")
		var x giveathon.DataExport
		if err := json.Unmarshal([]byte(doc), &x); err != nil {
			t.Fatalf("the export is not JSON: %v\n%s", err, doc)
		}
		if x.Account.ID != d.id || x.Account.Email != d.email || x.Account.Name != "Ada" || x.ExportedAt.IsZero() {
			t.Errorf("account %+v, exported at %v", x.Account, x.ExportedAt)
		}
		if len(x.PaymentMethods) != 2 || x.PaymentMethods[0].Brand != "visa" || x.PaymentMethods[0].Last4 != "4242" ||
			x.PaymentMethods[1].Last4 != "4444" {
			t.Errorf("cards %+v", x.PaymentMethods)
		}
		for _, id := range append(providerIDs, "cus_", "pi_") {
			if strings.Contains(doc, id) {
				t.Errorf("the export shows the provider's id %q:\n%s", id, doc)
			}
		}
		if len(x.Donations) != 2 {
			t.Fatalf("%d donations, want 2:\n%s", len(x.Donations), doc)
		}
		first, second := x.Donations[0], x.Donations[1]
		if first.ID != rawID(t, gift) || first.AmountCents != 2500 || first.Status != giveathon.StatusSucceeded ||
			first.CharityName == "" || first.Card != "visa 4242" || first.SettledAt == nil {
			t.Errorf("first donation %+v", first)
		}
		if second.Message != "For Grandma" || second.AmountCents != 700 {
			t.Errorf("second donation %+v", second)
		}
	})

	t.Run("a donation still being charged holds the deletion", func(t *testing.T) {
		o := m.namedDonor(t)
		card := m.addCard(t, o.c, "pm_card_authenticationRequired")
		m.wait(t, o.c, m.give(t, o.c, card, 1500), "REQUIRES_ACTION")
		if r := o.c.Do(t, deleteOp, map[string]any{"p": password}); r.Code() != "CONFLICT" {
			t.Fatalf("delete with a donation in REQUIRES_ACTION: %s, want CONFLICT", r.Raw)
		}
		if o.c.Do(t, meOp, nil).NoErrors(t).String("me", "email") != o.email {
			t.Error("the account changed")
		}
	})

	second := d.c.As(m.srv.client.Do(t, loginOp, login(d.email)).NoErrors(t).String("login", "token"))

	t.Run("a wrong password changes nothing", func(t *testing.T) {
		if r := d.c.Do(t, deleteOp, map[string]any{"p": "not the password"}); r.Code() != "BAD_USER_INPUT" || r.Field() != "password" {
			t.Fatalf("delete with a wrong password: %s, want BAD_USER_INPUT on password", r.Raw)
		}
		r := d.c.Do(t, meOp, nil).NoErrors(t)
		if r.String("me", "email") != d.email || r.String("me", "name") != "Ada" {
			t.Errorf("me after a refused deletion: %s", r.Raw)
		}
		if cards, _ := r.Get("me", "paymentMethods").([]any); len(cards) != 2 {
			t.Errorf("cards after a refused deletion: %s", r.Raw)
		}
		for _, pm := range providerIDs {
			if m.detached(t, pm) {
				t.Errorf("card %s detached by a refused deletion", pm)
			}
		}
	})

	t.Run("delete", func(t *testing.T) {
		socket := d.c.Subscribe(t, `subscription { eventTotals { totalCents } }`, nil, nil)
		socket.Next(t, 10*time.Second).NoErrors(t)
		if r := d.c.Do(t, deleteOp, map[string]any{"p": password}).NoErrors(t); r.Get("deleteMyAccount") != true {
			t.Fatalf("deleteMyAccount: %s", r.Raw)
		}
		// Every session ended, this one and the other.
		for _, c := range []*testenv.Client{d.c, second} {
			if r := c.Do(t, meOp, nil); r.Code() != "UNAUTHENTICATED" && r.Get("me") != nil {
				t.Errorf("me after the deletion: %s", r.Raw)
			}
		}
		// The donor's open socket is closed.
		socket.WaitEnded(t, 5*time.Second)
		if r := d.c.Do(t, deleteOp, map[string]any{"p": password}); r.Code() != "UNAUTHENTICATED" {
			t.Errorf("a second deletion: %s, want UNAUTHENTICATED", r.Raw)
		}
		if r := m.srv.client.Do(t, loginOp, login(d.email)); r.Code() != "UNAUTHENTICATED" {
			t.Errorf("sign-in after the deletion: %s, want UNAUTHENTICATED", r.Raw)
		}
		for _, pm := range providerIDs {
			if !m.detached(t, pm) {
				t.Errorf("card %s is still attached at the provider", pm)
			}
		}

		var email, name, customer string
		if err := m.db.Pool.QueryRow(ctx, `SELECT email, name, provider_customer_id FROM users WHERE id = $1`, d.id).
			Scan(&email, &name, &customer); err != nil {
			t.Fatal(err)
		}
		var cus struct{ Email, Name *string }
		if m.sandboxGet(t, "/v1/customers/"+customer, &cus); cus.Email != nil || cus.Name != nil {
			t.Errorf("the provider's customer keeps e-mail %v and name %v", cus.Email, cus.Name)
		}
		if email != giveathon.ErasedEmail(d.id) || name != "" {
			t.Errorf("the account keeps e-mail %q and name %q", email, name)
		}
		var live int
		if err := m.db.Pool.QueryRow(ctx, `SELECT count(*) FROM payment_methods WHERE user_id = $1 AND removed_at IS NULL`, d.id).Scan(&live); err != nil || live != 0 {
			t.Errorf("%d cards not removed (%v)", live, err)
		}
		var gifts, total, withMessage, named int
		if err := m.db.Pool.QueryRow(ctx, `SELECT count(*), sum(amount_cents), count(*) FILTER (WHERE message <> ''),
			count(*) FILTER (WHERE NOT anonymous) FROM donations WHERE user_id = $1 AND status = 'SUCCEEDED'`, d.id).
			Scan(&gifts, &total, &withMessage, &named); err != nil {
			t.Fatal(err)
		}
		if gifts != 2 || total != 3200 || withMessage != 0 || named != 0 {
			t.Errorf("donations kept: %d for %d cents, %d with a message, %d not anonymous; want 2 for 3200, 0, 0", gifts, total, withMessage, named)
		}

		id := notify.MessageID(d.id, notify.KindAccountDeleted)
		msgs := m.mail.WaitForMessages(t, "message-id:"+id, 1, 10*time.Second)
		time.Sleep(200 * time.Millisecond)
		if all := m.mail.Messages(t, "message-id:"+id); len(all) != 1 {
			t.Errorf("%d confirmation e-mails, want 1", len(all))
		}
		if got := m.mail.Message(t, msgs[0].ID); len(got.To) != 1 || got.To[0] != d.email || !strings.Contains(got.Text, "Dear Ada,") {
			t.Errorf("confirmation to %q:\n%s", got.To, got.Text)
		}
	})

	t.Run("the e-mail signs up again", func(t *testing.T) {
		r := m.srv.client.Do(t, registerOp, creds(d.email)).NoErrors(t)
		again := m.srv.client.As(r.String("register", "token"))
		me := again.Do(t, meOp, nil).NoErrors(t)
		if me.String("me", "email") != d.email || me.Get("me", "donations", "totalCount") != float64(0) {
			t.Errorf("the new account: %s", me.Raw)
		}
	})
}

// TestNoGiftStartsWhileTheAccountIsDeleted: a gift asked for while the donor's account is
// being deleted (here, while the provider takes its time detaching the card) is refused with
// the card named, rather than accepted and then charged to a card the provider no longer
// holds; the deletion finishes, and the donor is charged nothing.
func TestNoGiftStartsWhileTheAccountIsDeleted(t *testing.T) {
	t.Parallel()
	m := setupMoney(t)
	d := m.namedDonor(t)
	visa := m.addCard(t, d.c, "pm_card_visa")
	m.sandbox.Script(sandbox.ScriptedFault{Method: "POST", PathPrefix: "/v1/payment_methods/", Fault: sandbox.FaultSlow, Latency: time.Second})
	deleted := make(chan *testenv.Response, 1)
	go func() { deleted <- d.c.Do(t, deleteOp, map[string]any{"p": password}) }()
	time.Sleep(500 * time.Millisecond) // the deletion waits on the provider
	r := m.submit(t, d.c, visa, 1200, newKey())
	if r.Code() != "BAD_USER_INPUT" || r.Field() != "paymentMethodId" {
		t.Errorf("a gift during the deletion: %s, want BAD_USER_INPUT on paymentMethodId", r.Raw)
	}
	if r := <-deleted; r.Get("deleteMyAccount") != true {
		t.Fatalf("deleteMyAccount: %s", r.Raw)
	}
	var gifts int
	if err := m.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM donations WHERE user_id = $1`, d.id).Scan(&gifts); err != nil || gifts != 0 {
		t.Errorf("%d donations of the deleted donor (%v), want 0", gifts, err)
	}
}
