package sandbox_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stripe/stripe-go/v76"
)

// requiresAction makes an intent waiting for 3-D Secure, as an on-session payment with the
// authentication card leaves it.
func requiresAction(t *testing.T, b *bundle, donation string) *stripe.PaymentIntent {
	t.Helper()
	cus, pm := b.customerWithCard(t, "pm_card_authenticationRequired")
	p := chargeParams(cus.ID, pm.ID, donation, 6400)
	p.OffSession = nil
	pi, err := b.api.PaymentIntents.New(p)
	if err != nil || pi.Status != stripe.PaymentIntentStatusRequiresAction {
		t.Fatalf("intent = %+v, %v", pi, err)
	}
	return pi
}

// noRedirects is an HTTP client that shows redirects instead of following them.
func noRedirects(b *bundle) *http.Client {
	c := *b.ts.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

func TestAuthenticatePageComplete(t *testing.T) {
	t.Parallel()
	b := setup(t)
	pi := requiresAction(t, b, "3ds-ok")

	// The next action points at the page.
	var action struct {
		UseStripeSDK struct {
			StripeJS string `json:"stripe_js"`
		} `json:"use_stripe_sdk"`
	}
	var whole struct {
		NextAction json.RawMessage `json:"next_action"`
	}
	_ = json.Unmarshal(pi.LastResponse.RawJSON, &whole)
	_ = json.Unmarshal(whole.NextAction, &action)
	want := b.ts.URL + "/_sandbox/authenticate/" + pi.ID + "?client_secret=" + url.QueryEscape(pi.ClientSecret)
	if action.UseStripeSDK.StripeJS != want {
		t.Errorf("next_action.use_stripe_sdk.stripe_js = %q, want %q", action.UseStripeSDK.StripeJS, want)
	}
	pageURL := want + "&return_url=" + url.QueryEscape("https://app.example.test/donations/1")
	resp, err := b.ts.Client().Get(pageURL)
	if err != nil {
		t.Fatal(err)
	}
	html, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(html)
	for _, want := range []string{`lang="en"`, "<title>", "<legend", `value="complete"`, "Complete authentication",
		`value="fail"`, "Fail authentication", "64.00 USD", `name="return_url"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if resp.StatusCode != 200 || strings.Contains(page, "<script") || strings.Contains(page, "src=") || strings.Contains(page, "<link") {
		t.Errorf("page: %d, or it loads assets", resp.StatusCode)
	}

	form := url.Values{"client_secret": {pi.ClientSecret}, "action": {"complete"}, "return_url": {"https://app.example.test/donations/1"}}
	resp, err = noRedirects(b).PostForm(b.ts.URL+"/_sandbox/authenticate/"+pi.ID, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || loc == nil || loc.Host != "app.example.test" ||
		loc.Query().Get("redirect_status") != "succeeded" || loc.Query().Get("payment_intent") != pi.ID {
		t.Errorf("after completing: %s to %s", resp.Status, resp.Header.Get("Location"))
	}
	got, err := b.api.PaymentIntents.Get(pi.ID, nil)
	if err != nil || got.Status != stripe.PaymentIntentStatusSucceeded || got.AmountReceived != 6400 || got.NextAction != nil {
		t.Fatalf("after completing: %+v, %v", got, err)
	}
	if c := b.sb.Charges(); len(c) != 1 || c[0].PaymentIntent != pi.ID {
		t.Errorf("ledger = %+v", c)
	}
	b.waitEvent(t, pi.ID, "payment_intent.succeeded")

	// A succeeded intent cannot be authenticated again.
	req, _ := http.NewRequest(http.MethodPost, b.ts.URL+"/_sandbox/authenticate/"+pi.ID,
		strings.NewReader(url.Values{"client_secret": {pi.ClientSecret}, "action": {"complete"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err = b.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 || len(b.sb.Charges()) != 1 {
		t.Errorf("second authentication: %s, %d charges", resp.Status, len(b.sb.Charges()))
	}
}

func TestAuthenticateFailAsJSON(t *testing.T) {
	t.Parallel()
	b := setup(t)
	pi := requiresAction(t, b, "3ds-fail")
	post := func(form url.Values) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodPost, b.ts.URL+"/_sandbox/authenticate/"+pi.ID, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		resp, err := b.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}

	resp, _ := post(url.Values{"client_secret": {"pi_wrong_secret_x"}, "action": {"complete"}})
	if resp.StatusCode != 400 {
		t.Errorf("wrong client secret: %s", resp.Status)
	}
	resp, body := post(url.Values{"client_secret": {pi.ClientSecret}, "action": {"fail"}})
	var got stripe.PaymentIntent
	if err := json.Unmarshal(body, &got); err != nil || resp.StatusCode != 200 {
		t.Fatalf("fail: %s %s", resp.Status, body)
	}
	if got.Status != stripe.PaymentIntentStatusRequiresPaymentMethod || got.LastPaymentError == nil ||
		got.LastPaymentError.Code != stripe.ErrorCodePaymentIntentAuthenticationFailure {
		t.Errorf("after failing: %+v", got)
	}
	b.waitEvent(t, pi.ID, "payment_intent.payment_failed")
	if n := len(b.sb.Charges()); n != 0 {
		t.Errorf("%d charges after a failed authentication", n)
	}

	// The donor may try again and pass.
	resp, body = post(url.Values{"client_secret": {pi.ClientSecret}, "action": {"complete"}})
	if err := json.Unmarshal(body, &got); err != nil || resp.StatusCode != 200 || got.Status != stripe.PaymentIntentStatusSucceeded {
		t.Errorf("second try: %s %s", resp.Status, body)
	}

	// An ordinary card has nothing to authenticate.
	cus, visa := b.customerWithCard(t, "pm_card_visa")
	plain, err := b.api.PaymentIntents.New(&stripe.PaymentIntentParams{Amount: stripe.Int64(500), Currency: stripe.String("usd"),
		Customer: stripe.String(cus.ID), PaymentMethod: stripe.String(visa.ID)})
	if err != nil {
		t.Fatal(err)
	}
	resp, err = b.ts.Client().PostForm(b.ts.URL+"/_sandbox/authenticate/"+plain.ID,
		url.Values{"client_secret": {plain.ClientSecret}, "action": {"complete"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("authenticating a plain card: %s", resp.Status)
	}
}

// TestAuthenticateAfterOffSessionFailure is the donor's recovery: the worker's off-session
// charge needed authentication, and the donor completes it in the browser.
func TestAuthenticateAfterOffSessionFailure(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cus, pm := b.customerWithCard(t, "pm_card_authenticationRequired")
	_, err := b.api.PaymentIntents.New(chargeParams(cus.ID, pm.ID, "recover", 2100))
	se := stripeErr(t, err)
	pi := se.PaymentIntent
	resp, err := b.ts.Client().PostForm(b.ts.URL+"/_sandbox/authenticate/"+pi.ID,
		url.Values{"client_secret": {pi.ClientSecret}, "action": {"complete"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Payment authenticated") {
		t.Errorf("result page: %s %s", resp.Status, body)
	}
	got, err := b.api.PaymentIntents.Get(pi.ID, nil)
	if err != nil || got.Status != stripe.PaymentIntentStatusSucceeded || got.PaymentMethod == nil || got.PaymentMethod.ID != pm.ID {
		t.Errorf("after authenticating: %+v, %v", got, err)
	}
}
