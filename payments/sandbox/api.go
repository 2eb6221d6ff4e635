package sandbox

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// maxBody bounds a request body; Stripe's own requests are a few kilobytes.
const maxBody = 1 << 20

// maxIdempotencyKey is Stripe's limit on an Idempotency-Key's length.
const maxIdempotencyKey = 255

// route is one endpoint of the API subset.
type route struct {
	method string
	// path is split on "/"; "*" stands for an object id.
	path []string
	// object is the type of the object answered, for expand; "list:" prefixes a list's.
	object string
	// params are the parameters Stripe's spec allows (besides expand); any other is refused,
	// as Stripe refuses it, so that a misspelt parameter fails in development.
	params map[string]bool
	handle func(c *call) (any, *stripeError)
}

func newRoute(method, path, object string, handle func(c *call) (any, *stripeError), params ...string) route {
	r := route{method: method, path: strings.Split(strings.Trim(path, "/"), "/"), object: object, handle: handle,
		params: map[string]bool{"expand": true}}
	for _, p := range params {
		r.params[p] = true
	}
	return r
}

// routes lists the API subset; parameter lists are those of Stripe's spec for each endpoint.
// Every handler (customers.go, paymentmethods.go, setupintents.go, paymentintents.go,
// charges.go) runs with s.mu held. It checks all parameters before it changes anything, so
// that a refused request (which saves nothing for its idempotency key) leaves no trace.
var routes = []route{
	newRoute("POST", "/v1/customers", "customer", (*call).createCustomer,
		"address", "balance", "cash_balance", "description", "email", "invoice_prefix", "invoice_settings",
		"metadata", "name", "next_invoice_sequence", "payment_method", "phone", "preferred_locales",
		"shipping", "source", "tax", "tax_exempt", "tax_id_data", "test_clock"),
	newRoute("GET", "/v1/customers", "list:customer", (*call).listCustomers,
		"created", "email", "ending_before", "limit", "starting_after", "test_clock"),
	newRoute("GET", "/v1/customers/*", "customer", (*call).getCustomer),
	newRoute("POST", "/v1/customers/*", "customer", (*call).updateCustomer,
		"address", "balance", "cash_balance", "default_source", "description", "email", "invoice_prefix",
		"invoice_settings", "metadata", "name", "next_invoice_sequence", "phone", "preferred_locales",
		"shipping", "source", "tax", "tax_exempt"),
	newRoute("GET", "/v1/customers/*/payment_methods", "list:payment_method", (*call).listCustomerMethods,
		"allow_redisplay", "ending_before", "limit", "starting_after", "type"),
	newRoute("POST", "/v1/setup_intents", "setup_intent", (*call).createSetupIntent,
		"attach_to_self", "automatic_payment_methods", "confirm", "customer", "description", "flow_directions",
		"mandate_data", "metadata", "on_behalf_of", "payment_method", "payment_method_configuration",
		"payment_method_data", "payment_method_options", "payment_method_types", "return_url", "single_use",
		"usage", "use_stripe_sdk"),
	newRoute("GET", "/v1/setup_intents/*", "setup_intent", (*call).getSetupIntent, "client_secret"),
	newRoute("GET", "/v1/payment_methods", "list:payment_method", (*call).listMethods,
		"customer", "ending_before", "limit", "starting_after", "type"),
	newRoute("GET", "/v1/payment_methods/*", "payment_method", (*call).getMethod),
	newRoute("POST", "/v1/payment_methods/*/attach", "payment_method", (*call).attachMethod, "customer"),
	newRoute("POST", "/v1/payment_methods/*/detach", "payment_method", (*call).detachMethod),
	newRoute("POST", "/v1/payment_intents", "payment_intent", (*call).createIntent,
		"amount", "amount_details", "application_fee_amount", "automatic_payment_methods", "capture_method", "confirm",
		"confirmation_method", "confirmation_token", "currency", "customer", "description", "error_on_requires_action", "mandate",
		"mandate_data", "metadata", "off_session", "on_behalf_of", "payment_method",
		"payment_method_configuration", "payment_method_data", "payment_method_options",
		"payment_method_types", "radar_options", "receipt_email", "return_url", "setup_future_usage",
		"shipping", "statement_descriptor", "statement_descriptor_suffix", "transfer_data", "transfer_group",
		"use_stripe_sdk"),
	newRoute("GET", "/v1/payment_intents", "list:payment_intent", (*call).listIntents,
		"created", "customer", "ending_before", "limit", "starting_after"),
	newRoute("GET", "/v1/payment_intents/*", "payment_intent", (*call).getIntent, "client_secret"),
	newRoute("POST", "/v1/payment_intents/*", "payment_intent", (*call).updateIntent,
		"amount", "application_fee_amount", "capture_method", "currency", "customer", "description",
		"metadata", "payment_method", "payment_method_configuration", "payment_method_data",
		"payment_method_options", "payment_method_types", "receipt_email", "setup_future_usage", "shipping",
		"statement_descriptor", "statement_descriptor_suffix", "transfer_data", "transfer_group"),
	newRoute("POST", "/v1/payment_intents/*/confirm", "payment_intent", (*call).confirmIntent,
		"amount_details", "capture_method", "client_secret", "confirmation_token", "error_on_requires_action", "mandate", "mandate_data",
		"off_session", "payment_method", "payment_method_data", "payment_method_options",
		"payment_method_types", "radar_options", "receipt_email", "return_url", "setup_future_usage",
		"shipping", "use_stripe_sdk"),
	newRoute("POST", "/v1/payment_intents/*/cancel", "payment_intent", (*call).cancelIntent, "cancellation_reason"),
	newRoute("GET", "/v1/charges/*", "charge", (*call).getCharge),
	newRoute("POST", "/v1/refunds", "refund", (*call).createRefund,
		"amount", "charge", "currency", "customer", "instructions_email", "metadata", "origin",
		"payment_intent", "reason", "refund_application_fee", "reverse_transfer"),
}

// matchRoute finds the route for a request and the object id in its path. A path served
// under another method is not found either: Stripe answers both with the same 404.
func matchRoute(method, path string) (r *route, id string) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for i := range routes {
		rt := &routes[i]
		if rt.method != method || len(rt.path) != len(segs) {
			continue
		}
		ok, pid := true, ""
		for j, p := range rt.path {
			switch {
			case p == "*" && segs[j] != "":
				pid = segs[j]
			case p != segs[j]:
				ok = false
			}
			if !ok {
				break
			}
		}
		if ok {
			return rt, pid
		}
	}
	return nil, ""
}

// idemEntry is what the sandbox keeps for one idempotency key: the request it was first used
// with and, once executed, the answer to replay.
type idemEntry struct {
	method, path string
	params       [sha256.Size]byte // paramsDigest
	reqID        string
	done         bool
	res          result // its body compressed (packBody)
}

// packBody compresses an answer kept for its idempotency key: an intent's JSON shrinks to about
// a third, and at an event's millions of keys the saved answers were a third of the sandbox's
// memory. Only a replay unpacks it.
func packBody(b []byte) []byte {
	var buf bytes.Buffer
	zw := flateWriters.Get().(*flate.Writer)
	zw.Reset(&buf)
	_, _ = zw.Write(b) // a bytes.Buffer does not fail
	_ = zw.Close()
	flateWriters.Put(zw)
	return bytes.Clone(buf.Bytes())
}

func unpackBody(b []byte) []byte {
	out, err := io.ReadAll(flate.NewReader(bytes.NewReader(b)))
	if err != nil {
		panic("sandbox: a saved answer does not decompress: " + err.Error()) // packBody wrote it
	}
	return out
}

var flateWriters = sync.Pool{New: func() any {
	zw, _ := flate.NewWriter(nil, flate.BestSpeed) // the level is valid
	return zw
}}

// result is one answer, as written and as saved for an idempotency key.
type result struct {
	status int
	body   []byte
	header http.Header
}

func errorResult(e *stripeError) result {
	return result{status: e.status, body: e.body(), header: e.header()}
}

// saved reports whether Stripe saves an answer for its idempotency key: once execution has
// started (successes, declines, server errors), but not for a request refused while its
// parameters were being checked, which a corrected retry may reuse the key for.
func (r result) saved() bool {
	return r.status < 400 || r.status == http.StatusPaymentRequired || r.status >= 500
}

func (r result) write(w http.ResponseWriter) {
	writeBody(w, r.status, r.body, r.header)
}

// call is one API request being executed, under the state lock.
type call struct {
	s       *Server
	reqID   string
	idemKey string
	params  form
	id      string // the object id in the path
	expand  []string
	object  string
	now     int64
	base    string // the sandbox's own base URL, for the 3-D Secure page
	events  []event
}

// apiKey returns the secret key of a request: a bearer token, or basic auth's user name as
// curl -u sends it.
func apiKey(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if k, ok := strings.CutPrefix(h, "Bearer "); ok {
		return strings.TrimSpace(k)
	}
	if u, _, ok := r.BasicAuth(); ok {
		return u
	}
	return ""
}

func checkKey(key string) *stripeError {
	if key == "" {
		return &stripeError{
			status: http.StatusUnauthorized,
			Type:   typeInvalidRequest,
			Message: "You did not provide an API key. You need to provide your API key in the Authorization header, " +
				"using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
		}
	}
	if strings.HasPrefix(key, "sk_test_") || strings.HasPrefix(key, "rk_test_") {
		return nil
	}
	// Stripe shows only the key's kind and last four characters.
	shown := key
	if i := strings.LastIndexByte(key, '_'); i >= 0 && len(key) > 4 {
		shown = key[:i+1] + "*********" + key[len(key)-4:]
	}
	return &stripeError{
		status:  http.StatusUnauthorized,
		Type:    typeInvalidRequest,
		Message: "Invalid API Key provided: " + shown + " (the Stripe sandbox accepts test secret keys, sk_test_...)",
	}
}

// readParams reads a request's parameters: the query, and for a POST its form body.
func readParams(r *http.Request) (form, *stripeError) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, invalid("", "Invalid query string: %v", err)
	}
	if r.Method != http.MethodPost {
		return form(q), nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, invalid("", "Could not read the request body: %v", err)
	}
	if len(body) > maxBody {
		return nil, invalid("", "The request body is larger than %d bytes.", maxBody)
	}
	if len(bytes.TrimSpace(body)) > 0 {
		if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/x-www-form-urlencoded" {
			return nil, invalid("", "Invalid request: Stripe's API takes application/x-www-form-urlencoded bodies, not %q.", ct)
		}
	}
	b, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, invalid("", "Invalid form body: %v", err)
	}
	for k, v := range b {
		for i := range v {
			// A value that needed no unescaping is a slice of the body: kept in an object, it
			// would keep the whole body alive (a few hundred bytes per charge at an event).
			v[i] = strings.Clone(v[i])
		}
		k = strings.Clone(k) // the same for a name: metadata keys are made from them
		q[k] = append(q[k], v...)
	}
	return form(q), nil
}

// baseURL is the sandbox's own address as the client reached it, including any prefix it is
// mounted under, so that links it hands out (the 3-D Secure page) come back to it.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	prefix := ""
	if u, err := url.ParseRequestURI(r.RequestURI); err == nil {
		prefix = strings.TrimSuffix(u.Path, r.URL.Path)
	}
	return scheme + "://" + r.Host + prefix
}

// serveAPI answers one /v1 request: authentication, routing and parameter checks, faults,
// the idempotency layer, then execution under the state lock.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, reqID string) {
	start := time.Now()
	version := r.Header.Get("Stripe-Version")
	if version == "" {
		version = APIVersion
	}
	w.Header().Set("Stripe-Version", version)
	fault, status := "", 0
	defer func() {
		// Injected faults are worth seeing in a developer's log; ordinary requests are not.
		level := slog.LevelDebug
		if fault != "" {
			level = slog.LevelInfo
		}
		s.log.LogAttrs(r.Context(), level, "stripe sandbox request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", status),
			slog.String("request_id", reqID), slog.String("fault", fault), slog.Duration("took", time.Since(start)))
	}()
	refuse := func(e *stripeError) {
		status = e.status
		writeError(w, e)
	}

	if e := checkKey(apiKey(r)); e != nil {
		w.Header().Set("Www-Authenticate", `Bearer realm="Stripe"`)
		refuse(e)
		return
	}
	rt, id := matchRoute(r.Method, r.URL.Path)
	if rt == nil {
		refuse(errUnrecognizedURL(r.Method, r.URL.Path))
		return
	}
	params, perr := readParams(r)
	if perr != nil {
		refuse(perr)
		return
	}
	if bad := params.unknown(rt.params); bad != "" {
		refuse(errUnknownParam(bad))
		return
	}
	expand := params.list("expand")
	for _, p := range expand {
		if !expandable(rt.object, p) {
			refuse(invalid("expand", "This property cannot be expanded (%s).", p))
			return
		}
	}

	fault, latency, hang := s.decide(r.Method, r.URL.Path)
	switch fault {
	case FaultError429:
		s.sleep(latency, r.Context().Done())
		refuse(errRateLimited())
		return
	case FaultTimeoutBefore:
		status = -1
		s.dropConnection(w, r, hang)
		return
	}

	key := ""
	if r.Method == http.MethodPost {
		key = strings.TrimSpace(r.Header.Get("Idempotency-Key"))
	}
	if len(key) > maxIdempotencyKey {
		refuse(invalid("", "Idempotency-Key is %d characters long; the limit is %d.", len(key), maxIdempotencyKey))
		return
	}
	var entry *idemEntry
	if key != "" {
		digest := paramsDigest(url.Values(params))
		s.mu.Lock()
		prev := s.idem[key]
		if prev == nil {
			entry = &idemEntry{method: r.Method, path: r.URL.Path, params: digest, reqID: reqID}
			s.idem[key] = entry
		}
		s.mu.Unlock()
		if prev != nil {
			res := s.replay(prev, key, r.Method, r.URL.Path, digest)
			s.sleep(latency, r.Context().Done())
			if fault == FaultTimeoutAfter {
				status = -1
				s.dropConnection(w, r, hang)
				return
			}
			status = res.status
			res.write(w)
			return
		}
	}

	// The latency stands for Stripe's processing time: it sits inside the window where the
	// key is in flight, so a concurrent retry with the same key meets a 409 as it would at
	// Stripe. It is not cut short by the client leaving, as Stripe's execution is not.
	s.sleep(latency, nil)

	var res result
	var events []event
	s.mu.Lock()
	if fault == FaultError500 {
		res = errorResult(errInjected500())
	} else {
		c := &call{s: s, reqID: reqID, idemKey: key, params: params, id: id, expand: expand,
			object: rt.object, now: time.Now().Unix(), base: baseURL(r)}
		obj, err := rt.handle(c)
		if err != nil {
			res = errorResult(err)
		} else {
			res = c.render(obj)
		}
		events = c.events
	}
	save := entry != nil && res.saved()
	if entry != nil && !save {
		delete(s.idem, key)
	}
	s.mu.Unlock()
	if save {
		// Compressed outside the state lock, which every request waits on; until it is saved a
		// retry with the key meets the 409 of a request in flight, as during the execution.
		packed := result{status: res.status, body: packBody(res.body), header: res.header}
		s.mu.Lock()
		entry.done, entry.res = true, packed
		s.mu.Unlock()
	}

	s.dispatch(events)
	if fault == FaultTimeoutAfter {
		status = -1
		s.dropConnection(w, r, hang)
		return
	}
	status = res.status
	res.write(w)
}

// replay answers a request whose idempotency key was seen before: the saved answer, or an
// error when the first request is still executing or had other parameters.
func (s *Server) replay(prev *idemEntry, key, method, path string, digest [sha256.Size]byte) result {
	s.mu.Lock()
	done, saved, reqID := prev.done, prev.res, prev.reqID
	same := prev.method == method && prev.path == path && prev.params == digest
	s.mu.Unlock()
	switch {
	case !done:
		e := &stripeError{
			status: http.StatusConflict,
			Type:   typeIdempotency,
			Code:   "idempotency_key_in_use",
			Message: "There is currently another in-progress request using this Stripe API key and idempotency key. " +
				"Please try again later.",
		}
		return errorResult(e)
	case !same:
		e := &stripeError{
			status: http.StatusBadRequest,
			Type:   typeIdempotency,
			Message: "Keys for idempotent requests can only be used with the same parameters they were first used with. " +
				"Try using a key other than '" + key + "' if you meant to execute a different request.",
		}
		return errorResult(e)
	}
	h := saved.header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set("Idempotent-Replayed", "true")
	h.Set("Original-Request", reqID)
	return result{status: saved.status, body: unpackBody(saved.body), header: h}
}

// render answers obj as JSON, expanded as the request asked.
func (c *call) render(obj any) result {
	b, err := c.s.renderLocked(obj, c.expand)
	if err != nil {
		return errorResult(&stripeError{status: http.StatusInternalServerError, Type: typeAPI, Message: "sandbox: " + err.Error()})
	}
	return result{status: http.StatusOK, body: b}
}

// renderLocked encodes obj, replacing the ids named by expand with the objects they name.
func (s *Server) renderLocked(obj any, expand []string) ([]byte, error) {
	b, err := json.Marshal(obj)
	if err != nil || len(expand) == 0 {
		return b, err
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // amounts stay integers
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	for _, p := range expand {
		v = s.expandLocked(v, strings.Split(p, "."))
	}
	return json.Marshal(v)
}

func (s *Server) expandLocked(v any, parts []string) any {
	if len(parts) == 0 {
		return v
	}
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	if m["object"] == "list" && parts[0] == "data" {
		if items, ok := m["data"].([]any); ok {
			for i := range items {
				items[i] = s.expandLocked(items[i], parts[1:])
			}
		}
		return m
	}
	child := m[parts[0]]
	if id, ok := child.(string); ok {
		if obj := s.lookupLocked(id); obj != nil {
			if b, err := json.Marshal(obj); err == nil {
				var cv any
				dec := json.NewDecoder(bytes.NewReader(b))
				dec.UseNumber()
				if dec.Decode(&cv) == nil {
					child = cv
				}
			}
		}
	}
	m[parts[0]] = s.expandLocked(child, parts[1:])
	return m
}

// lookupLocked finds any object by its id.
func (s *Server) lookupLocked(id string) any {
	var obj any
	var ok bool
	switch {
	case strings.HasPrefix(id, "cus_"):
		obj, ok = s.customers[id]
	case strings.HasPrefix(id, "pm_"):
		obj, ok = s.methods[id]
	case strings.HasPrefix(id, "pi_"):
		obj, ok = s.intents[id]
	case strings.HasPrefix(id, "seti_"):
		obj, ok = s.setups[id]
	case strings.HasPrefix(id, "ch_"):
		obj, ok = s.charges[id]
	case strings.HasPrefix(id, "re_"):
		obj, ok = s.refunds[id]
	}
	if !ok {
		return nil
	}
	return obj
}

// expandFields lists, per object type, the fields that hold an expandable id and the type of
// the object they name.
var expandFields = map[string]map[string]string{
	"payment_intent": {"customer": "customer", "payment_method": "payment_method", "latest_charge": "charge"},
	"setup_intent":   {"customer": "customer", "payment_method": "payment_method"},
	"payment_method": {"customer": "customer"},
	"customer":       {"invoice_settings.default_payment_method": "payment_method"},
	"charge":         {"customer": "customer", "payment_intent": "payment_intent"},
}

// expandable reports whether path may be expanded on an object of type object.
func expandable(object, path string) bool {
	if elem, ok := strings.CutPrefix(object, "list:"); ok {
		rest, ok := strings.CutPrefix(path, "data.")
		return ok && expandable(elem, rest)
	}
	for field, target := range expandFields[object] {
		if path == field {
			return true
		}
		if rest, ok := strings.CutPrefix(path, field+"."); ok && expandable(target, rest) {
			return true
		}
	}
	return false
}
