package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/giveathon/giveathon/payments/sandbox"
	"github.com/stripe/stripe-go/v76"
)

// networkError asserts that err is a transport failure, not an answer from the API.
func networkError(t *testing.T, err error) {
	t.Helper()
	var se *stripe.Error
	if err == nil || errors.As(err, &se) {
		t.Fatalf("want a network error, got %v", err)
	}
}

func TestTimeoutAfter(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cus, visa := b.customerWithCard(t, "pm_card_visa")
	// Warm a kept-alive connection: the fault must show even on a reused connection, which
	// Go's transport would silently retry after a bare close.
	if _, err := b.api.Customers.Get(cus.ID, nil); err != nil {
		t.Fatal(err)
	}
	b.sb.Script(sandbox.ScriptedFault{Method: "POST", PathPrefix: "/v1/payment_intents", Fault: sandbox.FaultTimeoutAfter})
	_, err := b.api.PaymentIntents.New(chargeParams(cus.ID, visa.ID, "lost", 2000))
	networkError(t, err)

	charges := b.sb.Charges()
	if len(charges) != 1 || charges[0].Metadata["donation_id"] != "lost" {
		t.Fatalf("ledger after a lost answer = %+v, want the charge", charges)
	}
	pi, err := b.api.PaymentIntents.New(chargeParams(cus.ID, visa.ID, "lost", 2000))
	if err != nil || pi.Status != stripe.PaymentIntentStatusSucceeded || pi.ID != charges[0].PaymentIntent || !replayed(pi.LastResponse) {
		t.Fatalf("retry with the same key = %+v, %v", pi, err)
	}
	if n := len(b.sb.Charges()); n != 1 {
		t.Errorf("ledger has %d charges after the retry, want 1", n)
	}
	b.waitEvent(t, pi.ID, "payment_intent.succeeded")
}

func TestTimeoutBeforeAnd429(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cus, visa := b.customerWithCard(t, "pm_card_visa")
	b.sb.Script(
		sandbox.ScriptedFault{Method: "POST", PathPrefix: "/v1/payment_intents", Fault: sandbox.FaultTimeoutBefore},
		sandbox.ScriptedFault{Method: "POST", PathPrefix: "/v1/payment_intents", Fault: sandbox.FaultError429},
	)
	_, err := b.api.PaymentIntents.New(chargeParams(cus.ID, visa.ID, "d", 2000))
	networkError(t, err)
	_, err = b.api.PaymentIntents.New(chargeParams(cus.ID, visa.ID, "d", 2000))
	se := stripeErr(t, err)
	if se.HTTPStatusCode != http.StatusTooManyRequests || se.Code != stripe.ErrorCodeRateLimit {
		t.Errorf("429 = %+v", se)
	}
	if n := len(b.sb.Charges()); n != 0 {
		t.Fatalf("%d charges after faults that execute nothing", n)
	}
	// Neither saved anything for the key: the third try executes.
	pi, err := b.api.PaymentIntents.New(chargeParams(cus.ID, visa.ID, "d", 2000))
	if err != nil || pi.Status != stripe.PaymentIntentStatusSucceeded || replayed(pi.LastResponse) {
		t.Fatalf("third try = %+v, %v", pi, err)
	}
}

func TestTimeoutHangMeetsClientTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t, options{faults: sandbox.Faults{TimeoutBeforeRate: 1, TimeoutHang: time.Minute}, clientTimeout: 100 * time.Millisecond})
	start := time.Now()
	_, err := b.api.Customers.New(&stripe.CustomerParams{})
	networkError(t, err)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the client waited %v", took)
	}
}

func TestRandomFaultsFollowTheSeed(t *testing.T) {
	t.Parallel()
	run := func() (string, int) {
		b := setup(t, options{faults: sandbox.Faults{Error429Rate: 0.3, Error500Rate: 0.2, Seed: 42}})
		var pattern strings.Builder
		failures := 0
		for i := 0; i < 200; i++ {
			_, err := b.api.Customers.Get("cus_missing", nil)
			se := stripeErr(t, err)
			pattern.WriteString(string(rune('0' + se.HTTPStatusCode/100)))
			if se.HTTPStatusCode != 404 {
				failures++
			}
		}
		return pattern.String(), failures
	}
	p1, f1 := run()
	p2, _ := run()
	if p1 != p2 {
		t.Errorf("one seed gave two fault patterns")
	}
	if f1 < 70 || f1 > 130 {
		t.Errorf("%d of 200 requests failed at a 50%% fault rate", f1)
	}
}

func TestFaultsFromEnv(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"SANDBOX_ERROR_500_RATE":         "0.05",
		"SANDBOX_ERROR_429_RATE":         "0.1",
		"SANDBOX_TIMEOUT_BEFORE_RATE":    "0.01",
		"SANDBOX_TIMEOUT_AFTER_RATE":     "0.02",
		"SANDBOX_TIMEOUT_HANG":           "5s",
		"SANDBOX_WEBHOOK_DUPLICATE_RATE": "0.5",
		"SANDBOX_WEBHOOK_DELAY_RATE":     "0.25",
		"SANDBOX_WEBHOOK_DELAY":          "3s",
		"SANDBOX_LATENCY_MEDIAN":         "80ms",
		"SANDBOX_LATENCY_P99":            "400ms",
		"SANDBOX_SEED":                   "99",
	}
	f, err := sandbox.FaultsFromEnv(func(k string) string { return env[k] })
	want := sandbox.Faults{Error500Rate: 0.05, Error429Rate: 0.1, TimeoutBeforeRate: 0.01, TimeoutAfterRate: 0.02,
		TimeoutHang: 5 * time.Second, WebhookDuplicateRate: 0.5, WebhookDelayRate: 0.25, WebhookDelay: 3 * time.Second,
		LatencyMedian: 80 * time.Millisecond, LatencyP99: 400 * time.Millisecond, Seed: 99}
	if err != nil || f != want {
		t.Errorf("FaultsFromEnv = %+v, %v; want %+v", f, err, want)
	}
	if f, err := sandbox.FaultsFromEnv(func(string) string { return "" }); err != nil || f != (sandbox.Faults{}) {
		t.Errorf("empty environment = %+v, %v", f, err)
	}
	bad := map[string]string{"SANDBOX_ERROR_500_RATE": "1.5", "SANDBOX_LATENCY_MEDIAN": "fast", "SANDBOX_SEED": "x"}
	_, err = sandbox.FaultsFromEnv(func(k string) string { return bad[k] })
	for _, name := range []string{"SANDBOX_ERROR_500_RATE", "SANDBOX_LATENCY_MEDIAN", "SANDBOX_SEED"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error %v does not name %s", err, name)
		}
	}
	sum := map[string]string{"SANDBOX_ERROR_500_RATE": "0.6", "SANDBOX_ERROR_429_RATE": "0.6"}
	if _, err := sandbox.FaultsFromEnv(func(k string) string { return sum[k] }); err == nil {
		t.Error("rates adding up to 1.2 accepted")
	}
}

func TestFaultAndScriptEndpoints(t *testing.T) {
	t.Parallel()
	b := setup(t)
	post := func(path, body string) (int, string) {
		resp, err := b.ts.Client().Post(b.ts.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out)
	}
	status, body := post("/_sandbox/faults", `{"error_429_rate": 0.25, "latency_median": "1ms", "webhook_delay": "300ms"}`)
	if status != 200 || !strings.Contains(body, `"error_429_rate":0.25`) || !strings.Contains(body, `"webhook_delay":"300ms"`) {
		t.Errorf("POST faults: %d %s", status, body)
	}
	if f := b.sb.Faults(); f.Error429Rate != 0.25 || f.LatencyMedian != time.Millisecond || f.WebhookDelay != 300*time.Millisecond {
		t.Errorf("Faults() = %+v", f)
	}
	// A second change keeps what it does not name.
	post("/_sandbox/faults", `{"error_500_rate": 0.1}`)
	var got map[string]any
	getJSON(t, b.ts, "/_sandbox/faults", &got)
	if got["error_429_rate"] != 0.25 || got["error_500_rate"] != 0.1 || got["latency_median"] != "1ms" {
		t.Errorf("GET faults = %v", got)
	}
	if status, body := post("/_sandbox/faults", `{"error_500_rate": 2}`); status != 400 {
		t.Errorf("rate 2 accepted: %d %s", status, body)
	}
	if status, body := post("/_sandbox/faults", `{"eror_500_rate": 0.1}`); status != 400 {
		t.Errorf("misspelt key accepted: %d %s", status, body)
	}
	b.sb.SetFaults(sandbox.Faults{})

	status, body = post("/_sandbox/script", `[{"method":"GET","path_prefix":"/v1/customers","fault":"500","count":2}]`)
	if status != 200 || !strings.Contains(body, `"count":2`) {
		t.Fatalf("POST script: %d %s", status, body)
	}
	if status, _ := post("/_sandbox/script", `{"fault":"explode"}`); status != 400 {
		t.Errorf("unknown fault accepted: %d", status)
	}
	cus, err := b.api.Customers.New(&stripe.CustomerParams{})
	if err != nil {
		t.Fatalf("POST not matched by a GET rule: %v", err)
	}
	for i := 0; i < 2; i++ {
		_, err := b.api.Customers.Get(cus.ID, nil)
		if se := stripeErr(t, err); se.HTTPStatusCode != 500 {
			t.Errorf("scripted GET %d = %+v", i, se)
		}
	}
	if _, err := b.api.Customers.Get(cus.ID, nil); err != nil {
		t.Errorf("after the script: %v", err)
	}
	var pending struct {
		Pending []sandbox.ScriptedFault `json:"pending"`
	}
	getJSON(t, b.ts, "/_sandbox/script", &pending)
	if len(pending.Pending) != 0 {
		t.Errorf("pending after use = %+v", pending)
	}
}

func TestFaultsJSONRoundTrip(t *testing.T) {
	t.Parallel()
	f := sandbox.Faults{Error500Rate: 0.1, TimeoutHang: 1500 * time.Millisecond, LatencyP99: time.Second, Seed: 3}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	var back sandbox.Faults
	if err := json.Unmarshal(b, &back); err != nil || back != f {
		t.Errorf("round trip of %s = %+v, %v", b, back, err)
	}
}

// TestSlowFaultKeepsTheKeyInFlight: a scripted slow request holds its idempotency key for
// its latency, so a retry with the key meanwhile meets a 409 and makes nothing; the slow one
// still executes, once, after its client has left; and the rule reads and writes JSON with
// its latency as a duration.
func TestSlowFaultKeepsTheKeyInFlight(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cus, visa := b.customerWithCard(t, "pm_card_visa")
	b.sb.Script(sandbox.ScriptedFault{Method: "POST", PathPrefix: "/v1/payment_intents", Fault: sandbox.FaultSlow, Latency: 600 * time.Millisecond})
	slow := make(chan error, 1)
	go func() {
		p := chargeParams(cus.ID, visa.ID, "slow", 2100)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond) // the client gives up first
		defer cancel()
		p.Context = ctx
		_, err := b.api.PaymentIntents.New(p)
		slow <- err
	}()
	time.Sleep(200 * time.Millisecond)
	_, err := b.api.PaymentIntents.New(chargeParams(cus.ID, visa.ID, "slow", 2100))
	if se := stripeErr(t, err); se.HTTPStatusCode != http.StatusConflict || se.Code != stripe.ErrorCodeIdempotencyKeyInUse {
		t.Fatalf("a retry while the slow request runs = %+v, want 409 idempotency_key_in_use", se)
	}
	if err := <-slow; err == nil {
		t.Fatal("the slow request answered within its client's timeout")
	}
	if n := len(b.sb.Charges()); n != 0 {
		t.Fatalf("%d charges before the slow request executed", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(b.sb.Charges()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	pi, err := b.api.PaymentIntents.New(chargeParams(cus.ID, visa.ID, "slow", 2100))
	if err != nil || !replayed(pi.LastResponse) || len(b.sb.Charges()) != 1 || pi.ID != b.sb.Charges()[0].PaymentIntent {
		t.Fatalf("after the slow request: %+v, %v, %d charges; want its replay and one charge", pi, err, len(b.sb.Charges()))
	}

	rule := sandbox.ScriptedFault{Method: "POST", PathPrefix: "/v1/refunds", Fault: sandbox.FaultSlow, Count: 2, Latency: 1500 * time.Millisecond}
	js, err := json.Marshal(rule)
	if err != nil || !strings.Contains(string(js), `"latency":"1.5s"`) {
		t.Fatalf("JSON of %+v = %s, %v", rule, js, err)
	}
	var back sandbox.ScriptedFault
	if err := json.Unmarshal(js, &back); err != nil || back != rule {
		t.Errorf("round trip of %s = %+v, %v", js, back, err)
	}
	for _, bad := range []sandbox.ScriptedFault{{Fault: sandbox.FaultSlow}, {Fault: sandbox.FaultError500, Latency: time.Second}} {
		if bad.Validate() == nil {
			t.Errorf("%+v is valid", bad)
		}
	}
	if err := json.Unmarshal([]byte(`{"fault":"slow","latency":"soon"}`), &back); err == nil || !strings.Contains(err.Error(), "latency") {
		t.Errorf("latency \"soon\" read as %+v, %v", back, err)
	}
}
