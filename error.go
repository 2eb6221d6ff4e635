// Package giveathon holds the domain of the Giveathon donation platform: plain types, the rules
// that govern them and the error codes every adapter maps to its own protocol. It imports only
// the standard library.
package giveathon

import (
	"errors"
	"fmt"
	"time"
)

// Error codes, shared by every adapter. Anything without a code is internal: users see
// "internal error" and the details go to the log.
const (
	ECONFLICT       = "conflict"
	EINTERNAL       = "internal"
	EINVALID        = "invalid"
	ENOTFOUND       = "not_found"
	EUNAUTHORIZED   = "unauthorized"
	EFORBIDDEN      = "forbidden"
	ERATELIMITED    = "rate_limited"
	ENOTIMPLEMENTED = "not_implemented"
	// EUNAVAILABLE is retryable: the change was not made durable in time (the database is
	// restarting or failing over, or conflicts did not clear before the deadline); RetryAfter
	// says when to try again.
	EUNAVAILABLE = "unavailable"
)

// Error is an error a user may see: a code, a human message and, for invalid input, the field
// that is wrong.
type Error struct {
	Code    string
	Message string
	// Field names the input field that is wrong, for EINVALID (e.g. "email").
	Field string
	// RetryAfter says when to try again: for ERATELIMITED, when the window ends; for
	// EUNAVAILABLE (the database could not make the change durable in time: conflicts that
	// did not clear, a restart or failover), a short wait after which trying again with the
	// same idempotency key is expected to work.
	RetryAfter time.Duration
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("giveathon error: code=%s field=%s message=%s", e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("giveathon error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code string, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EINVALID error that names the wrong field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Unavailable returns an EUNAVAILABLE error that says to try again after retryAfter.
func Unavailable(retryAfter time.Duration, format string, args ...any) *Error {
	return &Error{Code: EUNAVAILABLE, Message: fmt.Sprintf(format, args...), RetryAfter: retryAfter}
}

// ErrorCode returns the code of err, or EINTERNAL when err is not an *Error.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the human message of err, or "internal error" when err is not an *Error.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// ErrorField returns the field named by err, or "" when there is none.
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// WithCode returns a copy of e with another code, keeping its message and field.
func (e *Error) WithCode(code string) *Error {
	c := *e
	c.Code = code
	return &c
}

// ErrorRetryAfter returns how long err says to wait, or 0.
func ErrorRetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// WithField returns a copy of e that names another field, keeping its code and message.
func (e *Error) WithField(field string) *Error {
	c := *e
	c.Field = field
	return &c
}
