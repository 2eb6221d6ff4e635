package graph

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/99designs/gqlgen/graphql/playground"
	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/auth"
	"github.com/giveathon/giveathon/graph/generated"
	"github.com/giveathon/giveathon/graph/model"
	"github.com/giveathon/giveathon/metrics"
	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/go-chi/cors"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Config says how to serve the API.
type Config struct {
	// Production turns introspection and the playground off and marks cookies Secure.
	Production bool
	// Limits bound what one request may ask.
	Limits
	// Ready reports whether the service can take traffic (database reachable and migrated).
	Ready func(ctx context.Context) error
	// Unavailable, when set, turns an error without a domain code that means "try again soon"
	// (a lost database connection, a conflict that outlived its retries: db.AsUnavailable)
	// into the domain's EUNAVAILABLE; it returns nil for any other error.
	Unavailable func(error) error
	// TrustedProxies are the proxies whose X-Forwarded-For names the client.
	TrustedProxies []netip.Prefix
	// CORSOrigins are the other origins whose pages may call the API (with credentials).
	CORSOrigins []string
	// Routes adds more routes to the router (webhooks, say).
	Routes func(r chi.Router)
	// AdminRoutes adds routes for admins only (River UI, exports): a visitor gets 401, a
	// donor 403 (auth.AdminOnly).
	AdminRoutes func(r chi.Router)
	// App, when set, serves every other GET and HEAD: the web app.
	App    http.Handler
	Logger *slog.Logger
}

// NewHandler returns the HTTP handler of the whole API: /graphql, /playground, /healthz,
// /readyz and whatever Config.Routes adds.
func NewHandler(res *Resolver, cfg Config) http.Handler {
	cfg.Limits = cfg.Limits.withDefaults()
	r := chi.NewRouter()
	r.Use(middleware.RequestID, recoverer(cfg.Logger), securityHeaders(cfg.Production),
		metrics.HTTPMiddleware(func(r *http.Request) string { return chi.RouteContext(r.Context()).RoutePattern() }))
	if len(cfg.CORSOrigins) > 0 {
		r.Use(cors.Handler(cors.Options{
			AllowedOrigins:   cfg.CORSOrigins,
			AllowedMethods:   []string{http.MethodGet, http.MethodPost, http.MethodOptions},
			AllowedHeaders:   []string{"Content-Type", "Authorization"},
			AllowCredentials: true,
			MaxAge:           600,
		}))
	}

	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	r.Get("/readyz", func(w http.ResponseWriter, req *http.Request) {
		ctx, cancel := context.WithTimeout(req.Context(), 3*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := cfg.Ready(ctx); err != nil {
			cfg.Logger.WarnContext(ctx, "not ready", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "not ready: "+readyReason(err)+"\n")
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	})

	if !cfg.Production {
		r.Method(http.MethodGet, "/metrics", metrics.Handler())
	} else {
		// Production serves them on the admin listener only; a 404 here, not the web app.
		r.Get("/metrics", http.NotFound)
	}

	gql := NewGraphQLServer(res, cfg)
	authenticate := auth.Middleware(res.Auth, auth.MiddlewareConfig{
		SecureCookie: cfg.Production, TrustedProxies: cfg.TrustedProxies, AllowedOrigins: cfg.CORSOrigins, Keys: res.Keys, Logger: cfg.Logger,
	})
	r.Group(func(r chi.Router) {
		r.Use(limitBody(cfg.MaxBodyBytes), authenticate)
		r.Handle("/graphql", withLoaders(res.CharityService, gql))
	})
	if !cfg.Production {
		r.Get("/playground", playground.Handler("Giveathon GraphQL playground", "/graphql"))
	} else {
		// Not the web app's page either: a 404 says plainly that it is off.
		r.Get("/playground", http.NotFound)
	}
	if cfg.Routes != nil {
		cfg.Routes(r)
	}
	if cfg.AdminRoutes != nil {
		r.Group(func(r chi.Router) {
			r.Use(limitBody(cfg.MaxBodyBytes), authenticate, auth.AdminOnly)
			cfg.AdminRoutes(r)
		})
	}
	if cfg.App != nil {
		// The web app takes every other page; its router shows its own "not found".
		// Its script and styles go out compressed (about a quarter of their size).
		app := middleware.Compress(5, "text/html", "text/css", "text/javascript", "application/javascript", "image/svg+xml")(cfg.App)
		r.Get("/*", app.ServeHTTP)
		r.Head("/*", app.ServeHTTP)
	}
	return r
}

// SocketInitTimeout is how long a new websocket may wait before its connection_init.
const SocketInitTimeout = 5 * time.Second

// NewGraphQLServer returns the gqlgen server with its transports, caches and limits.
func NewGraphQLServer(res *Resolver, cfg Config) *handler.Server {
	c := generated.Config{Resolvers: res}
	c.Complexity.Query.Charities = func(child int, first *int, _ *string, _ *string) int { return listCost(child, first) }
	c.Complexity.Query.AdminDonations = func(child int, _ *model.AdminDonationFilter, first *int, _ *string) int {
		return listCost(child, first)
	}
	c.Complexity.Query.AdminAuditLog = func(child int, first *int, _ *string) int { return listCost(child, first) }
	c.Complexity.Query.Partners = func(child int, first *int, _ *string) int { return listCost(child, first) }
	c.Complexity.User.Donations = func(child int, first *int, _ *string, _ *giveathon.DonationStatus) int {
		return listCost(child, first)
	}
	// A partner's lists are priced like every other (its cost budget is this complexity).
	c.Complexity.Query.PartnerDonations = func(child int, first *int, _ *string, _ *model.PartnerDonationFilter) int {
		return listCost(child, first)
	}
	c.Complexity.Query.WebhookDeliveries = func(child int, _ string, first *int, _ *string) int { return listCost(child, first) }
	c.Complexity.Query.PartnerEvents = func(child int, _ *string, first *int) int {
		// Its page is larger than other lists'; a first out of range is priced at the default
		// page, so that the resolver's error, which names the field, is the one returned.
		n := defaultPartnerEventsPage
		if first != nil && *first >= 0 && *first <= giveathon.MaxPartnerEventsPage {
			n = *first
		}
		return 1 + n*child
	}
	srv := handler.New(generated.NewExecutableSchema(c))
	cfg.Limits = cfg.Limits.withDefaults()

	_, _, recheck := res.Live.defaults()
	present := errorPresenter(cfg.Logger, cfg.Unavailable)
	ws := sockets{auth: res.Auth, keys: res.Keys, recheck: recheck, maxSubscriptions: cfg.MaxSubscriptionsPerSocket,
		maxPerAddress: cfg.MaxSocketsPerAddress, perAddress: newOpenCounts(), logger: cfg.Logger,
		present: present}
	// coder/websocket, gqlgen's default, refuses upgrades from pages of another origin.
	// A connection that does not say connection_init within SocketInitTimeout is closed
	// (gqlgen closes it with 1002 where graphql-ws names 4408): an idle socket costs the
	// server memory for nothing.
	srv.AddTransport(websocketTransport{transport.Websocket{KeepAlivePingInterval: 10 * time.Second, InitFunc: ws.init, InitTimeout: SocketInitTimeout}})
	srv.AddTransport(transport.Options{})
	srv.AddTransport(getTransport{})
	srv.AddTransport(postTransport{})
	srv.AddTransport(unsupportedTransport{})

	checked := lru.New[*ast.QueryDocument](1000)
	srv.SetQueryCache(checked)
	srv.SetParserTokenLimit(cfg.MaxTokens)
	srv.SetDisableSuggestion(cfg.Production)
	srv.SetValidationRulesFn(validationRules(cfg.Production))
	if !cfg.Production {
		srv.Use(extension.Introspection{})
	}
	srv.Use(ws)
	// Before the persisted-query extension, so that in persisted-only mode nothing unlisted
	// reaches its cache.
	srv.Use(queryLimits{Limits: cfg.Limits, checked: checked})
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](max(1000, len(cfg.PersistedQueries)))})
	srv.Use(extension.FixedComplexityLimit(cfg.MaxComplexity))
	srv.Use(newPartnerLimits(res.Guard, cfg.Limits))

	srv.Use(operationMetrics{})
	srv.SetErrorPresenter(present)
	srv.SetRecoverFunc(func(ctx context.Context, p any) error {
		cfg.Logger.ErrorContext(ctx, "panic in resolver", "panic", p, "request_id", middleware.GetReqID(ctx), "stack", string(debug.Stack()))
		return errors.New("internal error")
	})
	return srv
}

// listCost is the complexity of a paged list: its page size times the cost of one item.
func listCost(child int, first *int) int {
	n := giveathon.DefaultPageSize
	if first != nil && *first > 0 {
		n = *first
	}
	return 1 + n*child
}

// extension codes by domain code.
var codes = map[string]string{
	giveathon.ECONFLICT:       "CONFLICT",
	giveathon.EINVALID:        "BAD_USER_INPUT",
	giveathon.ENOTFOUND:       "NOT_FOUND",
	giveathon.EUNAUTHORIZED:   "UNAUTHENTICATED",
	giveathon.EFORBIDDEN:      "FORBIDDEN",
	giveathon.ERATELIMITED:    "RATE_LIMITED",
	giveathon.ENOTIMPLEMENTED: "NOT_IMPLEMENTED",
	giveathon.EUNAVAILABLE:    "UNAVAILABLE",
}

// errorPresenter turns domain errors into extensions.code (and extensions.field), keeps
// GraphQL's own parse and validation errors, and hides everything else behind "internal
// error" and a request id, logging it in full.
func errorPresenter(logger *slog.Logger, unavailable func(error) error) graphql.ErrorPresenterFunc {
	present := presentError(logger, unavailable)
	return func(ctx context.Context, err error) *gqlerror.Error {
		e := present(ctx, err)
		e.Message = clip(e.Message, maxErrorMessage)
		if f, ok := e.Extensions["field"].(string); ok {
			// A variable's or an input field's name, as the client wrote it.
			e.Extensions["field"] = clip(f, maxErrorMessage)
		}
		return e
	}
}

// maxErrorMessage is the most characters of an error message a client is sent: a message
// that quotes what the client sent (a token that does not parse, a value that does not
// coerce) would otherwise echo a request's worth of input back.
const maxErrorMessage = 300

// clip cuts s to at most max characters, marking the cut with an ellipsis.
func clip(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	return string([]rune(s)[:max-1]) + "…"
}

func presentError(logger *slog.Logger, unavailable func(error) error) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		if unavailable != nil && giveathon.ErrorCode(err) == giveathon.EINTERNAL {
			if u := unavailable(err); u != nil {
				logger.WarnContext(ctx, "unavailable", "err", err, "request_id", middleware.GetReqID(ctx))
				err = u
			}
		}
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		if gqlErr.Extensions == nil {
			gqlErr.Extensions = map[string]any{}
		}
		var domainErr *giveathon.Error
		if errors.As(err, &domainErr) {
			gqlErr.Message = domainErr.Message
			gqlErr.Extensions["code"] = codes[domainErr.Code]
			if domainErr.Field != "" {
				gqlErr.Extensions["field"] = domainErr.Field
			} else if f := lastName(gqlErr.Path); f != "" && domainErr.Code == giveathon.EINVALID {
				// A scalar's refusal of an argument (model.UnmarshalInt64): the argument's name.
				gqlErr.Extensions["field"] = f
			}
			if domainErr.RetryAfter > 0 {
				gqlErr.Extensions["retryAfter"] = int(domainErr.RetryAfter.Round(time.Second) / time.Second)
			}
			return gqlErr
		}
		var inner *gqlerror.Error
		if errors.As(err, &inner) && inner.Err == nil && isVariableValueError(gqlErr) {
			// gqlparser's coercion of a variable's value: bad input, on the variable's path.
			gqlErr.Extensions["code"] = "BAD_USER_INPUT"
			gqlErr.Extensions["field"] = lastName(gqlErr.Path)
			if _, typ, ok := strings.Cut(gqlErr.Message, " as "); ok && strings.HasPrefix(gqlErr.Message, "cannot use ") {
				// "cannot use string as Int" (of 1500.5, decoded as a json.Number) names Go's kind.
				gqlErr.Message = model.Expected(typ)
			}
			gqlErr.Message = gqlErr.Path.String() + ": " + gqlErr.Message
			return gqlErr
		}
		if errors.As(err, &inner) && inner.Err == nil {
			// gqlgen's and gqlparser's own errors: bad JSON, parse, validation, coercion.
			if _, ok := gqlErr.Extensions["code"]; !ok {
				gqlErr.Extensions["code"] = errcode.ValidationFailed
			}
			return gqlErr
		}
		if isInputError(err) {
			gqlErr.Extensions["code"] = "BAD_USER_INPUT"
			return gqlErr
		}
		if strings.Contains(err.Error(), errSeveralStreams) {
			// gqlparser's validation counts a subscription's fields by name, so aliases of one
			// field, or @skip and @include on it, reach gqlgen's executor, which refuses them.
			gqlErr.Message = "a subscription must select exactly one top-level field (not several under aliases, nor one that @skip or @include may leave out)"
			gqlErr.Extensions["code"] = errcode.ValidationFailed
			return gqlErr
		}
		reqID := middleware.GetReqID(ctx)
		logger.ErrorContext(ctx, "internal error", "err", err, "request_id", reqID, "path", gqlErr.Path.String())
		gqlErr.Message = "internal error"
		gqlErr.Extensions = map[string]any{"code": "INTERNAL_SERVER_ERROR", "requestId": reqID}
		return gqlErr
	}
}

// isVariableValueError reports whether a GraphQL error is gqlparser's refusal of a variable's
// value (its path starts with "variable", then the variable's name), rather than of the
// operation itself.
func isVariableValueError(e *gqlerror.Error) bool {
	if len(e.Path) < 2 {
		return false
	}
	first, ok := e.Path[0].(ast.PathName)
	return ok && first == "variable"
}

// lastName is the last name on a path: the argument, input field or variable an error is
// about ("" for none).
func lastName(p ast.Path) string {
	for i := len(p) - 1; i >= 0; i-- {
		if n, ok := p[i].(ast.PathName); ok {
			return string(n)
		}
	}
	return ""
}

// errSeveralStreams is what gqlgen's executor answers a subscription that selects other than
// one top-level field.
const errSeveralStreams = "must subscribe to exactly one stream"

// isInputError reports whether err came from coercing an argument (an Int out of range, say),
// which gqlgen reports as a plain error on the argument's path.
func isInputError(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "cannot represent") || strings.Contains(msg, "must be") && strings.Contains(msg, "input:")
}

// limitBody refuses bodies over max bytes with 413 before anything reads them.
func limitBody(max int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Body == nil || r.Body == http.NoBody {
				next.ServeHTTP(w, r)
				return
			}
			if r.ContentLength > max {
				tooLarge(w, r, max)
				return
			}
			body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
			if int64(len(body)) > max {
				tooLarge(w, r, max)
				return
			}
			if trimmed := bytes.TrimLeft(body, " \t\r\n"); len(trimmed) > 0 && trimmed[0] == '[' {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, `{"errors":[{"message":"batched operations are not accepted: send one operation per request","extensions":{"code":"BAD_USER_INPUT"}}]}`+"\n")
				return
			} else if err != nil {
				http.Error(w, "could not read the request body", http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			next.ServeHTTP(w, r)
		})
	}
}

// drainLimit is how much of an oversized body is read and dropped before the 413, so a
// client still sending it gets the answer rather than a reset connection.
const drainLimit = 16 << 20

func tooLarge(w http.ResponseWriter, r *http.Request, max int64) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, drainLimit))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Connection", "close")
	w.WriteHeader(http.StatusRequestEntityTooLarge)
	_, _ = fmt.Fprintf(w, `{"errors":[{"message":"the request body is larger than %d bytes","extensions":{"code":"BAD_USER_INPUT"}}]}`+"\n", max)
}

// securityHeaders sets the headers every answer carries: no sniffing, no framing, no
// referrer, and for the API's own answers a policy that lets them load nothing. The playground
// page, which loads GraphiQL, sets its own.
func securityHeaders(production bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("X-Frame-Options", "DENY")
			h.Set("Referrer-Policy", "no-referrer")
			h.Set("Cross-Origin-Opener-Policy", "same-origin")
			if r.URL.Path != "/playground" {
				h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
			}
			if production {
				h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
			}
			next.ServeHTTP(w, r)
		})
	}
}

// recoverer turns a panic outside the resolvers into a logged 500.
func recoverer(logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if p := recover(); p != nil {
					if p == http.ErrAbortHandler {
						panic(p)
					}
					logger.ErrorContext(r.Context(), "panic in handler", "panic", p, "request_id", middleware.GetReqID(r.Context()), "stack", string(debug.Stack()))
					http.Error(w, "internal error", http.StatusInternalServerError)
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// readyReason is the short public reason for a failed readiness check.
func readyReason(err error) string {
	msg := err.Error()
	if i := strings.IndexByte(msg, ':'); i > 0 && !strings.Contains(msg, "migrate") {
		return msg[:i]
	}
	return msg
}

// operationMetrics records each GraphQL operation's latency and outcome under a bounded name:
// its type and first root field ("mutation submitDonation"), never the client's own name.
type operationMetrics struct{}

var _ graphql.ResponseInterceptor = operationMetrics{}

func (operationMetrics) ExtensionName() string                   { return "OperationMetrics" }
func (operationMetrics) Validate(graphql.ExecutableSchema) error { return nil }

func (operationMetrics) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	start := time.Now()
	resp := next(ctx)
	name := "invalid"
	if graphql.HasOperationContext(ctx) {
		if op := graphql.GetOperationContext(ctx).Operation; op != nil {
			name = string(op.Operation)
			if len(op.SelectionSet) > 0 {
				if f, ok := op.SelectionSet[0].(*ast.Field); ok {
					name += " " + f.Name
				}
			}
		}
	}
	code := ""
	if resp != nil && len(resp.Errors) > 0 {
		code, _ = resp.Errors[0].Extensions["code"].(string)
		if code == "" {
			code = "error"
		}
	}
	metrics.GraphQLOperations.WithLabelValues(name, code).Inc()
	metrics.GraphQLDuration.WithLabelValues(name).Observe(metrics.Since(start))
	return resp
}
