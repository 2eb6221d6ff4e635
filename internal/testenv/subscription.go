package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Subscription is one GraphQL subscription over graphql-ws (the graphql-transport-ws
// protocol), as the web app opens it.
type Subscription struct {
	conn   *websocket.Conn
	ctx    context.Context
	cancel context.CancelFunc
	msgs   chan wsMessage
	errs   chan error
	// closed is how the connection ended, set before msgs is closed.
	closed error
}

type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// Subscribe opens a websocket to the server, sends connection_init (with the client's token
// in the payload, as non-browser clients do), and subscribes to query. Header adds request
// headers to the upgrade (a Cookie and Origin, as a browser sends). It fails the test if the
// connection is refused.
func (c *Client) Subscribe(t testing.TB, query string, vars map[string]any, header http.Header) *Subscription {
	t.Helper()
	s, err := c.TrySubscribe(query, vars, header)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// TrySubscribe is Subscribe that returns the connection's error instead of failing.
func (c *Client) TrySubscribe(query string, vars map[string]any, header http.Header) (*Subscription, error) {
	ctx, cancel := context.WithCancel(context.Background())
	dialCtx, dialCancel := context.WithTimeout(ctx, 10*time.Second)
	defer dialCancel()
	url := "ws" + strings.TrimPrefix(c.URL, "http") + "/graphql"
	conn, _, err := websocket.Dial(dialCtx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}, HTTPHeader: header})
	if err != nil {
		cancel()
		return nil, err
	}
	s := &Subscription{conn: conn, ctx: ctx, cancel: cancel, msgs: make(chan wsMessage, 64), errs: make(chan error, 1)}
	init := map[string]any{}
	if c.Token != "" {
		init["Authorization"] = "Bearer " + c.Token
	}
	if err := s.write(wsMessage{Type: "connection_init", Payload: mustJSON(init)}); err != nil {
		s.Close()
		return nil, err
	}
	go s.read()
	if err := s.write(wsMessage{ID: "1", Type: "subscribe", Payload: mustJSON(map[string]any{"query": query, "variables": vars})}); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func (s *Subscription) write(m wsMessage) error {
	b, _ := json.Marshal(m)
	return s.conn.Write(s.ctx, websocket.MessageText, b)
}

// read delivers the subscription's messages and answers the server's pings.
func (s *Subscription) read() {
	for {
		_, b, err := s.conn.Read(s.ctx)
		if err != nil {
			s.closed = err
			s.errs <- err
			close(s.msgs)
			return
		}
		var m wsMessage
		if err := json.Unmarshal(b, &m); err != nil {
			continue
		}
		switch m.Type {
		case "ping":
			_ = s.write(wsMessage{Type: "pong"})
		case "pong", "connection_ack", "ka":
		default:
			s.msgs <- m
		}
	}
}

// Next waits (at most timeout) for the subscription's next result: its data, or its errors
// (an "error" message). It fails the test when the connection closes or nothing comes.
func (s *Subscription) Next(t testing.TB, timeout time.Duration) *Response {
	t.Helper()
	select {
	case m, ok := <-s.msgs:
		if !ok {
			t.Fatalf("subscription: connection closed: %v", <-s.errs)
		}
		out := &Response{Status: http.StatusOK, Raw: string(m.Payload)}
		if m.Type == "complete" {
			t.Fatalf("subscription: completed by the server")
		}
		_ = decodeMessage(m, out)
		return out
	case <-time.After(timeout):
		t.Fatalf("subscription: nothing within %s", timeout)
		return nil
	}
}

// Until reads results until one satisfies ok, and returns it.
func (s *Subscription) Until(t testing.TB, timeout time.Duration, ok func(*Response) bool) *Response {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("subscription: no wanted result within %s", timeout)
		}
		r := s.Next(t, left)
		if ok(r) {
			return r
		}
	}
}

// Close ends the subscription and its connection.
func (s *Subscription) Close() {
	_ = s.conn.Close(websocket.StatusNormalClosure, "")
	s.cancel()
}

// Ended reports whether the server ended the subscription (within timeout) without
// delivering a result, by completing it or closing the connection, and what it sent instead
// if it did not.
func (s *Subscription) Ended(timeout time.Duration) (bool, string) {
	select {
	case m, ok := <-s.msgs:
		if !ok || m.Type == "complete" {
			return true, ""
		}
		return false, m.Type + " " + string(m.Payload)
	case <-time.After(timeout):
		return false, "still open after " + timeout.String()
	}
}

// CloseStatus is the close code and reason the server closed the connection with, once
// Ended or Next has seen the connection end (-1 and "" when it ended without a close frame).
func (s *Subscription) CloseStatus() (websocket.StatusCode, string) {
	var ce websocket.CloseError
	if errors.As(s.closed, &ce) {
		return ce.Code, ce.Reason
	}
	return -1, ""
}

// WaitEnded waits until the server ends the subscription, each wait up to timeout, passing
// over the results it pushes before it does; anything else (an error, no end) fails the test.
func (s *Subscription) WaitEnded(t testing.TB, timeout time.Duration) {
	t.Helper()
	for {
		ended, got := s.Ended(timeout)
		if ended {
			return
		}
		if !strings.HasPrefix(got, "next ") {
			t.Fatalf("instead of ending, the subscription sent %s", got)
		}
	}
}

// decodeMessage fills out with the data and errors of a "next" message, or the errors of an
// "error" one.
func decodeMessage(m wsMessage, out *Response) error {
	switch m.Type {
	case "next":
		var doc struct {
			Data   map[string]any `json:"data"`
			Errors []GQLError     `json:"errors"`
		}
		err := json.Unmarshal(m.Payload, &doc)
		out.Data, out.Errors = doc.Data, doc.Errors
		return err
	case "error":
		return json.Unmarshal(m.Payload, &out.Errors)
	}
	return fmt.Errorf("unexpected %s message: %s", m.Type, m.Payload)
}
