package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/giveathon/giveathon/graph"
	"github.com/giveathon/giveathon/internal/testenv"
)

// TestSigningOutEndsTheSocket: a websocket opened with a session stops serving that session
// once it is signed out, here or on another instance, and is closed.
func TestSigningOutEndsTheSocket(t *testing.T) {
	t.Parallel()
	dbURL := testenv.URL(t)
	env := map[string]string{"DATABASE_URL": dbURL, "LOG_LEVEL": "warn", "SESSION_CACHE_TTL": "200ms"}
	a := start(t, env)
	b := start(t, map[string]string{"DATABASE_URL": dbURL, "LOG_LEVEL": "warn", "SESSION_CACHE_TTL": "200ms"})
	const totals = `subscription { eventTotals { totalCents } }`
	const me = `{ me { id } }`
	card := map[string]any{"i": map[string]any{"providerPaymentMethodId": "pm_card_visa"}}

	for _, signOutOn := range []*running{a, b} {
		token := a.client.Do(t, registerOp, creds(fmt.Sprintf("socket-%d@example.org", time.Now().UnixNano()))).NoErrors(t).String("register", "token")
		byToken := a.client.As(token).Subscribe(t, totals, nil, nil)
		byCookie := a.client.Subscribe(t, totals, nil, http.Header{"Cookie": {"giveathon_session=" + token}, "Origin": {a.url}})
		for _, s := range []*testenv.Subscription{byToken, byCookie} {
			s.Next(t, 10*time.Second).NoErrors(t)
			if r, err := s.Send(t, me, nil); err != nil || r.String("me", "id") == "" {
				t.Fatalf("me over the socket while signed in: %v %v", r, err)
			}
		}
		signOutOn.client.As(token).Do(t, `mutation { logout }`, nil).NoErrors(t)

		for name, s := range map[string]*testenv.Subscription{"token": byToken, "cookie": byCookie} {
			// Every operation is refused (or finds the socket closed) once the session cache
			// has forgotten the session: at once on the instance that signed out, within
			// SESSION_CACHE_TTL on another.
			deadline := time.Now().Add(5 * time.Second)
			for _, op := range []struct {
				query string
				vars  map[string]any
			}{{me, nil}, {addPMOp, card}, {me, nil}} {
				for {
					r, err := s.Send(t, op.query, op.vars)
					if errors.Is(err, testenv.ErrConnectionClosed) {
						break
					}
					if err != nil {
						t.Fatalf("%s socket: %v", name, err)
					}
					if r.Code() == "UNAUTHENTICATED" {
						break
					}
					if signOutOn == a || time.Now().After(deadline) {
						t.Fatalf("%s socket, signed out on instance %s: %.60s answered %s", name, map[bool]string{true: "a", false: "b"}[signOutOn == a], op.query, r.Raw)
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
			// And the server closes the socket.
			s.WaitEnded(t, 5*time.Second)
		}
	}
}

// TestASocketThatNeverSaysHelloIsClosed: a websocket that never sends connection_init is
// closed after graph.SocketInitTimeout rather than held open (2,000 of them held memory).
func TestASocketThatNeverSaysHelloIsClosed(t *testing.T) {
	t.Parallel()
	srv := start(t, map[string]string{"DATABASE_URL": testenv.URL(t), "LOG_LEVEL": "warn"})
	ctx, cancel := context.WithTimeout(context.Background(), graph.SocketInitTimeout+10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.url, "http")+"/graphql",
		&websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	_, _, err = conn.Read(ctx)
	if status := websocket.CloseStatus(err); status == -1 {
		t.Fatalf("a silent socket ended with %v, want the server to close it", err)
	}
}

// TestASocketWhoseHelloIsNotAnObjectIsClosed: a connection_init whose payload is not a JSON
// object is answered by the server closing the socket (gqlgen left it open, unanswered, for
// ever: an outside attack held 22 of them past a minute).
func TestASocketWhoseHelloIsNotAnObjectIsClosed(t *testing.T) {
	t.Parallel()
	srv := start(t, map[string]string{"DATABASE_URL": testenv.URL(t), "LOG_LEVEL": "warn"})
	for _, payload := range []string{`"x"`, `[1]`, `42`} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.url, "http")+"/graphql",
			&websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		if err := conn.Write(ctx, websocket.MessageText, []byte(`{"type":"connection_init","payload":`+payload+`}`)); err != nil {
			t.Fatal(err)
		}
		_, _, err = conn.Read(ctx)
		if status := websocket.CloseStatus(err); status != 4400 {
			t.Errorf("connection_init with the payload %s: the socket ended with %v, want the server to close it with 4400", payload, err)
		}
		conn.CloseNow()
		cancel()
	}
}
