package sandbox

import (
	"bufio"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// serveSandbox answers the sandbox's own endpoints, which Stripe does not have: the ledger,
// run-time faults and the 3-D Secure page. They take no API key (tests and browsers call
// them) and suffer no fault.
func (s *Server) serveSandbox(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/_sandbox/")
	switch {
	case path == "charges" && r.Method == http.MethodGet:
		s.serveCharges(w, r)
	case path == "faults" && (r.Method == http.MethodGet || r.Method == http.MethodPost):
		s.serveFaults(w, r)
	case path == "script" && (r.Method == http.MethodGet || r.Method == http.MethodPost || r.Method == http.MethodDelete):
		s.serveScript(w, r)
	case strings.HasPrefix(path, "disputes/") && strings.HasSuffix(path, "/close") && r.Method == http.MethodPost:
		// An organiser's evidence decided: POST /_sandbox/disputes/dp_.../close with status=won|lost.
		id := strings.TrimSuffix(strings.TrimPrefix(path, "disputes/"), "/close")
		if err := s.CloseDispute(id, r.FormValue("status")); err != nil {
			writeError(w, &stripeError{status: http.StatusBadRequest, Type: typeInvalidRequest, Message: err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"id": id, "status": r.FormValue("status")})
	case strings.HasPrefix(path, "authenticate/") && (r.Method == http.MethodGet || r.Method == http.MethodPost):
		s.serveAuthenticate(w, r, strings.TrimPrefix(path, "authenticate/"))
	default:
		writeError(w, errUnrecognizedURL(r.Method, r.URL.Path))
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, &stripeError{status: http.StatusInternalServerError, Type: typeAPI, Message: "sandbox: " + err.Error()})
		return
	}
	writeBody(w, status, b, nil)
}

// serveCharges answers the ledger, optionally only a payment intent's or a customer's charges.
// The answer is written charge by charge: after an event's replay the ledger holds millions.
func (s *Server) serveCharges(w http.ResponseWriter, r *http.Request) {
	pi, cus := r.URL.Query().Get("payment_intent"), r.URL.Query().Get("customer")
	totals := map[string]int64{}
	var total int64
	s.mu.Lock()
	var data []Charge
	if pi == "" && cus == "" {
		data = make([]Charge, 0, len(s.ledger))
	}
	for _, c := range s.ledger {
		if (pi != "" && c.PaymentIntent != pi) || (cus != "" && c.Customer != cus) {
			continue
		}
		data = append(data, c) // Metadata maps are never changed in place: no copy needed
		total += c.Amount
		totals[c.Currency] += c.Amount
	}
	s.mu.Unlock()
	head, _ := json.Marshal(struct {
		Count       int              `json:"count"`
		TotalAmount int64            `json:"total_amount"`
		Totals      map[string]int64 `json:"totals_by_currency"`
	}{len(data), total, totals})
	w.Header().Set("Content-Type", "application/json")
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.Write(head[:len(head)-1])
	bw.WriteString(`,"data":[`)
	enc := json.NewEncoder(bw)
	for i := range data {
		if i > 0 {
			bw.WriteByte(',')
		}
		// A Charge always encodes: an error is the client gone (bufio keeps the first one).
		if err := enc.Encode(&data[i]); err != nil || r.Context().Err() != nil {
			return
		}
	}
	bw.WriteString("]}")
	_ = bw.Flush()
}

func readJSONBody(r *http.Request) ([]byte, *stripeError) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		return nil, invalid("", "Could not read the request body: %v", err)
	}
	return b, nil
}

// serveFaults shows the random faults, or changes those a JSON body names.
func (s *Server) serveFaults(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		body, e := readJSONBody(r)
		if e != nil {
			writeError(w, e)
			return
		}
		f := s.Faults()
		if err := json.Unmarshal(body, &f); err != nil {
			writeError(w, invalid("", "Invalid faults: %v", err))
			return
		}
		if err := f.Validate(); err != nil {
			writeError(w, invalid("", "Invalid faults: %v", err))
			return
		}
		s.SetFaults(f)
	}
	writeJSON(w, http.StatusOK, s.Faults())
}

// serveScript queues scripted faults (a JSON list, or one object), lists those pending, or
// clears them.
func (s *Server) serveScript(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
		body, e := readJSONBody(r)
		if e != nil {
			writeError(w, e)
			return
		}
		var rules []ScriptedFault
		if trimmed := strings.TrimSpace(string(body)); strings.HasPrefix(trimmed, "{") {
			var one ScriptedFault
			if err := json.Unmarshal(body, &one); err != nil {
				writeError(w, invalid("", "Invalid scripted fault: %v", err))
				return
			}
			rules = append(rules, one)
		} else if err := json.Unmarshal(body, &rules); err != nil {
			writeError(w, invalid("", "Invalid scripted faults: %v", err))
			return
		}
		for _, rule := range rules {
			if err := rule.Validate(); err != nil {
				writeError(w, invalid("fault", "%v", err))
				return
			}
		}
		s.Script(rules...)
	case http.MethodDelete:
		s.ClearScript()
	}
	pending := s.scripted()
	if pending == nil {
		pending = []ScriptedFault{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"pending": pending})
}

// ---- 3-D Secure ----

// authPage is the challenge page; it loads nothing from elsewhere, so it works offline.
var authPage = template.Must(template.New("auth").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} – Stripe sandbox</title>
<style>
body { font-family: system-ui, sans-serif; background: #f6f8fa; color: #1a1a1a; margin: 0; }
main { max-width: 28rem; margin: 3rem auto; background: #fff; border: 1px solid #d0d7de; border-radius: 8px; padding: 1.5rem; }
h1 { font-size: 1.3rem; margin-top: 0; }
dl { display: grid; grid-template-columns: auto 1fr; gap: .25rem 1rem; }
dt { font-weight: 600; }
dd { margin: 0; }
fieldset { border: 0; padding: 0; margin: 1.5rem 0 0; display: flex; gap: .75rem; flex-wrap: wrap; }
legend { font-weight: 600; margin-bottom: .5rem; }
button { font: inherit; padding: .6rem 1rem; border-radius: 6px; border: 2px solid #0a2540; cursor: pointer; }
button.complete { background: #0a7d3b; color: #fff; border-color: #0a7d3b; }
button.fail { background: #fff; color: #a40e26; border-color: #a40e26; }
button:focus-visible { outline: 3px solid #1f6feb; outline-offset: 2px; }
.note { color: #57606a; font-size: .9rem; }
[role=alert] { color: #a40e26; font-weight: 600; }
</style>
</head>
<body>
<main>
<h1>{{.Title}}</h1>
{{if .Message}}<p {{if .IsError}}role="alert"{{else}}role="status"{{end}}>{{.Message}}</p>{{end}}
{{if .Intent}}<dl>
<dt>Payment</dt><dd>{{.Intent}}</dd>
<dt>Amount</dt><dd>{{.Amount}}</dd>
<dt>Status</dt><dd>{{.Status}}</dd>
</dl>{{end}}
{{if .CanAuthenticate}}
<p class="note">This is the Stripe sandbox's stand-in for the card issuer's 3-D Secure challenge. No card data is shown or needed.</p>
<form method="post" action="{{.Action}}">
<input type="hidden" name="client_secret" value="{{.ClientSecret}}">
{{if .ReturnURL}}<input type="hidden" name="return_url" value="{{.ReturnURL}}">{{end}}
<fieldset>
<legend id="choice">Answer the challenge</legend>
<button class="complete" type="submit" name="action" value="complete" aria-describedby="choice">Complete authentication</button>
<button class="fail" type="submit" name="action" value="fail" aria-describedby="choice">Fail authentication</button>
</fieldset>
</form>
{{end}}
{{if .ReturnURL}}<p><a href="{{.ReturnURL}}">Return to the merchant</a></p>{{end}}
</main>
</body>
</html>
`))

type authView struct {
	Title, Message           string
	IsError, CanAuthenticate bool
	Intent, Amount, Status   string
	Action, ClientSecret     string
	ReturnURL                string
}

// zeroDecimal are currencies without minor units.
var zeroDecimal = map[string]bool{"bif": true, "clp": true, "djf": true, "gnf": true, "jpy": true, "kmf": true,
	"krw": true, "mga": true, "pyg": true, "rwf": true, "ugx": true, "vnd": true, "vuv": true, "xaf": true, "xof": true, "xpf": true}

func formatAmount(amount int64, currency string) string {
	if zeroDecimal[currency] {
		return fmt.Sprintf("%d %s", amount, strings.ToUpper(currency))
	}
	return fmt.Sprintf("%d.%02d %s", amount/100, amount%100, strings.ToUpper(currency))
}

// safeReturnURL accepts an absolute http(s) URL or a path, so the page cannot be made to
// link to a script.
func safeReturnURL(raw string) (string, bool) {
	if raw == "" {
		return "", true
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", false
	}
	if u.Scheme == "http" || u.Scheme == "https" {
		return u.String(), u.Host != ""
	}
	if u.Scheme == "" && u.Host == "" && strings.HasPrefix(u.Path, "/") && !strings.HasPrefix(raw, "//") {
		return u.String(), true
	}
	return "", false
}

// authCard returns the card awaiting 3-D Secure on pi: only a card that asks for it, on an
// intent that has not succeeded or been canceled.
func authCard(pi *paymentIntent) *paymentMethod {
	switch pi.Status {
	case "requires_action", "requires_payment_method", "requires_confirmation":
	default:
		return nil
	}
	if pi.authMethod != nil && pi.authMethod.test.outcome == outcomeAuthRequired {
		return pi.authMethod
	}
	return nil
}

func wantsJSON(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == "application/json" {
			return true
		}
	}
	return false
}

// serveAuthenticate shows the challenge page (GET) or applies the donor's answer (POST):
// complete charges the card as a confirmed payment would; fail leaves the intent needing a
// payment method with payment_intent_authentication_failure, as Stripe does.
func (s *Server) serveAuthenticate(w http.ResponseWriter, r *http.Request, piID string) {
	asJSON := wantsJSON(r)
	page := func(status int, v authView) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		_ = authPage.Execute(w, v)
	}
	refuse := func(e *stripeError, title string) {
		if asJSON {
			writeError(w, e)
			return
		}
		page(e.status, authView{Title: title, Message: e.Message, IsError: true})
	}

	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		if err := r.ParseForm(); err != nil {
			refuse(invalid("", "Invalid form: %v", err), "Authentication failed")
			return
		}
	}
	secret := r.FormValue("client_secret")
	returnURL, ok := safeReturnURL(r.FormValue("return_url"))
	if !ok {
		refuse(invalid("return_url", "The return_url must be an http(s) URL or a path."), "Authentication failed")
		return
	}

	s.mu.Lock()
	pi := s.intents[piID]
	if pi == nil {
		s.mu.Unlock()
		refuse(errNoSuch(http.StatusNotFound, "payment_intent", piID, "intent"), "Payment not found")
		return
	}
	if secret != pi.ClientSecret {
		s.mu.Unlock()
		refuse(invalid("client_secret", "The client_secret provided does not match the client_secret associated with the PaymentIntent."),
			"Authentication failed")
		return
	}
	view := authView{Intent: pi.ID, Amount: formatAmount(pi.Amount, pi.Currency), Status: pi.Status,
		Action: r.URL.Path, ClientSecret: secret, ReturnURL: returnURL}
	card := authCard(pi)
	if card == nil {
		s.mu.Unlock()
		view.Title = "Nothing to authenticate"
		view.Message = "This payment has no card awaiting 3-D Secure authentication (its status is " + pi.Status + ")."
		view.IsError = true
		if asJSON {
			writeError(w, intentStateError(pi, view.Message))
			return
		}
		page(http.StatusConflict, view)
		return
	}
	if r.Method == http.MethodGet {
		s.mu.Unlock()
		view.Title = "Authenticate this payment"
		view.CanAuthenticate = true
		page(http.StatusOK, view)
		return
	}

	action := r.FormValue("action")
	if action != "complete" && action != "fail" {
		s.mu.Unlock()
		refuse(invalid("action", "The action must be complete or fail."), "Authentication failed")
		return
	}
	c := &call{s: s, now: time.Now().Unix()}
	if action == "complete" {
		c.succeed(pi, card)
	} else {
		pi.Status = "requires_payment_method"
		pi.PaymentMethod = nil
		pi.NextAction = nil
		pi.LastPaymentError = &paymentError{
			Type: typeInvalidRequest,
			Code: "payment_intent_authentication_failure",
			Message: "The provided PaymentMethod has failed authentication. You can provide payment_method_data or a " +
				"new PaymentMethod to attempt to fulfill this PaymentIntent again.",
			PaymentMethod: card.snapshot(),
		}
		c.emit("payment_intent.payment_failed", pi)
	}
	body, err := s.renderLocked(pi, nil)
	status, events := pi.Status, c.events
	s.mu.Unlock()
	s.dispatch(events)

	if asJSON {
		if err != nil {
			writeError(w, &stripeError{status: http.StatusInternalServerError, Type: typeAPI, Message: "sandbox: " + err.Error()})
			return
		}
		writeBody(w, http.StatusOK, body, nil)
		return
	}
	redirect := "failed"
	if status == "succeeded" {
		redirect = "succeeded"
	}
	if returnURL != "" {
		u, _ := url.Parse(returnURL)
		q := u.Query()
		q.Set("payment_intent", pi.ID)
		q.Set("payment_intent_client_secret", secret)
		q.Set("redirect_status", redirect)
		u.RawQuery = q.Encode()
		http.Redirect(w, r, u.String(), http.StatusSeeOther)
		return
	}
	view.Status = status
	if status == "succeeded" {
		view.Title, view.Message = "Payment authenticated", "Authentication complete: the payment succeeded. You can close this page."
	} else {
		view.Title, view.Message, view.IsError = "Authentication failed", "Authentication failed: the payment was not made.", true
	}
	page(http.StatusOK, view)
}
