package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/giveathon/giveathon/db"
	"github.com/giveathon/giveathon/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// running is the real program, started on port 0 in the test.
type running struct {
	url    string
	client *testenv.Client
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func envFunc(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

// start runs `giveathon serve` with env and waits until it listens (or fails).
func start(t *testing.T, env map[string]string) *running {
	t.Helper()
	return startWith(t, env, "serve")
}

// startWith runs the program with args and waits until it listens (or fails).
func startWith(t *testing.T, env map[string]string, args ...string) *running {
	t.Helper()
	if env["HTTP_ADDR"] == "" {
		env["HTTP_ADDR"] = "127.0.0.1:0"
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	r := &running{logs: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	p := &program{stdout: r.logs, stderr: r.logs, getenv: envFunc(env), listening: func(a string) { addr <- a }}
	go func() { r.done <- p.run(ctx, args) }()
	select {
	case a := <-addr:
		r.url = "http://" + a
		r.client = &testenv.Client{URL: r.url}
	case err := <-r.done:
		cancel()
		t.Fatalf("serve exited before listening: %v\n%s", err, r.logs)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatalf("serve did not listen within 60s:\n%s", r.logs)
	}
	t.Cleanup(func() {
		r.stop(t)
		if t.Failed() {
			t.Logf("server log:\n%s", lastLinesOf(r.logs.String(), 60))
		}
	})
	return r
}

// stop signals the program as SIGTERM would and returns what run returned.
func (r *running) stop(t *testing.T) error {
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
		}
		return err
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not stop within 60s:\n%s", r.logs)
		return nil
	}
}

func (r *running) status(t *testing.T, path string) int {
	t.Helper()
	resp, err := http.Get(r.url + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

const (
	registerOp = `mutation($i: RegisterInput!) { register(input: $i) { token user { id email } } }`
	loginOp    = `mutation($i: LoginInput!) { login(input: $i) { token } }`
)

func creds(email string) map[string]any {
	return map[string]any{"i": map[string]any{"email": email, "name": "Ada", "password": "correct horse battery"}}
}

func login(email string) map[string]any {
	return map[string]any{"i": map[string]any{"email": email, "password": "correct horse battery"}}
}

func TestServeWithEmbeddedDatabaseKeepsDataAcrossRestarts(t *testing.T) {
	t.Parallel()
	dataDir, err := os.MkdirTemp("", "giveathon-serve-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dataDir) })
	env := map[string]string{"DATA_DIR": dataDir}

	first := start(t, env)
	token := first.client.Do(t, registerOp, creds("keep@example.org")).NoErrors(t).String("register", "token")
	if me := first.client.As(token).Do(t, `{ me { email } }`, nil).NoErrors(t); me.String("me", "email") != "keep@example.org" {
		t.Fatalf("me = %v", me.Data)
	}
	if got := first.status(t, "/playground"); got != http.StatusOK {
		t.Fatalf("playground = %d in development", got)
	}
	if got := first.status(t, "/readyz"); got != http.StatusOK {
		t.Fatalf("readyz = %d", got)
	}
	// A second server on the same data folder is refused, clearly.
	second := &program{stdout: &syncBuffer{}, stderr: &syncBuffer{}, getenv: envFunc(map[string]string{"DATA_DIR": dataDir, "HTTP_ADDR": "127.0.0.1:0"})}
	if err := second.run(context.Background(), []string{"serve"}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second serve on the same folder: %v", err)
	}
	if err := first.stop(t); err != nil {
		t.Fatalf("serve returned %v on stop", err)
	}
	if !strings.Contains(first.logs.String(), "embedded PostgreSQL stopped") {
		t.Fatalf("the embedded database was not stopped:\n%s", first.logs)
	}

	again := start(t, env)
	if tok := again.client.Do(t, loginOp, login("keep@example.org")).NoErrors(t).String("login", "token"); tok == "" {
		t.Fatal("no login after restart")
	}
	// The old session survives too.
	if me := again.client.As(token).Do(t, `{ me { email } }`, nil).NoErrors(t); me.String("me", "email") != "keep@example.org" {
		t.Fatalf("session lost across restart: %v", me.Data)
	}
}

func TestProductionRefusesAnUnmigratedDatabase(t *testing.T) {
	t.Parallel()
	url := testenv.EmptyURL(t)
	env := map[string]string{"DATABASE_URL": url, "ENV": "production", "HTTP_ADDR": "127.0.0.1:0",
		"STRIPE_SECRET_KEY": "sk_test_production_test", "STRIPE_WEBHOOK_SECRET": "whsec_production_test",
		"WEBHOOK_SECRET_KEY": testWebhookKey,
		"EVENT_STARTS_AT":    "2026-12-01T09:00:00-05:00",
		// No call reaches it: the test makes no donation.
		"STRIPE_API_BASE": "http://127.0.0.1:9"}
	logs := &syncBuffer{}
	p := &program{stdout: logs, stderr: logs, getenv: envFunc(env)}
	err := p.run(context.Background(), []string{"serve"})
	if !errors.Is(err, db.ErrUnmigrated) || !strings.Contains(err.Error(), "giveathon migrate up") {
		t.Fatalf("production serve on an empty database: %v", err)
	}

	out := &syncBuffer{}
	m := &program{stdout: out, stderr: out, getenv: envFunc(env)}
	if err := m.run(context.Background(), []string{"migrate", "up"}); err != nil {
		t.Fatalf("migrate up: %v\n%s", err, out)
	}
	if !strings.Contains(out.String(), "applied giveathon 00001") {
		t.Fatalf("migrate up printed:\n%s", out)
	}
	if err := m.run(context.Background(), []string{"seed"}); err != nil {
		t.Fatalf("seed: %v", err)
	}
	status := &syncBuffer{}
	m.stdout = status
	if err := m.run(context.Background(), []string{"migrate", "status"}); err != nil || strings.Contains("\n"+status.String(), "\npending") {
		t.Fatalf("status after up: %v\n%s", err, status)
	}

	srv := start(t, env)
	if got := srv.status(t, "/playground"); got != http.StatusNotFound {
		t.Fatalf("playground = %d in production", got)
	}
	r := srv.client.Do(t, `{ charities(first: 1) { totalCount } }`, nil).NoErrors(t)
	if r.Get("charities", "totalCount") != float64(len(db.SeedCharities)) {
		t.Fatalf("charities after seed: %v", r.Data)
	}
	// Production logs JSON.
	if !strings.Contains(srv.logs.String(), `"msg":"giveathon is serving"`) {
		t.Fatalf("production logs are not JSON:\n%s", srv.logs)
	}
}

// Not parallel: it stops the package's PostgreSQL, which the parallel tests (paused until the
// serial ones finish) share.
func TestReadyzFailsWhileTheDatabaseIsDown(t *testing.T) {
	pg := testenv.Embedded()
	if pg == nil {
		t.Skip("TEST_DATABASE_URL is set: the test cannot stop that server")
	}
	srv := start(t, map[string]string{"DATABASE_URL": testenv.URL(t)})
	if got := srv.status(t, "/readyz"); got != http.StatusOK {
		t.Fatalf("readyz = %d with the database up", got)
	}
	pg.Kill()
	if got := srv.status(t, "/readyz"); got != http.StatusServiceUnavailable {
		t.Fatalf("readyz = %d with the database down", got)
	}
	// A read that is not retried says so too: UNAVAILABLE with a time to come back, not an
	// internal error.
	c := &testenv.Client{URL: srv.url}
	if r := c.Do(t, `{ event { totalCents } }`, nil); r.Code() != "UNAVAILABLE" || r.Errors[0].Extensions["retryAfter"] == nil {
		t.Fatalf("the event's totals with the database down: %s", r.Raw)
	}
	if got := srv.status(t, "/healthz"); got != http.StatusOK {
		t.Fatalf("healthz = %d: it must not depend on the database", got)
	}
	if err := pg.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for srv.status(t, "/readyz") != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("readyz did not recover after the database came back")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestConfigErrorsNameEverySetting(t *testing.T) {
	t.Parallel()
	_, err := loadConfig(envFunc(map[string]string{"ENV": "staging", "HTTP_ADDR": "8080", "DB_MAX_CONNS": "lots", "LOG_LEVEL": "loud",
		"EVENT_STARTS_AT": "next tuesday", "EVENT_GOAL_CENTS": "-5"}))
	if err == nil {
		t.Fatal("bad configuration accepted")
	}
	for _, name := range []string{"ENV", "HTTP_ADDR", "DB_MAX_CONNS", "LOG_LEVEL", "EVENT_STARTS_AT", "EVENT_GOAL_CENTS"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("the error does not name %s: %v", name, err)
		}
	}
	cfg, err := loadConfig(envFunc(nil))
	if err != nil || cfg.Production || cfg.HTTPAddr != "localhost:8080" || cfg.DataDir != "./.data" {
		t.Fatalf("defaults: %+v, %v", cfg, err)
	}
	// Pools sized by db.Open to the cores; completed jobs kept minutes; a provider connection
	// per charge worker.
	if cfg.DBMaxConns != 0 || cfg.Jobs.CompletedJobRetention != 10*time.Minute || cfg.Stripe.Conns != cfg.Jobs.PaymentWorkers+8 {
		t.Fatalf("pool defaults: DB %d, retention %s, Stripe %d", cfg.DBMaxConns, cfg.Jobs.CompletedJobRetention, cfg.Stripe.Conns)
	}
	_, err = loadConfig(envFunc(map[string]string{"DB_MAX_CONNS": "1", "JOBS_COMPLETED_RETENTION": "soon"}))
	if err == nil || !strings.Contains(err.Error(), "DB_MAX_CONNS: 1 is too few") || !strings.Contains(err.Error(), "JOBS_COMPLETED_RETENTION") {
		t.Fatalf("a pool of one and a retention that is no duration: %v", err)
	}
	// In development the event is open now, for three days.
	if cfg.Event.CheckOpen(time.Now()) != nil || cfg.Event.EndsAt.Sub(cfg.Event.StartsAt) != 72*time.Hour {
		t.Fatalf("default event: %+v", cfg.Event)
	}
	_, err = loadConfig(envFunc(map[string]string{"EVENT_STARTS_AT": "2026-12-02T00:00:00Z", "EVENT_ENDS_AT": "2026-12-01T00:00:00Z"}))
	if err == nil || !strings.Contains(err.Error(), "EVENT_ENDS_AT") {
		t.Fatalf("an event that ends before it starts: %v", err)
	}
	_, err = loadConfig(envFunc(map[string]string{"ENV": "production", "STRIPE_SECRET_KEY": "sk_live_x", "STRIPE_WEBHOOK_SECRET": "whsec_x"}))
	if err == nil || !strings.Contains(err.Error(), "EVENT_STARTS_AT") {
		t.Fatalf("production without the event's start: %v", err)
	}
	if err == nil || !strings.Contains(err.Error(), "WEBHOOK_SECRET_KEY") {
		t.Fatalf("production without the webhook key: %v", err)
	}
	_, err = loadConfig(envFunc(map[string]string{"ENV": "production", "WEBHOOK_SECRET_KEY": "c2hvcnQ=", "WEBHOOK_RETRY_SCALE": "0.5"}))
	if err == nil || !strings.Contains(err.Error(), "WEBHOOK_SECRET_KEY: must be base64") || !strings.Contains(err.Error(), "WEBHOOK_RETRY_SCALE: must be 1") {
		t.Fatalf("production with a short webhook key and a scaled schedule: %v", err)
	}
}

// testWebhookKey is a WEBHOOK_SECRET_KEY for the tests' production servers.
const testWebhookKey = "dGVzdC13ZWJob29rLWtleS10ZXN0LXdlYmhvb2sta2V5LTMyYnl0ZXM="

func TestHelpServeListsTheConfiguration(t *testing.T) {
	t.Parallel()
	out := &syncBuffer{}
	if err := (&program{stdout: out, stderr: out, getenv: envFunc(nil)}).run(context.Background(), []string{"help", "serve"}); err != nil {
		t.Fatal(err)
	}
	for _, s := range settings {
		if !strings.Contains(out.String(), s.Name) {
			t.Errorf("help serve does not mention %s", s.Name)
		}
	}
	if err := (&program{stdout: out, stderr: out, getenv: envFunc(nil)}).run(context.Background(), []string{"bogus"}); !errors.Is(err, errUsage) {
		t.Fatalf("unknown command: %v", err)
	}
}

func lastLinesOf(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func TestReadmeDocumentsEverySetting(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range settings {
		if !strings.Contains(string(readme), "`"+s.Name+"`") {
			t.Errorf("README.md does not document %s", s.Name)
		}
	}
}
