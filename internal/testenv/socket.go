package testenv

import (
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// operationIDs numbers the operations sent over open subscriptions' connections ("1" is the
// subscription's own).
var operationIDs atomic.Int64

// ErrConnectionClosed is what Send returns when the server closed the connection before it
// answered.
var ErrConnectionClosed = errors.New("the server closed the connection")

// Send runs one more operation (a query, a mutation or another subscription's first result)
// over the subscription's connection, as graphql-ws clients multiplex them, and returns its
// first answer: its data, or its errors. Messages of the connection's other operations that
// arrive meanwhile are dropped. It returns ErrConnectionClosed when the server closes the
// connection first.
func (s *Subscription) Send(t testing.TB, query string, vars map[string]any) (*Response, error) {
	t.Helper()
	id := fmt.Sprint(operationIDs.Add(1) + 1)
	if err := s.write(wsMessage{ID: id, Type: "subscribe", Payload: mustJSON(map[string]any{"query": query, "variables": vars})}); err != nil {
		return nil, ErrConnectionClosed
	}
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-s.msgs:
			if !ok {
				return nil, ErrConnectionClosed
			}
			if m.ID != id {
				continue
			}
			out := &Response{Status: http.StatusOK, Raw: string(m.Payload)}
			if m.Type == "complete" {
				return nil, fmt.Errorf("operation %s completed without an answer", id)
			}
			if err := decodeMessage(m, out); err != nil {
				return nil, err
			}
			return out, nil
		case <-timeout:
			t.Fatalf("operation over the socket: no answer within 10s")
			return nil, nil
		}
	}
}
