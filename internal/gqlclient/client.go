// Package gqlclient is a small GraphQL-over-HTTP client for the tools that drive a running
// Giveathon as its users would (chaos, loadgen): it tells answers worth retrying from final ones.
package gqlclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Client speaks GraphQL over HTTP to a server, as a donor's app would.
type Client struct {
	Base string
	HTTP *http.Client
}

// Error is one GraphQL error. Do returns it wrapped, so errors.As finds the answer's code.
type Error struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

// Error implements error: the message.
func (e *Error) Error() string { return e.Message }

// Code returns extensions.code, or "" when the answer has none.
func (e *Error) Code() string {
	code, _ := e.Extensions["code"].(string)
	return code
}

// ErrTransient is an answer worth retrying: no answer, a 5xx, an internal error, UNAVAILABLE
// or RATE_LIMITED.
var ErrTransient = errors.New("transient")

// Do posts one operation and decodes data into out. It returns ErrTransient (wrapped) for
// what a client should retry, and "<CODE>: <message>" otherwise.
func (c *Client) Do(ctx context.Context, token, query string, vars map[string]any, out any) error {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Base+"/graphql", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrTransient, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%w: read: %v", ErrTransient, err)
	}
	var doc struct {
		Data   json.RawMessage `json:"data"`
		Errors []Error         `json:"errors"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil || resp.StatusCode >= 500 && len(doc.Errors) == 0 {
		return fmt.Errorf("%w: status %d, undecodable answer: %.100s", ErrTransient, resp.StatusCode, raw)
	}
	if len(doc.Errors) > 0 {
		first := &doc.Errors[0]
		switch code := first.Code(); code {
		case "INTERNAL_SERVER_ERROR", "UNAVAILABLE", "RATE_LIMITED", "":
			return fmt.Errorf("%w: %s: %w", ErrTransient, code, first)
		default:
			return fmt.Errorf("%s: %w", code, first)
		}
	}
	if out != nil {
		return json.Unmarshal(doc.Data, out)
	}
	return nil
}

// Retry calls op until it succeeds with something other than a transient error, or the
// deadline passes; backoff grows from 50 ms to 2 s.
func Retry(ctx context.Context, deadline time.Duration, op func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	wait := 50 * time.Millisecond
	for {
		err := op(ctx)
		if err == nil || !errors.Is(err, ErrTransient) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up after %s: %w", deadline, err)
		case <-time.After(wait):
		}
		if wait < 2*time.Second {
			wait *= 2
		}
	}
}
