package main

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

// client speaks GraphQL over HTTP to the server under test, as a donor's app would.
type client struct {
	base string
	http *http.Client
}

// gqlError is one GraphQL error.
type gqlError struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

// errTransient is an answer worth retrying: no answer, a 5xx, or an internal error.
var errTransient = errors.New("transient")

// do posts one operation and decodes data into out. It returns errTransient (wrapped) for
// what a client should retry, and the GraphQL error code otherwise.
func (c *client) do(ctx context.Context, token, query string, vars map[string]any, out any) error {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/graphql", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", errTransient, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%w: read: %v", errTransient, err)
	}
	if resp.StatusCode >= 500 {
		return fmt.Errorf("%w: status %d", errTransient, resp.StatusCode)
	}
	var doc struct {
		Data   json.RawMessage `json:"data"`
		Errors []gqlError      `json:"errors"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("%w: status %d, undecodable answer: %.100s", errTransient, resp.StatusCode, raw)
	}
	if len(doc.Errors) > 0 {
		code, _ := doc.Errors[0].Extensions["code"].(string)
		switch code {
		case "INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE", "RATE_LIMITED", "":
			return fmt.Errorf("%w: %s: %s", errTransient, code, doc.Errors[0].Message)
		}
		return fmt.Errorf("%s: %s", code, doc.Errors[0].Message)
	}
	if out != nil {
		return json.Unmarshal(doc.Data, out)
	}
	return nil
}

// retry calls op until it succeeds with something other than a transient error, or the
// deadline passes; backoff grows from 50 ms to 2 s.
func retry(ctx context.Context, deadline time.Duration, op func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	wait := 50 * time.Millisecond
	for {
		err := op(ctx)
		if err == nil || !errors.Is(err, errTransient) {
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
