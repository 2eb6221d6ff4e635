package sandbox_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/giveathon/giveathon/payments/sandbox"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
	"github.com/stripe/stripe-go/v76/webhook"
)

const testWebhookSecret = "whsec_sandbox_test"

// bundle is what a test needs: the sandbox, its HTTP server, a stripe-go client pointed at
// it, and the events its webhooks delivered.
type bundle struct {
	sb     *sandbox.Server
	ts     *httptest.Server
	api    *client.API
	events chan stripe.Event
	seen   []stripe.Event // delivered but not yet waited for
}

type options struct {
	faults sandbox.Faults
	// clientTimeout bounds each stripe-go call (0: none).
	clientTimeout time.Duration
	// hookStatus, when set, answers each webhook delivery with the status it returns.
	hookStatus func() int
	// hookEvents are the event types delivered (none: all).
	hookEvents []string
}

// setup starts a sandbox with a signed webhook receiver and a stripe-go client, both closed
// when the test ends.
func setup(t *testing.T, opts ...options) *bundle {
	t.Helper()
	var o options
	if len(opts) > 0 {
		o = opts[0]
	}
	b := &bundle{events: make(chan stripe.Event, 256)}
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o.hookStatus != nil {
			if st := o.hookStatus(); st != http.StatusOK {
				w.WriteHeader(st)
				return
			}
		}
		payload, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		ev, err := webhook.ConstructEvent(payload, r.Header.Get("Stripe-Signature"), testWebhookSecret)
		if err != nil {
			t.Errorf("webhook.ConstructEvent refused a delivery: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		b.events <- ev
	}))
	b.sb = sandbox.New(sandbox.Config{WebhookURL: hooks.URL, WebhookSecret: testWebhookSecret, Faults: o.faults, WebhookEvents: o.hookEvents})
	b.ts = httptest.NewServer(b.sb)
	t.Cleanup(func() {
		b.ts.Close()
		b.sb.Close()
		hooks.Close()
	})
	b.api = newClient(b.ts, o.clientTimeout)
	return b
}

func newClient(ts *httptest.Server, timeout time.Duration) *client.API {
	hc := ts.Client()
	hc.Timeout = timeout
	backend := stripe.GetBackendWithConfig(stripe.APIBackend, &stripe.BackendConfig{
		URL:               stripe.String(ts.URL),
		HTTPClient:        hc,
		MaxNetworkRetries: stripe.Int64(0),
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
	})
	return client.New(sandbox.SecretKey, &stripe.Backends{API: backend, Connect: backend, Uploads: backend})
}

// customerWithCard makes a customer and attaches a test card to it.
func (b *bundle) customerWithCard(t *testing.T, card string) (*stripe.Customer, *stripe.PaymentMethod) {
	t.Helper()
	cus, err := b.api.Customers.New(&stripe.CustomerParams{Email: stripe.String("donor@example.test"), Name: stripe.String("Dana Donor")})
	if err != nil {
		t.Fatalf("create customer: %v", err)
	}
	pm, err := b.api.PaymentMethods.Attach(card, &stripe.PaymentMethodAttachParams{Customer: stripe.String(cus.ID)})
	if err != nil {
		t.Fatalf("attach %s: %v", card, err)
	}
	return cus, pm
}

// chargeParams are the parameters the charge worker sends: one call, confirmed off session,
// with the donation id in metadata.
func chargeParams(cus, pm, donation string, amount int64) *stripe.PaymentIntentParams {
	p := &stripe.PaymentIntentParams{
		Amount:             stripe.Int64(amount),
		Currency:           stripe.String(string(stripe.CurrencyUSD)),
		Customer:           stripe.String(cus),
		PaymentMethod:      stripe.String(pm),
		Confirm:            stripe.Bool(true),
		OffSession:         stripe.Bool(true),
		PaymentMethodTypes: stripe.StringSlice([]string{"card"}),
		Description:        stripe.String("Donation " + donation),
	}
	p.AddMetadata("donation_id", donation)
	p.SetIdempotencyKey("donation-" + donation)
	return p
}

// stripeErr asserts that err is a Stripe API error and returns it.
func stripeErr(t *testing.T, err error) *stripe.Error {
	t.Helper()
	var se *stripe.Error
	if !errors.As(err, &se) {
		t.Fatalf("want a *stripe.Error, got %T: %v", err, err)
	}
	return se
}

// getJSON fetches a sandbox endpoint and decodes its JSON answer.
func getJSON(t *testing.T, ts *httptest.Server, path string, v any) {
	t.Helper()
	resp, err := ts.Client().Get(ts.URL + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s: %s", path, resp.Status, body)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: decode: %v", path, err)
	}
}

// rawPost sends a form-encoded API request without stripe-go.
func rawPost(t *testing.T, ts *httptest.Server, path string, form url.Values, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, ts.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

type ledger struct {
	Data        []sandbox.Charge `json:"data"`
	Count       int              `json:"count"`
	TotalAmount int64            `json:"total_amount"`
}

// waitEvent returns the next delivered event of one of the given types for intent. Events
// arrive in no set order, as Stripe's do: others are kept for later calls.
func (b *bundle) waitEvent(t *testing.T, intent string, types ...stripe.EventType) stripe.Event {
	t.Helper()
	match := func(ev stripe.Event) bool {
		if ev.Data == nil || ev.Data.Object["id"] != intent {
			return false
		}
		for _, typ := range types {
			if ev.Type == typ {
				return true
			}
		}
		return false
	}
	for i, ev := range b.seen {
		if match(ev) {
			b.seen = append(b.seen[:i], b.seen[i+1:]...)
			return ev
		}
	}
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev := <-b.events:
			if match(ev) {
				return ev
			}
			b.seen = append(b.seen, ev)
		case <-timeout:
			t.Fatalf("no %v event for %s within 5s", types, intent)
		}
	}
}

func TestCustomerSetupIntentAndCards(t *testing.T) {
	t.Parallel()
	b := setup(t)
	params := &stripe.CustomerParams{Email: stripe.String("dana@example.test"), Name: stripe.String("Dana"), Description: stripe.String("donor")}
	params.AddMetadata("user_id", "u-1")
	cus, err := b.api.Customers.New(params)
	if err != nil {
		t.Fatalf("create customer: %v", err)
	}
	if !strings.HasPrefix(cus.ID, "cus_") || cus.Email != "dana@example.test" || cus.Metadata["user_id"] != "u-1" || cus.Livemode {
		t.Errorf("customer = %+v", cus)
	}
	got, err := b.api.Customers.Get(cus.ID, nil)
	if err != nil || got.ID != cus.ID || got.Name != "Dana" {
		t.Fatalf("get customer: %+v, %v", got, err)
	}

	si, err := b.api.SetupIntents.New(&stripe.SetupIntentParams{
		Customer:           stripe.String(cus.ID),
		Usage:              stripe.String("off_session"),
		PaymentMethodTypes: stripe.StringSlice([]string{"card"}),
	})
	if err != nil {
		t.Fatalf("create setup intent: %v", err)
	}
	if si.Status != stripe.SetupIntentStatusRequiresPaymentMethod || !strings.HasPrefix(si.ClientSecret, si.ID+"_secret_") ||
		si.Customer == nil || si.Customer.ID != cus.ID || si.Usage != "off_session" {
		t.Errorf("setup intent = %+v", si)
	}
	if again, err := b.api.SetupIntents.Get(si.ID, nil); err != nil || again.ClientSecret != si.ClientSecret {
		t.Errorf("get setup intent: %+v, %v", again, err)
	}

	for _, tc := range []struct {
		name, brand, last4 string
	}{
		{"pm_card_visa", "visa", "4242"},
		{"pm_card_mastercard", "mastercard", "4444"},
		{"pm_card_amex", "amex", "8431"},
		{"pm_card_chargeDeclined", "visa", "0002"},
		{"pm_card_chargeDeclinedInsufficientFunds", "visa", "9995"},
		{"pm_card_authenticationRequired", "visa", "3184"},
		{"pm_card_chargeDeclinedProcessingError", "visa", "0119"},
	} {
		pm, err := b.api.PaymentMethods.Attach(tc.name, &stripe.PaymentMethodAttachParams{Customer: stripe.String(cus.ID)})
		if err != nil {
			t.Fatalf("attach %s: %v", tc.name, err)
		}
		if pm.ID == tc.name || !strings.HasPrefix(pm.ID, "pm_") {
			t.Errorf("attach %s: id %q, want a new pm_ id", tc.name, pm.ID)
		}
		if pm.Card == nil || string(pm.Card.Brand) != tc.brand || pm.Card.Last4 != tc.last4 ||
			pm.Card.ExpYear < 2030 || pm.Card.ExpMonth < 1 || pm.Card.ExpMonth > 12 {
			t.Errorf("attach %s: card %+v", tc.name, pm.Card)
		}
		if pm.Customer == nil || pm.Customer.ID != cus.ID || pm.Type != stripe.PaymentMethodTypeCard {
			t.Errorf("attach %s: customer %+v type %s", tc.name, pm.Customer, pm.Type)
		}
		if got, err := b.api.PaymentMethods.Get(pm.ID, nil); err != nil || got.Card.Last4 != tc.last4 {
			t.Errorf("get %s: %+v, %v", pm.ID, got, err)
		}
	}
	// Attaching the same name again makes another method, as Stripe's test mode does.
	a, _ := b.api.PaymentMethods.Attach("pm_card_visa", &stripe.PaymentMethodAttachParams{Customer: stripe.String(cus.ID)})
	c, _ := b.api.PaymentMethods.Attach("pm_card_visa", &stripe.PaymentMethodAttachParams{Customer: stripe.String(cus.ID)})
	if a.ID == c.ID {
		t.Errorf("two attaches of pm_card_visa gave one id %s", a.ID)
	}

	it := b.api.PaymentMethods.List(&stripe.PaymentMethodListParams{Customer: stripe.String(cus.ID), Type: stripe.String("card")})
	n := 0
	for it.Next() {
		n++
	}
	if it.Err() != nil || n != 9 {
		t.Errorf("list methods: %d, %v; want 9", n, it.Err())
	}

	det, err := b.api.PaymentMethods.Detach(a.ID, nil)
	if err != nil || det.Customer != nil {
		t.Errorf("detach: %+v, %v", det, err)
	}
	_, err = b.api.PaymentMethods.Detach(a.ID, nil)
	if se := stripeErr(t, err); se.HTTPStatusCode != 400 || se.Type != stripe.ErrorTypeInvalidRequest {
		t.Errorf("detach twice: %+v", se)
	}

	_, err = b.api.PaymentMethods.Attach("pm_nonexistent", &stripe.PaymentMethodAttachParams{Customer: stripe.String(cus.ID)})
	se := stripeErr(t, err)
	if se.HTTPStatusCode != 404 || se.Code != stripe.ErrorCodeResourceMissing || se.Param != "payment_method" || se.Type != stripe.ErrorTypeInvalidRequest {
		t.Errorf("attach unknown: %+v", se)
	}
	_, err = b.api.Customers.Get("cus_nope", nil)
	if se := stripeErr(t, err); se.HTTPStatusCode != 404 || se.Code != stripe.ErrorCodeResourceMissing {
		t.Errorf("get unknown customer: %+v", se)
	}
	_, err = b.api.PaymentMethods.Attach("pm_card_visa", &stripe.PaymentMethodAttachParams{Customer: stripe.String("cus_nope")})
	if se := stripeErr(t, err); se.HTTPStatusCode != 400 || se.Code != stripe.ErrorCodeResourceMissing || se.Param != "customer" {
		t.Errorf("attach to unknown customer: %+v", se)
	}
}

func TestRequestChecks(t *testing.T) {
	t.Parallel()
	b := setup(t)

	// No key: Stripe's 401.
	resp, body := rawPost(t, b.ts, "/v1/customers", url.Values{}, nil)
	if resp.StatusCode != 401 || !strings.Contains(string(body), "did not provide an API key") || resp.Header.Get("Request-Id") == "" {
		t.Errorf("no key: %s %s", resp.Status, body)
	}
	bad := newClientWithKey(b.ts, "sk_live_123456789")
	_, err := bad.Customers.New(&stripe.CustomerParams{})
	if se := stripeErr(t, err); se.HTTPStatusCode != 401 || strings.Contains(se.Msg, "123456789") {
		t.Errorf("live key: %+v", se)
	}

	auth := http.Header{"Authorization": {"Bearer " + sandbox.SecretKey}}
	resp, body = rawPost(t, b.ts, "/v1/nothing_here", url.Values{}, auth)
	if resp.StatusCode != 404 || !strings.Contains(string(body), "Unrecognized request URL") {
		t.Errorf("unknown route: %s %s", resp.Status, body)
	}
	resp, body = rawPost(t, b.ts, "/v1/payment_intents", url.Values{"currency": {"usd"}}, auth)
	if resp.StatusCode != 400 || !strings.Contains(string(body), `"param":"amount"`) || !strings.Contains(string(body), "parameter_missing") {
		t.Errorf("missing amount: %s %s", resp.Status, body)
	}
	resp, body = rawPost(t, b.ts, "/v1/payment_intents", url.Values{"amount": {"1000"}}, auth)
	if resp.StatusCode != 400 || !strings.Contains(string(body), `"param":"currency"`) {
		t.Errorf("missing currency: %s %s", resp.Status, body)
	}
	resp, body = rawPost(t, b.ts, "/v1/payment_intents", url.Values{"amount": {"ten"}, "currency": {"usd"}}, auth)
	if resp.StatusCode != 400 || !strings.Contains(string(body), "parameter_invalid_integer") {
		t.Errorf("bad amount: %s %s", resp.Status, body)
	}
	resp, body = rawPost(t, b.ts, "/v1/payment_intents", url.Values{"amount": {"1000"}, "currency": {"usd"}, "amout": {"1"}}, auth)
	if resp.StatusCode != 400 || !strings.Contains(string(body), "parameter_unknown") || !strings.Contains(string(body), `"param":"amout"`) {
		t.Errorf("unknown parameter: %s %s", resp.Status, body)
	}
	resp, body = rawPost(t, b.ts, "/v1/payment_intents", url.Values{"amount": {"1000"}, "currency": {"usd"}, "expand[]": {"amount"}}, auth)
	if resp.StatusCode != 400 || !strings.Contains(string(body), "cannot be expanded") {
		t.Errorf("bad expand: %s %s", resp.Status, body)
	}

	_, err = b.api.PaymentIntents.New(&stripe.PaymentIntentParams{Amount: stripe.Int64(0), Currency: stripe.String("usd")})
	if se := stripeErr(t, err); se.HTTPStatusCode != 400 || se.Param != "amount" || se.Code != stripe.ErrorCodeAmountTooSmall {
		t.Errorf("zero amount: %+v", se)
	}
	pi, err := b.api.PaymentIntents.New(&stripe.PaymentIntentParams{Amount: stripe.Int64(2500), Currency: stripe.String("USD")})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if pi.Status != stripe.PaymentIntentStatusRequiresPaymentMethod || pi.Currency != "usd" || pi.CaptureMethod != "automatic" ||
		pi.ConfirmationMethod != "automatic" || !strings.HasPrefix(pi.ClientSecret, pi.ID+"_secret_") ||
		len(pi.PaymentMethodTypes) != 1 || pi.PaymentMethodTypes[0] != "card" || pi.LastResponse.RequestID == "" {
		t.Errorf("created intent = %+v", pi)
	}
}

func newClientWithKey(ts *httptest.Server, key string) *client.API {
	backend := stripe.GetBackendWithConfig(stripe.APIBackend, &stripe.BackendConfig{
		URL:               stripe.String(ts.URL),
		HTTPClient:        ts.Client(),
		MaxNetworkRetries: stripe.Int64(0),
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
	})
	return client.New(key, &stripe.Backends{API: backend, Connect: backend, Uploads: backend})
}

func TestLedgerEndpoint(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cus, visa := b.customerWithCard(t, "pm_card_visa")
	declined, err := b.api.PaymentMethods.Attach("pm_card_chargeDeclined", &stripe.PaymentMethodAttachParams{Customer: stripe.String(cus.ID)})
	if err != nil {
		t.Fatal(err)
	}
	for i, amount := range []int64{1000, 2500, 5000} {
		if _, err := b.api.PaymentIntents.New(chargeParams(cus.ID, visa.ID, "d"+string(rune('a'+i)), amount)); err != nil {
			t.Fatalf("charge %d: %v", amount, err)
		}
	}
	if _, err := b.api.PaymentIntents.New(chargeParams(cus.ID, declined.ID, "declined", 9900)); err == nil {
		t.Fatal("declined card charged")
	}
	var l ledger
	getJSON(t, b.ts, "/_sandbox/charges", &l)
	if l.Count != 3 || l.TotalAmount != 8500 || len(l.Data) != 3 {
		t.Errorf("ledger = %+v, want 3 charges totalling 8500", l)
	}
	for _, c := range l.Data {
		if c.Customer != cus.ID || c.Currency != "usd" || !strings.HasPrefix(c.ID, "ch_") || c.Metadata["donation_id"] == "" {
			t.Errorf("ledger charge = %+v", c)
		}
	}
	if got := b.sb.Charges(); len(got) != 3 || got[0].Amount != 1000 {
		t.Errorf("Charges() = %+v", got)
	}
	var one ledger
	getJSON(t, b.ts, "/_sandbox/charges?payment_intent="+l.Data[1].PaymentIntent, &one)
	if one.Count != 1 || one.TotalAmount != 2500 {
		t.Errorf("ledger of one intent = %+v", one)
	}

	// A refund finds its own line of the ledger, and only that one.
	if _, err := b.api.Refunds.New(&stripe.RefundParams{Charge: stripe.String(l.Data[1].ID), Amount: stripe.Int64(500)}); err != nil {
		t.Fatalf("refund: %v", err)
	}
	getJSON(t, b.ts, "/_sandbox/charges", &l)
	for i, c := range l.Data {
		if want := map[bool]int64{true: 500}[i == 1]; c.AmountRefunded != want || c.Refunds != int(want/500) {
			t.Errorf("ledger line %d after refunding line 1: %d refunds, %d refunded", i, c.Refunds, c.AmountRefunded)
		}
	}

	// The ledger and the charge share the intent's metadata map: changing the intent's
	// metadata afterwards must change neither (Stripe copies it when the charge is made).
	up := &stripe.PaymentIntentParams{}
	up.AddMetadata("donation_id", "changed")
	up.AddMetadata("extra", "x")
	if _, err := b.api.PaymentIntents.Update(one.Data[0].PaymentIntent, up); err != nil {
		t.Fatalf("update metadata: %v", err)
	}
	getJSON(t, b.ts, "/_sandbox/charges?payment_intent="+one.Data[0].PaymentIntent, &one)
	ch, err := b.api.Charges.Get(one.Data[0].ID, nil)
	if err != nil {
		t.Fatalf("get charge: %v", err)
	}
	if got := one.Data[0].Metadata; got["donation_id"] != "db" || len(got) != 1 {
		t.Errorf("ledger metadata after the intent's update = %v, want the charge's own", got)
	}
	if ch.Metadata["donation_id"] != "db" || len(ch.Metadata) != 1 {
		t.Errorf("charge metadata after the intent's update = %v, want the charge's own", ch.Metadata)
	}
}

func TestCustomerDefaultCardAndConfirmedSetup(t *testing.T) {
	t.Parallel()
	b := setup(t)
	params := &stripe.CustomerParams{
		PaymentMethod:   stripe.String("pm_card_mastercard"),
		InvoiceSettings: &stripe.CustomerInvoiceSettingsParams{DefaultPaymentMethod: stripe.String("pm_card_mastercard")},
	}
	params.AddExpand("invoice_settings.default_payment_method")
	cus, err := b.api.Customers.New(params)
	if err != nil {
		t.Fatal(err)
	}
	def := cus.InvoiceSettings.DefaultPaymentMethod
	if def == nil || def.Card == nil || def.Card.Last4 != "4444" || def.Customer == nil || def.Customer.ID != cus.ID {
		t.Errorf("default method = %+v", def)
	}

	si, err := b.api.SetupIntents.New(&stripe.SetupIntentParams{Customer: stripe.String(cus.ID),
		PaymentMethod: stripe.String("pm_card_visa"), Confirm: stripe.Bool(true)})
	if err != nil || si.Status != stripe.SetupIntentStatusSucceeded || si.PaymentMethod == nil {
		t.Fatalf("confirmed setup intent = %+v, %v", si, err)
	}
	pm, err := b.api.PaymentMethods.Get(si.PaymentMethod.ID, nil)
	if err != nil || pm.Customer == nil || pm.Customer.ID != cus.ID || pm.Card.Last4 != "4242" {
		t.Errorf("saved method = %+v, %v", pm, err)
	}
	up, err := b.api.Customers.Update(cus.ID, &stripe.CustomerParams{Email: stripe.String("new@example.test"),
		InvoiceSettings: &stripe.CustomerInvoiceSettingsParams{DefaultPaymentMethod: stripe.String(pm.ID)}})
	if err != nil || up.Email != "new@example.test" || up.InvoiceSettings.DefaultPaymentMethod.ID != pm.ID {
		t.Errorf("update = %+v, %v", up, err)
	}
	// A method of another customer is refused on an intent, as Stripe refuses it.
	other, otherCard := b.customerWithCard(t, "pm_card_visa")
	_, err = b.api.PaymentIntents.New(chargeParams(cus.ID, otherCard.ID, "mixup", 1000))
	if se := stripeErr(t, err); se.HTTPStatusCode != 400 || se.Param != "payment_method" {
		t.Errorf("another customer's card: %+v (owner %s)", se, other.ID)
	}
}
