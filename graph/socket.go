package graph

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/auth"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// socket is what the server keeps of one graphql-ws connection: the session or API key it
// was opened with, if any, and how many subscriptions it has open.
type socket struct {
	// token is the session token of a signed-in connection ("" for an anonymous one).
	token string
	// key is the API key of a partner's connection ("" for others), keyID its id and
	// keyExpires when it expires (nil: never).
	key        string
	keyID      string
	keyExpires *time.Time
	// close ends the connection.
	close context.CancelFunc
	// ended is set when the connection's session has ended (signed out, expired).
	ended atomic.Bool

	mu            sync.Mutex
	subscriptions int
}

type socketKey struct{}

// end closes a connection whose session has ended.
func (sock *socket) end() {
	sock.ended.Store(true)
	sock.close()
}

// errSocketSessionEnded answers an operation over a connection whose session has ended, even
// one that raced the closing (its database read cut short by it).
var errSocketSessionEnded = giveathon.Errorf(giveathon.EUNAUTHORIZED, "your session has ended: sign in again")

// errSocketKeyEnded is errSocketSessionEnded for a partner's connection whose key was revoked
// or expired.
var errSocketKeyEnded = giveathon.Errorf(giveathon.EUNAUTHORIZED, "the connection's API key was revoked or has expired")

// endedError is the answer to an operation over the connection once it has ended.
func (sock *socket) endedError() error {
	if sock.key != "" {
		return errSocketKeyEnded
	}
	return errSocketSessionEnded
}

// KeyWatcher is implemented by a KeyService that tells the connections of an API key revoked
// through this process (auth.Keys).
type KeyWatcher interface {
	// WatchKey returns a channel that is closed when the key keyID is revoked, and the
	// function that stops watching it.
	WatchKey(keyID string) (<-chan struct{}, func())
	// Revoked tells the watchers of keyID that it was revoked.
	Revoked(keyID string)
}

// SessionWatcher tells of sessions signed out through this process (auth.Service does).
type SessionWatcher interface {
	// WatchSession returns a channel that is closed when the session of token is signed out,
	// and the function that stops watching it.
	WatchSession(token string) (<-chan struct{}, func())
}

// sockets authenticates graphql-ws connections and keeps them honest: every operation over a
// signed-in connection checks its session again (as fresh as the auth service's session
// cache), and the connection is closed when its session is signed out or expires; a
// partner's connection checks its API key the same way, and is closed when the key is revoked
// or expires. It also caps the subscriptions open on one connection, and the connections open
// from one client address.
type sockets struct {
	auth giveathon.AuthService
	// keys checks partners' API keys (nil: none is accepted).
	keys giveathon.KeyService
	// recheck is how often an idle signed-in connection checks its session (one signed out
	// through this process closes its connections at once).
	recheck          time.Duration
	maxSubscriptions int
	// maxPerAddress caps the connections one client address has open on this process: each
	// subscription re-reads what it watches on a timer, so an anonymous client opening
	// connections without end would take the machine.
	maxPerAddress int
	perAddress    *openCounts
	logger        *slog.Logger
	// present is the server's error presenter: what a refused connection is told.
	present graphql.ErrorPresenterFunc
}

var (
	_ graphql.HandlerExtension          = sockets{}
	_ graphql.OperationParameterMutator = sockets{}
	_ graphql.OperationInterceptor      = sockets{}
)

func (sockets) ExtensionName() string                   { return "Sockets" }
func (sockets) Validate(graphql.ExecutableSchema) error { return nil }

// Close codes of a refused connection_init (graphql-transport-ws names 4403 for a refusal;
// gqlgen's default was 1000, a normal closure, which clients take for success), by the
// refusal's extensions.code.
var closeCodes = map[string]int{
	"UNAUTHENTICATED": 4403,
	"FORBIDDEN":       4403,
	"RATE_LIMITED":    4429,
	"UNAVAILABLE":     4503,
}

// init refuses or accepts a connection (initConnection). A refused one is told what the
// server's error presenter would say over HTTP (gqlgen sends the error's text: an internal
// one's must not reach the client), and closed with the code that says why.
func (s sockets) init(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
	ctx, ack, err := s.initConnection(ctx, p)
	if err == nil {
		return ctx, ack, nil
	}
	told := s.present(ctx, err)
	code, _ := told.Extensions["code"].(string)
	close, ok := closeCodes[code]
	if !ok {
		close = 4500
	}
	// A close frame's reason holds at most 123 bytes.
	reason := told.Message
	for len(reason) > 123 {
		_, size := utf8.DecodeLastRuneInString(reason)
		reason = reason[:len(reason)-size]
	}
	return transport.AppendCloseReason(transport.WithWebsocketCloseCode(ctx, close), reason), nil, errors.New(told.Message)
}

// initConnection authenticates a connection whose connection_init payload carries
// {"Authorization": "Bearer <token>"}, the token a session's or a partner's API key (gvk_...);
// a browser's upgrade request carries its session cookie instead, which the HTTP middleware
// has read already.
func (s sockets) initConnection(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
	if !s.perAddress.take(ctx, auth.ClientIP(ctx), s.maxPerAddress) {
		return ctx, nil, giveathon.Errorf(giveathon.ERATELIMITED, "%d connections from this address are open already: close one first", s.maxPerAddress)
	}
	h := p.Authorization()
	if h == "" {
		if v, ok := p["authorization"].(string); ok {
			h = v
		}
	}
	if h != "" {
		// The connection acts for the token of its connection_init alone: whoever the upgrade
		// request authenticated (a key in its Authorization header, a session cookie) is
		// dropped, or the connection would act for one and be watched for the other (a
		// revoked key's subscription going on under a donor's session).
		ctx = giveathon.NewContextWithUser(giveathon.NewContextWithCaller(ctx, nil), nil)
		scheme, token, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return ctx, nil, giveathon.Errorf(giveathon.EUNAUTHORIZED, "Authorization must be \"Bearer <token>\"")
		}
		token = strings.TrimSpace(token)
		if auth.IsAPIKey(token) {
			if s.keys == nil {
				return ctx, nil, giveathon.Errorf(giveathon.EUNAUTHORIZED, "API keys are not accepted here")
			}
			c, err := s.keys.AuthenticateKey(ctx, token)
			if err != nil {
				return ctx, nil, err
			}
			ctx = auth.WithConnectionToken(giveathon.NewContextWithCaller(ctx, c), token)
		} else {
			u, err := s.auth.Authenticate(ctx, token)
			if err != nil {
				return ctx, nil, err
			}
			ctx = auth.WithConnectionToken(giveathon.NewContextWithUser(ctx, u), token)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	sock := &socket{close: cancel}
	if giveathon.UserFromContext(ctx) != nil {
		sock.token = auth.RequestToken(ctx)
	} else if c := giveathon.CallerFromContext(ctx); c != nil {
		sock.key = auth.RequestToken(ctx)
		sock.keyID, sock.keyExpires = c.Key.ID, c.Key.ExpiresAt
	}
	if sock.token != "" || sock.key != "" {
		go s.watch(ctx, sock)
	}
	return context.WithValue(ctx, socketKey{}, sock), nil, nil
}

// watch closes a signed-in connection when its session is signed out through this process,
// or when a periodic check finds it ended (signed out elsewhere, or expired); and a partner's
// connection when its key is revoked through this process or expires, or when a periodic
// check finds it revoked elsewhere. What ends at once ends before another event is sent.
func (s sockets) watch(ctx context.Context, sock *socket) {
	var ended <-chan struct{}
	if w, ok := s.auth.(SessionWatcher); ok && sock.token != "" {
		var stop func()
		ended, stop = w.WatchSession(sock.token)
		defer stop()
	}
	if w, ok := s.keys.(KeyWatcher); ok && sock.keyID != "" {
		var stop func()
		ended, stop = w.WatchKey(sock.keyID)
		defer stop()
	}
	var expired <-chan time.Time
	if sock.keyExpires != nil {
		t := time.NewTimer(time.Until(*sock.keyExpires))
		defer t.Stop()
		expired = t.C
	}
	ticker := time.NewTicker(s.recheck)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ended:
			sock.end()
			return
		case <-expired:
			sock.end()
			return
		case <-ticker.C:
			err := s.check(ctx, sock)
			if giveathon.ErrorCode(err) == giveathon.EUNAUTHORIZED {
				return
			} else if err != nil && ctx.Err() == nil {
				s.logger.WarnContext(ctx, "websocket: check the session or API key, will try again", "err", err)
			}
		}
	}
}

// check authenticates the connection's session or API key again; when it has ended, it
// closes the connection and returns the EUNAUTHORIZED error that says so.
func (s sockets) check(ctx context.Context, sock *socket) error {
	if sock.token == "" && sock.key == "" {
		return nil
	} else if sock.ended.Load() {
		return sock.endedError()
	}
	var err error
	if sock.key != "" {
		_, err = s.keys.AuthenticateKey(ctx, sock.key)
	} else {
		_, err = s.auth.Authenticate(ctx, sock.token)
	}
	if giveathon.ErrorCode(err) == giveathon.EUNAUTHORIZED {
		sock.end()
	} else if err != nil && sock.ended.Load() {
		return sock.endedError()
	}
	return err
}

// MutateOperationParameters refuses an operation over a connection whose session has ended.
func (s sockets) MutateOperationParameters(ctx context.Context, _ *graphql.RawParams) *gqlerror.Error {
	sock, ok := ctx.Value(socketKey{}).(*socket)
	if !ok {
		return nil
	}
	return gqlerror.WrapIfUnwrapped(s.check(ctx, sock))
}

// InterceptOperation refuses a subscription over a connection that has the most open already.
func (s sockets) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	sock, ok := ctx.Value(socketKey{}).(*socket)
	if !ok || graphql.GetOperationContext(ctx).Operation.Operation != ast.Subscription {
		return next(ctx)
	}
	sock.mu.Lock()
	full := sock.subscriptions >= s.maxSubscriptions
	if !full {
		sock.subscriptions++
	}
	sock.mu.Unlock()
	if full {
		return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{limitError("SUBSCRIPTION_LIMIT_EXCEEDED",
			"at most %d subscriptions may be open on one connection: complete one first", s.maxSubscriptions)}})
	}
	// The operation's context ends with the subscription: completed by either side, or the
	// connection closed.
	context.AfterFunc(ctx, func() {
		sock.mu.Lock()
		sock.subscriptions--
		sock.mu.Unlock()
	})
	return next(ctx)
}

// websocketTransport is gqlgen's websocket transport, which closes each connection when gqlgen
// is done with it: gqlgen returns without closing one whose connection_init payload is not a
// JSON object, and such sockets stayed open for ever, outside every cap.
type websocketTransport struct{ transport.Websocket }

// acceptedConn remembers the connection its implementation accepted.
type acceptedConn struct {
	transport.WebsocketImplementation
	conn transport.WebsocketConn
}

func (a *acceptedConn) Accept(w http.ResponseWriter, r *http.Request, o transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	c, err := a.WebsocketImplementation.Accept(w, r, o)
	a.conn = c
	return c, err
}

func (t websocketTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	accepted := &acceptedConn{WebsocketImplementation: transport.CoderWebsocketImplementation{}}
	t.Implementation = accepted
	t.Websocket.Do(w, r, exec)
	if accepted.conn != nil {
		// A connection gqlgen closed already refuses this; one it left open gets it.
		_ = accepted.conn.WriteClose(4400, "a message could not be read: connection_init's payload must be a JSON object")
		_ = accepted.conn.Close()
	}
}
