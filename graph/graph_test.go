package graph_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/giveathon/giveathon/auth"
	"github.com/giveathon/giveathon/db"
	"github.com/giveathon/giveathon/graph"
	"github.com/giveathon/giveathon/internal/testenv"
	"github.com/giveathon/giveathon/settlement"
)

func TestMain(m *testing.M) { testenv.Main(m) }

type bundle struct {
	db     *db.DB
	auth   *auth.Service
	client *testenv.Client
	server *httptest.Server
}

type setupOpts struct {
	production bool
	ready      func(context.Context) error
	maxDepth   int
	persisted  map[string]string
	cors       []string
	maxSockets int
}

func setup(t *testing.T, opts ...setupOpts) *bundle {
	t.Helper()
	var o setupOpts
	if len(opts) > 0 {
		o = opts[0]
	}
	d := testenv.DB(t)
	if _, err := d.UpsertCharities(context.Background(), db.SeedCharities); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := auth.NewService(d, logger)
	svc.Params = auth.Argon2Params{Memory: 1024, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}
	ready := o.ready
	if ready == nil {
		ready = func(ctx context.Context) error { return d.Pool.Ping(ctx) }
	}
	res := &graph.Resolver{Auth: svc, CharityService: d, Logger: logger,
		DonationService: settlement.New(d, nil, nil, nil, logger, settlement.Config{})}
	h := graph.NewHandler(res, graph.Config{
		Production: o.production, Logger: logger, Ready: ready, CORSOrigins: o.cors,
		Limits: graph.Limits{MaxComplexity: 500, MaxDepth: o.maxDepth, PersistedQueries: o.persisted, MaxSocketsPerAddress: o.maxSockets},
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &bundle{db: d, auth: svc, client: &testenv.Client{URL: srv.URL}, server: srv}
}

const (
	registerOp = `mutation($i: RegisterInput!) { register(input: $i) { token user { id email name createdAt } } }`
	loginOp    = `mutation($i: LoginInput!) { login(input: $i) { token user { id email } } }`
	meOp       = `{ me { id email name } }`
)

func (b *bundle) register(t *testing.T, email string) (string, string) {
	t.Helper()
	r := b.client.Do(t, registerOp, map[string]any{"i": map[string]any{"email": email, "name": "Ada Lovelace", "password": "correct horse battery"}}).NoErrors(t)
	return r.String("register", "token"), r.String("register", "user", "id")
}

func TestRegisterMeLogout(t *testing.T) {
	t.Parallel()
	b := setup(t)
	token, id := b.register(t, "  Ada@Example.ORG ")
	if len(token) != 43 {
		t.Fatalf("token %q is not 32 bytes of base64url", token)
	}
	me := b.client.As(token).Do(t, meOp, nil).NoErrors(t)
	if me.String("me", "email") != "ada@example.org" || me.String("me", "id") != id {
		t.Fatalf("me = %v, want the case-folded e-mail and id %s", me.Data, id)
	}
	// The token is stored only as its hash.
	var stored int
	if err := b.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM sessions WHERE token_hash = $1`, []byte(token)).Scan(&stored); err != nil || stored != 0 {
		t.Fatalf("found the plain token in sessions (%d rows, %v)", stored, err)
	}
	out := b.client.As(token).Do(t, `mutation { logout }`, nil).NoErrors(t)
	if out.Get("logout") != true {
		t.Fatalf("logout = %v", out.Data)
	}
	if me := b.client.As(token).Do(t, meOp, nil).NoErrors(t); me.Get("me") != nil {
		t.Fatalf("me after logout = %v, want null", me.Data)
	}
}

func TestLoginFailuresSayTheSame(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.register(t, "grace@example.org")
	for name, in := range map[string]map[string]any{
		"wrong password": {"email": "grace@example.org", "password": "wrong password!"},
		"unknown email":  {"email": "nobody@example.org", "password": "correct horse battery"},
		"invalid email":  {"email": "not an email", "password": "correct horse battery"},
		"empty password": {"email": "grace@example.org", "password": ""},
	} {
		r := b.client.Do(t, loginOp, map[string]any{"i": in})
		if r.Code() != "UNAUTHENTICATED" || r.Errors[0].Message != "invalid email or password" {
			t.Errorf("%s: got %s", name, r.Raw)
		}
	}
	r := b.client.Do(t, loginOp, map[string]any{"i": map[string]any{"email": "GRACE@example.org", "password": "correct horse battery"}}).NoErrors(t)
	if r.String("login", "token") == "" {
		t.Fatal("login with the right password and other case gave no token")
	}
}

func TestDuplicateEmailIsConflict(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.register(t, "linus@example.org")
	r := b.client.Do(t, registerOp, map[string]any{"i": map[string]any{"email": "LINUS@example.org", "name": "Twin", "password": "another password"}})
	if r.Code() != "CONFLICT" {
		t.Fatalf("duplicate e-mail: %s", r.Raw)
	}
	var n int
	_ = b.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM users`).Scan(&n)
	if n != 1 {
		t.Fatalf("%d users after a duplicate register, want 1", n)
	}
}

func TestRegisterBadInputNamesTheFieldAndWritesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	long := strings.Repeat("x", 129)
	for _, tc := range []struct {
		email, name, password, field string
	}{
		{"", "Ada", "correct horse", "email"},
		{"not-an-email", "Ada", "correct horse", "email"},
		{"a@b", "Ada", "correct horse", "email"},
		{"Ada <ada@example.org>", "Ada", "correct horse", "email"},
		{strings.Repeat("a", 250) + "@example.org", "Ada", "correct horse", "email"},
		{"ada@example.org", "", "correct horse", "name"},
		{"ada@example.org", "   ", "correct horse", "name"},
		{"ada@example.org", strings.Repeat("n", 201), "correct horse", "name"},
		{"ada@example.org", "Ada\x00", "correct horse", "name"},
		{"ada@example.org", "Ada", "", "password"},
		{"ada@example.org", "Ada", "seven77", "password"},
		{"ada@example.org", "Ada", long, "password"},
	} {
		r := b.client.Do(t, registerOp, map[string]any{"i": map[string]any{"email": tc.email, "name": tc.name, "password": tc.password}})
		if r.Code() != "BAD_USER_INPUT" || r.Field() != tc.field {
			t.Errorf("register(%q, %q, %d chars): want BAD_USER_INPUT on %s, got %s", tc.email, tc.name, len(tc.password), tc.field, r.Raw)
		}
	}
	// The limits themselves are accepted.
	b.client.Do(t, registerOp, map[string]any{"i": map[string]any{"email": "edge@example.org", "name": strings.Repeat("n", 200), "password": strings.Repeat("p", 128)}}).NoErrors(t)
	var n int
	_ = b.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM users`).Scan(&n)
	if n != 1 {
		t.Fatalf("%d users, want only the valid one", n)
	}
}

func TestExpiredRevokedAndMalformedTokens(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.register(t, "old@example.org")
	// A session made 31 days ago has expired.
	b.auth.Now = func() time.Time { return time.Now().Add(-31 * 24 * time.Hour) }
	old := b.client.Do(t, loginOp, map[string]any{"i": map[string]any{"email": "old@example.org", "password": "correct horse battery"}}).NoErrors(t)
	b.auth.Now = time.Now
	fresh := b.client.Do(t, loginOp, map[string]any{"i": map[string]any{"email": "old@example.org", "password": "correct horse battery"}}).NoErrors(t)
	revoked := fresh.String("login", "token")
	b.client.As(revoked).Do(t, `mutation { logout }`, nil).NoErrors(t)

	for name, token := range map[string]string{
		"expired":   old.String("login", "token"),
		"revoked":   revoked,
		"malformed": "not-a-token",
		"too short": "YWJj",
	} {
		me := b.client.As(token).Do(t, meOp, nil).NoErrors(t)
		if me.Get("me") != nil {
			t.Errorf("%s token: me = %v, want null", name, me.Data)
		}
	}
}

func TestTokenAsCookie(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := b.client.Do(t, registerOp, map[string]any{"i": map[string]any{"email": "cookie@example.org", "name": "C", "password": "correct horse battery"}}).NoErrors(t)
	var cookie *http.Cookie
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == auth.CookieName {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Secure {
		t.Fatalf("session cookie = %+v, want HttpOnly, SameSite=Lax, not Secure in development", cookie)
	}
	send := func(contentType string) *testenv.Response {
		req, _ := http.NewRequest(http.MethodPost, b.server.URL+"/graphql", strings.NewReader(`{"query":"{ me { email } }"}`))
		req.Header.Set("Content-Type", contentType)
		req.AddCookie(&http.Cookie{Name: auth.CookieName, Value: cookie.Value})
		return b.client.Send(t, req)
	}
	if got := send("application/json").NoErrors(t).String("me", "email"); got != "cookie@example.org" {
		t.Fatalf("me with cookie = %q", got)
	}
	// A cross-site form can send the cookie but not JSON: such a request is anonymous.
	if got := send("text/plain").String("me", "email"); got != "" {
		t.Fatalf("cookie honoured on a text/plain POST (CSRF): me = %q", got)
	}
}

func TestCharitiesPaginateWithoutGapsOrRepeats(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const q = `query($a: String) { charities(first: 5, after: $a) { totalCount edges { cursor node { id name ein } } pageInfo { hasNextPage endCursor } } }`
	seen := map[string]bool{}
	var names []string
	var after any
	for page := 0; page < 10; page++ {
		r := b.client.Do(t, q, map[string]any{"a": after}).NoErrors(t)
		if total := r.Get("charities", "totalCount"); total != float64(len(db.SeedCharities)) {
			t.Fatalf("totalCount = %v", total)
		}
		for _, e := range r.Get("charities", "edges").([]any) {
			node := e.(map[string]any)["node"].(map[string]any)
			id := node["id"].(string)
			if seen[id] {
				t.Fatalf("charity %s repeated", id)
			}
			seen[id] = true
			names = append(names, node["name"].(string))
			// The global ID works with charity(id) and node(id).
			if page == 0 {
				one := b.client.Do(t, `query($id: ID!) { charity(id: $id) { name } node(id: $id) { id ... on Charity { ein } } }`, map[string]any{"id": id}).NoErrors(t)
				if one.String("charity", "name") != node["name"] || one.String("node", "ein") != node["ein"] {
					t.Fatalf("charity/node(%s) = %v", id, one.Data)
				}
			}
		}
		if r.Get("charities", "pageInfo", "hasNextPage") != true {
			break
		}
		after = r.String("charities", "pageInfo", "endCursor")
	}
	if len(seen) != len(db.SeedCharities) {
		t.Fatalf("saw %d charities across pages, want %d", len(seen), len(db.SeedCharities))
	}
	for i := 1; i < len(names); i++ {
		if names[i-1] > names[i] {
			t.Fatalf("not in name order: %q before %q", names[i-1], names[i])
		}
	}
	bad := b.client.Do(t, q, map[string]any{"a": "garbage!"})
	if bad.Code() != "BAD_USER_INPUT" || bad.Field() != "after" {
		t.Fatalf("bad cursor: %s", bad.Raw)
	}
	// first: 0 asks for the count alone (it was read as the default page, 20 edges).
	zero := b.client.Do(t, `{ charities(first: 0) { totalCount edges { cursor } pageInfo { hasNextPage } } }`, nil).NoErrors(t)
	if edges, _ := zero.Get("charities", "edges").([]any); len(edges) != 0 || zero.Get("charities", "totalCount") != float64(len(db.SeedCharities)) ||
		zero.Get("charities", "pageInfo", "hasNextPage") != true {
		t.Fatalf("first: 0: %s", zero.Raw)
	}
	big := b.client.Do(t, `{ charities(first: 101) { totalCount } }`, nil)
	if big.Code() != "BAD_USER_INPUT" || big.Field() != "first" {
		t.Fatalf("first: 101: %s", big.Raw)
	}
	none := b.client.Do(t, `{ charity(id: "Q2hhcml0eTowMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDA") { name } }`, nil).NoErrors(t)
	if none.Get("charity") != nil {
		t.Fatalf("unknown charity = %v", none.Data)
	}
}

func TestNodeShowsOnlyYourOwnUser(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tokenA, idA := b.register(t, "a@example.org")
	tokenB, _ := b.register(t, "b@example.org")
	const q = `query($id: ID!) { node(id: $id) { id ... on User { email } } }`
	if got := b.client.As(tokenA).Do(t, q, map[string]any{"id": idA}).NoErrors(t).String("node", "email"); got != "a@example.org" {
		t.Fatalf("own node = %q", got)
	}
	if got := b.client.As(tokenB).Do(t, q, map[string]any{"id": idA}).NoErrors(t).Get("node"); got != nil {
		t.Fatalf("B read A through node: %v", got)
	}
}

func TestPlaygroundAndIntrospectionOnlyInDevelopment(t *testing.T) {
	t.Parallel()
	for _, production := range []bool{false, true} {
		b := setup(t, setupOpts{production: production})
		resp, err := http.Get(b.server.URL + "/playground")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		intro := b.client.Do(t, `{ __schema { queryType { name } } }`, nil)
		if production {
			if resp.StatusCode != http.StatusNotFound || intro.String("__schema", "queryType", "name") != "" || len(intro.Errors) == 0 {
				t.Errorf("production: playground %d, introspection %s", resp.StatusCode, intro.Raw)
			}
		} else if resp.StatusCode != http.StatusOK || intro.String("__schema", "queryType", "name") != "Query" {
			t.Errorf("development: playground %d, introspection %s", resp.StatusCode, intro.Raw)
		}
	}
}

func TestBadRequestsAreRefusedClearly(t *testing.T) {
	t.Parallel()
	b := setup(t)
	post := func(body string) *testenv.Response {
		req, _ := http.NewRequest(http.MethodPost, b.server.URL+"/graphql", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		return b.client.Send(t, req)
	}
	if r := post(`{not json`); r.Status != http.StatusBadRequest || !strings.Contains(r.Raw, "not valid JSON") {
		t.Errorf("invalid JSON: %d %s", r.Status, r.Raw)
	}
	// Valid JSON of the wrong shape says what the body must hold (it said "not valid JSON").
	for _, body := range []string{`{"query": 5}`, `{"query": "{ me { id } }", "variables": [1]}`, `[]`} {
		if r := post(body); r.Status != http.StatusBadRequest || (body != `[]` && !strings.Contains(r.Raw, "must be a JSON object with query")) {
			t.Errorf("the body %s: %d %s", body, r.Status, r.Raw)
		}
	}
	big := `{"query":"{ me { id } }","variables":{"x":"` + strings.Repeat("a", 2<<20) + `"}}`
	if r := post(big); r.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("2 MB body: %d %.200s", r.Status, r.Raw)
	}
	// GET may carry queries only.
	resp, err := http.Get(b.server.URL + "/graphql?query=" + url.QueryEscape(`mutation { logout }`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodPost || !strings.Contains(string(body), "queries only") {
		t.Errorf("GET mutation: %d %s", resp.StatusCode, body)
	}
	resp, _ = http.Get(b.server.URL + "/graphql?query=" + url.QueryEscape(`{ charities(first: 1) { totalCount } }`))
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"totalCount":12`) {
		t.Errorf("GET query: %d %s", resp.StatusCode, body)
	}
	// 100 charities with a deep selection is over the limit of 500.
	var fields []string
	for i := 0; i < 6; i++ {
		fields = append(fields, fmt.Sprintf("f%d: name", i))
	}
	r := b.client.Do(t, `{ charities(first: 100) { edges { node { `+strings.Join(fields, " ")+` } } } }`, nil)
	if r.Code() != "COMPLEXITY_LIMIT_EXCEEDED" && !strings.Contains(r.Raw, "complexity") {
		t.Errorf("complex query: %s", r.Raw)
	}
	if r := b.client.Do(t, `{ nosuchfield }`, nil); r.Code() != "GRAPHQL_VALIDATION_FAILED" {
		t.Errorf("unknown field: %s", r.Raw)
	}
	// A subscription over HTTP would wait for its next event with no end: refused, for the
	// WebSocket.
	if r := b.client.Do(t, `subscription { eventTotals { totalCents } }`, nil); r.Status != http.StatusBadRequest ||
		r.Code() != "BAD_USER_INPUT" || !strings.Contains(r.Raw, "WebSocket") {
		t.Errorf("a subscription over POST: %d %s", r.Status, r.Raw)
	}
	// On the socket, a subscription of two aliased fields, or of one that @skip may leave out,
	// passes gqlparser's validation: it is still refused as a validation error, not an
	// internal one.
	for _, sub := range []string{`subscription { a: eventTotals { totalCents } b: eventTotals { totalCents } }`,
		`subscription { eventTotals @skip(if: true) { totalCents } }`} {
		if r := b.client.Subscribe(t, sub, nil, nil).Next(t, 10*time.Second); r.Code() != "GRAPHQL_VALIDATION_FAILED" || !strings.Contains(r.Raw, "exactly one") {
			t.Errorf("%s: %s", sub, r.Raw)
		}
	}
}

func TestReadyzFollowsTheDatabase(t *testing.T) {
	t.Parallel()
	b := setup(t)
	resp, err := http.Get(b.server.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz = %d while the database is up", resp.StatusCode)
	}
	// With its pool closed the database is unreachable from this server (the real program's
	// test stops PostgreSQL itself).
	b.db.Pool.Close()
	resp, err = http.Get(b.server.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("readyz = %d with the database gone", resp.StatusCode)
	}
	if resp, _ := http.Get(b.server.URL + "/healthz"); resp == nil || resp.StatusCode != http.StatusOK {
		t.Fatal("healthz should not depend on the database")
	}
}

func TestQueryLimits(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{maxDepth: 4})
	token, _ := b.register(t, "deep@example.org")
	c := b.client.As(token)
	if r := c.Do(t, `{ me { donations { totalCount } } }`, nil); len(r.Errors) > 0 {
		t.Fatalf("a query within the depth limit: %s", r.Raw)
	}
	if r := c.Do(t, `{ me { donations { edges { node { id } } } } }`, nil); !strings.Contains(r.Raw, "levels deep") {
		t.Fatalf("a query five levels deep: %s", r.Raw)
	}
	// Fragments count too.
	if r := c.Do(t, `{ me { ...D } } fragment D on User { donations { edges { node { id } } } }`, nil); !strings.Contains(r.Raw, "levels deep") {
		t.Fatalf("depth through a fragment: %s", r.Raw)
	}
	var aliases []string
	for i := 0; i < 31; i++ {
		aliases = append(aliases, fmt.Sprintf("a%d: charities(first: 1) { totalCount }", i))
	}
	if r := b.client.Do(t, "{ "+strings.Join(aliases, " ")+" }", nil); !strings.Contains(r.Raw, "aliases") {
		t.Fatalf("31 aliases: %.300s", r.Raw)
	}
	if r := b.client.Do(t, "{ charities(first: 1) { totalCount } "+strings.Repeat(" ", 17000)+"}", nil); r.Code() != "BAD_USER_INPUT" || !strings.Contains(r.Raw, "bytes") {
		t.Fatalf("a 17 kB query: %.300s", r.Raw)
	}
	req, _ := http.NewRequest(http.MethodPost, b.server.URL+"/graphql", strings.NewReader(`[{"query":"{ me { id } }"},{"query":"{ me { id } }"}]`))
	req.Header.Set("Content-Type", "application/json")
	if r := b.client.Send(t, req); r.Status != http.StatusBadRequest || !strings.Contains(r.Raw, "batched") {
		t.Fatalf("a batch: %d %s", r.Status, r.Raw)
	}
}

func TestPersistedQueryOnlyMode(t *testing.T) {
	t.Parallel()
	const allowed = `{ charities(first: 2) { totalCount } }`
	sum := sha256.Sum256([]byte(allowed))
	hash := hex.EncodeToString(sum[:])
	b := setup(t, setupOpts{production: true, persisted: map[string]string{hash: allowed}})
	if r := b.client.Do(t, allowed, nil); len(r.Errors) > 0 || r.Get("charities", "totalCount") != float64(12) {
		t.Fatalf("the allowed query: %s", r.Raw)
	}
	if r := b.client.Do(t, `{ charities(first: 3) { totalCount } }`, nil); r.Code() != "PERSISTED_QUERY_NOT_ALLOWED" {
		t.Fatalf("another query: %s", r.Raw)
	}
	// By hash alone, as a persisted-query client sends it.
	body := `{"extensions":{"persistedQuery":{"version":1,"sha256Hash":"` + hash + `"}}}`
	req, _ := http.NewRequest(http.MethodPost, b.server.URL+"/graphql", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if r := b.client.Send(t, req); len(r.Errors) > 0 || r.Get("charities", "totalCount") != float64(12) {
		t.Fatalf("by hash: %s", r.Raw)
	}
	unknown := `{"extensions":{"persistedQuery":{"version":1,"sha256Hash":"` + strings.Repeat("ab", 32) + `"}}}`
	req, _ = http.NewRequest(http.MethodPost, b.server.URL+"/graphql", strings.NewReader(unknown))
	req.Header.Set("Content-Type", "application/json")
	if r := b.client.Send(t, req); r.Code() != "PERSISTED_QUERY_NOT_ALLOWED" {
		t.Fatalf("an unknown hash: %s", r.Raw)
	}
}

func TestSecurityHeadersCORSAndCSRF(t *testing.T) {
	t.Parallel()
	const app = "https://app.example.org"
	b := setup(t, setupOpts{cors: []string{app}})
	r := b.client.Do(t, registerOp, map[string]any{"i": map[string]any{"email": "csrf@example.org", "name": "C", "password": "correct horse battery"}}).NoErrors(t)
	for _, h := range []string{"X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy", "Content-Security-Policy"} {
		if r.Header.Get(h) == "" {
			t.Errorf("no %s header on /graphql", h)
		}
	}
	var cookie string
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == auth.CookieName {
			cookie = c.Value
		}
	}

	preflight := func(origin string) http.Header {
		req, _ := http.NewRequest(http.MethodOptions, b.server.URL+"/graphql", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header
	}
	if h := preflight(app); h.Get("Access-Control-Allow-Origin") != app || h.Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("preflight from the allowed origin: %v", h)
	}
	if h := preflight("https://evil.example"); h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from another origin was allowed: %v", h)
	}

	me := func(origin string) string {
		req, _ := http.NewRequest(http.MethodPost, b.server.URL+"/graphql", strings.NewReader(`{"query":"{ me { email } }"}`))
		req.Header.Set("Content-Type", "application/json")
		req.AddCookie(&http.Cookie{Name: auth.CookieName, Value: cookie})
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		return b.client.Send(t, req).String("me", "email")
	}
	if got := me(app); got != "csrf@example.org" {
		t.Errorf("cookie from the allowed origin: me = %q", got)
	}
	if got := me(b.server.URL); got != "csrf@example.org" {
		t.Errorf("cookie from the same origin: me = %q", got)
	}
	if got := me(""); got != "csrf@example.org" {
		t.Errorf("cookie without an Origin (not a browser's cross-site request): me = %q", got)
	}
	if got := me("https://evil.example"); got != "" {
		t.Errorf("cookie honoured for another origin's page (CSRF): me = %q", got)
	}
	resp, err := http.Get(b.server.URL + "/playground")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Content-Security-Policy") != "" || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("playground headers: %v", resp.Header)
	}
}

func TestCharitySearchKeepsThoseWithEveryWord(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const q = `query($s: String, $a: String) { charities(first: 1, after: $a, search: $s) { totalCount edges { node { name } } pageInfo { hasNextPage endCursor } } }`
	want := func(search string) []string {
		var out []string
		for _, c := range db.SeedCharities {
			text := strings.ToLower(c.Name + " " + c.Description)
			keep := true
			for _, w := range strings.Fields(strings.ToLower(search)) {
				keep = keep && strings.Contains(text, w)
			}
			if keep {
				out = append(out, c.Name)
			}
		}
		slices.Sort(out)
		return out
	}
	for _, search := range []string{"rescue", "RESCUE mountain", "water", "food bank", "%", "_", "no such charity"} {
		var got []string
		var after any
		for range 20 {
			r := b.client.Do(t, q, map[string]any{"s": search, "a": after}).NoErrors(t)
			if total := r.Get("charities", "totalCount"); total != float64(len(want(search))) {
				t.Fatalf("search %q: totalCount %v, want %d", search, total, len(want(search)))
			}
			for _, e := range r.Get("charities", "edges").([]any) {
				got = append(got, e.(map[string]any)["node"].(map[string]any)["name"].(string))
			}
			if r.Get("charities", "pageInfo", "hasNextPage") != true {
				break
			}
			after = r.String("charities", "pageInfo", "endCursor")
		}
		if !slices.Equal(got, want(search)) {
			t.Errorf("search %q: got %q, want %q", search, got, want(search))
		}
	}
	if len(want("rescue")) < 2 || len(want("no such charity")) != 0 {
		t.Fatal("the seed no longer exercises the search")
	}
	long := b.client.Do(t, q, map[string]any{"s": strings.Repeat("x", 101)})
	if long.Code() != "BAD_USER_INPUT" || long.Field() != "search" {
		t.Fatalf("long search: %s", long.Raw)
	}
}

// TestSocketsPerAddressAreCapped: one client address may hold so many websocket connections
// at once; the next is refused at connection_init (the connection closed), and one closed
// makes room again. (An anonymous donationUpdated answers UNAUTHENTICATED on a connection
// that stays open.)
func TestSocketsPerAddressAreCapped(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{maxSockets: 2})
	open := func() (*testenv.Subscription, bool) {
		t.Helper()
		s, err := b.client.TrySubscribe(`subscription { donationUpdated(id: "x") { id } }`, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		ended, _ := s.Ended(5 * time.Second)
		return s, ended
	}
	first, refused := open()
	if _, refused2 := open(); refused || refused2 {
		t.Fatalf("the first two connections: refused %v, %v", refused, refused2)
	}
	if _, refused := open(); !refused {
		t.Fatal("a third connection from the address was kept open")
	}
	first.Close()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, refused := open(); !refused {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a connection is still refused after one of the two closed")
		}
	}
}
