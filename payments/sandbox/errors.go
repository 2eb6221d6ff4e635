package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// Stripe's error types (the "type" of the error envelope).
const (
	typeAPI            = "api_error"
	typeCard           = "card_error"
	typeIdempotency    = "idempotency_error"
	typeInvalidRequest = "invalid_request_error"
)

// stripeError is the object inside Stripe's error envelope {"error": {...}}, with the HTTP
// status it is answered with.
type stripeError struct {
	status int
	// shouldRetry, when set, is sent as Stripe-Should-Retry, which stripe-go obeys before its
	// own rules.
	shouldRetry string

	Type          string          `json:"type"`
	Code          string          `json:"code,omitempty"`
	DeclineCode   string          `json:"decline_code,omitempty"`
	Message       string          `json:"message"`
	Param         string          `json:"param,omitempty"`
	Charge        string          `json:"charge,omitempty"`
	PaymentIntent json.RawMessage `json:"payment_intent,omitempty"`
	PaymentMethod *paymentMethod  `json:"payment_method,omitempty"`
	SetupIntent   json.RawMessage `json:"setup_intent,omitempty"`
}

func (e *stripeError) body() []byte {
	b, err := json.Marshal(struct {
		Error *stripeError `json:"error"`
	}{e})
	if err != nil {
		// Every field is a plain value: this cannot happen, and a bare message still parses.
		return []byte(`{"error":{"type":"api_error","message":"sandbox: cannot encode error"}}`)
	}
	return b
}

func (e *stripeError) header() http.Header {
	h := http.Header{}
	if e.shouldRetry != "" {
		h.Set("Stripe-Should-Retry", e.shouldRetry)
	}
	return h
}

func writeError(w http.ResponseWriter, e *stripeError) {
	writeBody(w, e.status, e.body(), e.header())
}

func writeBody(w http.ResponseWriter, status int, body []byte, h http.Header) {
	for k, v := range h {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func invalid(param, format string, args ...any) *stripeError {
	return &stripeError{status: http.StatusBadRequest, Type: typeInvalidRequest, Param: param, Message: fmt.Sprintf(format, args...)}
}

func errMissingParam(param string) *stripeError {
	e := invalid(param, "Missing required param: %s.", param)
	e.Code = "parameter_missing"
	return e
}

func errUnknownParam(param string) *stripeError {
	e := invalid(param, "Received unknown parameter: %s", param)
	e.Code = "parameter_unknown"
	return e
}

// errNoSuch is Stripe's resource_missing: 404 for the object named in the path, 400 for one
// named by a parameter.
func errNoSuch(status int, kind, id, param string) *stripeError {
	return &stripeError{
		status:  status,
		Type:    typeInvalidRequest,
		Code:    "resource_missing",
		Param:   param,
		Message: fmt.Sprintf("No such %s: '%s'", kind, id),
	}
}

func errUnexpectedState(message string) *stripeError {
	e := invalid("", "%s", message)
	e.Code = "payment_intent_unexpected_state"
	return e
}

func errUnrecognizedURL(method, path string) *stripeError {
	return &stripeError{
		status:  http.StatusNotFound,
		Type:    typeInvalidRequest,
		Message: "Unrecognized request URL (" + method + ": " + path + ").",
	}
}

func errInjected500() *stripeError {
	return &stripeError{
		status:  http.StatusInternalServerError,
		Type:    typeAPI,
		Message: "Sorry, something went wrong (a fault injected by the Stripe sandbox). Nothing was executed.",
	}
}

func errRateLimited() *stripeError {
	return &stripeError{
		status:  http.StatusTooManyRequests,
		Type:    typeInvalidRequest,
		Code:    "rate_limit",
		Message: "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.",
	}
}
