package auth

import (
	"context"
	"encoding/json"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/giveathon/giveathon"
)

// CookieName is the session cookie the web app uses instead of a bearer token.
const CookieName = "giveathon_session"

type requestKey struct{}

// request is what the middleware learns of one request, for resolvers that sign in and out.
type request struct {
	w            http.ResponseWriter
	clientIP     string
	token        string
	authErr      error
	secureCookie bool
}

// Middleware authenticates a request from its bearer token or, for requests a browser cannot
// send cross-site without CORS (JSON POSTs and GETs), its session cookie. A bearer token that
// starts with gvk_ is a partner's API key: the partner (giveathon.Caller) goes into the
// context, never a user. Otherwise the user, if any, goes into the context. A token or key
// that is malformed, expired or revoked leaves the request anonymous and its reason is kept
// for AuthError.
func Middleware(svc giveathon.AuthService, cfg MiddlewareConfig) func(http.Handler) http.Handler {
	logger := cfg.Logger
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			st := &request{w: w, secureCookie: cfg.SecureCookie, clientIP: ClientAddress(r, cfg.TrustedProxies)}
			ctx := context.WithValue(r.Context(), requestKey{}, st)
			if token, ok := requestToken(r, cfg.AllowedOrigins); ok {
				st.token = token
				var u *giveathon.User
				var c *giveathon.Caller
				var err error
				if IsAPIKey(token) {
					c, err = authenticateKey(ctx, cfg.Keys, token)
				} else {
					u, err = svc.Authenticate(ctx, token)
				}
				switch {
				case err == nil && c != nil:
					ctx = giveathon.NewContextWithCaller(ctx, c)
				case err == nil:
					ctx = giveathon.NewContextWithUser(ctx, u)
				case giveathon.ErrorCode(err) == giveathon.EUNAUTHORIZED:
					st.authErr = err
				case giveathon.ErrorCode(err) == giveathon.EUNAVAILABLE:
					// The session could not be read in time (the database restarting): the
					// client is told to come back, as the resolvers would tell it.
					unavailable(w, err)
					return
				default:
					logger.ErrorContext(ctx, "authenticate request", "err", err)
					http.Error(w, `{"errors":[{"message":"internal error","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}`, http.StatusInternalServerError)
					return
				}
			}
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// unavailable answers 503 with a GraphQL error of code UNAVAILABLE, its retryAfter in seconds
// and the same in a Retry-After header.
func unavailable(w http.ResponseWriter, err error) {
	seconds := max(1, int(giveathon.ErrorRetryAfter(err).Round(time.Second)/time.Second))
	body, _ := json.Marshal(map[string]any{"errors": []any{map[string]any{"message": giveathon.ErrorMessage(err),
		"extensions": map[string]any{"code": "UNAVAILABLE", "retryAfter": seconds}}}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Retry-After", strconv.Itoa(seconds))
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write(body)
}

// MiddlewareConfig configures Middleware.
type MiddlewareConfig struct {
	// SecureCookie marks the session cookie Secure (outside development).
	SecureCookie bool
	// TrustedProxies are the proxies whose X-Forwarded-For names the client.
	TrustedProxies []netip.Prefix
	// AllowedOrigins are the other origins (CORS_ORIGINS) whose pages may use the session
	// cookie; pages of this server's own origin always may.
	AllowedOrigins []string
	// Keys checks partners' API keys; nil: no key is accepted.
	Keys   giveathon.KeyService
	Logger *slog.Logger
}

// authenticateKey checks an API key with keys (nil: none is accepted here).
func authenticateKey(ctx context.Context, keys giveathon.KeyService, secret string) (*giveathon.Caller, error) {
	if keys == nil {
		return nil, giveathon.Errorf(giveathon.EUNAUTHORIZED, "API keys are not accepted here")
	}
	return keys.AuthenticateKey(ctx, secret)
}

func requestToken(r *http.Request, allowedOrigins []string) (string, bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return "", true // present but unusable: treated as a malformed token
		}
		return strings.TrimSpace(token), true
	}
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return "", false
	}
	// A cross-site form can POST with a cookie but not with a JSON content type (that needs a
	// CORS preflight), and GET cannot mutate: so only those carry cookie sessions.
	if r.Method == http.MethodPost {
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if mt != "application/json" {
			return "", false
		}
	}
	// And a page of another origin may not use it, unless that origin is allowed.
	if origin := r.Header.Get("Origin"); origin != "" && !sameOrigin(r, origin) && !slices.Contains(allowedOrigins, origin) {
		return "", false
	}
	return c.Value, true
}

// sameOrigin reports whether origin is this server's own (the host the request was sent to).
func sameOrigin(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

// ClientAddress returns the client's address: the peer's, unless the peer is one of the
// trusted proxies, in which case it is the nearest address in X-Forwarded-For that is not a
// trusted proxy (the ones further left are the client's to forge).
func ClientAddress(r *http.Request, trusted []netip.Prefix) string {
	peer := r.RemoteAddr
	if host, _, err := net.SplitHostPort(peer); err == nil {
		peer = host
	}
	if len(trusted) == 0 || !isTrusted(peer, trusted) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if hop == "" {
			continue
		}
		if !isTrusted(hop, trusted) {
			return hop
		}
	}
	return peer
}

func isTrusted(addr string, trusted []netip.Prefix) bool {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	for _, p := range trusted {
		if p.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}

// ClientIP returns the address of the client that sent the request, for per-address limits.
func ClientIP(ctx context.Context) string {
	if st, ok := ctx.Value(requestKey{}).(*request); ok {
		return st.clientIP
	}
	return "unknown"
}

// AuthError returns why the request's token was not accepted (nil when none was sent or it
// was good): resolvers that need a user return it instead of a bare "sign in first".
func AuthError(ctx context.Context) error {
	if st, ok := ctx.Value(requestKey{}).(*request); ok {
		return st.authErr
	}
	return nil
}

// RequestToken returns the session token the request carried, if any: the bearer token or
// cookie of the HTTP request, or the one a websocket connection sent when it started.
func RequestToken(ctx context.Context) string {
	if token, ok := ctx.Value(connectionTokenKey{}).(string); ok {
		return token
	}
	if st, ok := ctx.Value(requestKey{}).(*request); ok {
		return st.token
	}
	return ""
}

type connectionTokenKey struct{}

// WithConnectionToken records the session token a long-lived connection (a websocket)
// authenticated with, for RequestToken.
func WithConnectionToken(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, connectionTokenKey{}, token)
}

// SetSessionCookie sets (or, with an empty token, clears) the session cookie on the response.
func SetSessionCookie(ctx context.Context, token string, expires time.Time) {
	st, ok := ctx.Value(requestKey{}).(*request)
	if !ok {
		return
	}
	c := &http.Cookie{Name: CookieName, Value: token, Path: "/", Expires: expires, HttpOnly: true,
		Secure: st.secureCookie, SameSite: http.SameSiteLaxMode}
	if token == "" {
		c.MaxAge = -1
		c.Expires = time.Unix(0, 0)
	}
	http.SetCookie(st.w, c)
}

// errKeyNotDonor answers a donor's field asked with a partner's API key.
var errKeyNotDonor = giveathon.Errorf(giveathon.EUNAUTHORIZED, "an API key cannot act as a donor: partners give through partnerSubmitDonation")

// RequireUser returns the signed-in user, or an EUNAUTHORIZED error that says why there is
// none (to a partner's API key: that a key cannot act as a donor).
func RequireUser(ctx context.Context) (*giveathon.User, error) {
	if u := giveathon.UserFromContext(ctx); u != nil {
		return u, nil
	}
	if giveathon.CallerFromContext(ctx) != nil {
		return nil, errKeyNotDonor
	}
	if err := AuthError(ctx); err != nil {
		return nil, err
	}
	return nil, giveathon.Errorf(giveathon.EUNAUTHORIZED, "sign in first")
}

// RequireAdmin returns the signed-in admin: EUNAUTHORIZED (UNAUTHENTICATED) to a visitor who is
// not signed in, EFORBIDDEN to a donor and to a partner's API key. Every admin field, mutation
// and page calls it.
func RequireAdmin(ctx context.Context) (*giveathon.User, error) {
	if giveathon.CallerFromContext(ctx) != nil {
		return nil, errOnlyAdmin
	}
	u, err := RequireUser(ctx)
	if err != nil {
		return nil, err
	}
	if !u.IsAdmin() {
		return nil, errOnlyAdmin
	}
	return u, nil
}

var errOnlyAdmin = giveathon.Errorf(giveathon.EFORBIDDEN, "only an admin may do this")

// AdminOnly lets only admins through to next, for pages outside GraphQL (the job dashboard,
// exports); it goes after Middleware. A visitor gets 401, a donor 403.
func AdminOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := RequireAdmin(r.Context()); err != nil {
			status := http.StatusUnauthorized
			if giveathon.ErrorCode(err) == giveathon.EFORBIDDEN {
				status = http.StatusForbidden
			}
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, giveathon.ErrorMessage(err), status)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}
