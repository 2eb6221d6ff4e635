package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/giveathon/giveathon/internal/gqlclient"
	"github.com/giveathon/giveathon/internal/procs"
)

// TestSmokeRunAgainstTheRealServer is the short loadgen run `make test` makes: the real
// program with its embedded database and the in-process Stripe sandbox, a few donors, 40
// donations that must all be acknowledged and settle, and then /metrics, which must show
// what the run did.
func TestSmokeRunAgainstTheRealServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real server")
	}
	srv := startServer(t, "JOBS_POLL_INTERVAL=100ms", "LIMIT_REGISTER_PER_IP=0")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	url, dir := srv.url, t.TempDir()

	out := filepath.Join(dir, "loadgen.json")
	var stdout, stderr bytes.Buffer
	if code := run(ctx, []string{"-url", url, "-donors", "4", "-clients", "4", "-donations", "40", "-duration", "30s",
		"-settle", "60s", "-json", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("loadgen: exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	var res Result
	b, err := os.ReadFile(out)
	if err != nil || json.Unmarshal(b, &res) != nil {
		t.Fatalf("loadgen's JSON: %v\n%s", err, b)
	}
	if res.Submitted != 40 || res.Settled != 40 || res.UnsettledAtEnd != 0 || len(res.Errors) != 0 || res.LatencyMs["p99"] <= 0 {
		t.Fatalf("loadgen's figures: %+v", res)
	}
	if !strings.Contains(stdout.String(), "submit latency") {
		t.Fatalf("loadgen's table:\n%s", stdout.String())
	}

	// River records a job's completion a moment after the job's work (in batches): scrape
	// until the last one is in, or the deadline.
	var metrics []byte
	var missing []string
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Get(url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		metrics, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if missing = lacking(metrics); len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, m := range missing {
		t.Errorf("/metrics lacks %s", m)
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", metrics)
	}
}

// server is the real program, built and started with `serve` on a free loopback port.
type server struct {
	url, log string
}

// startServer builds giveathon and runs `serve` as an operator would (embedded database,
// in-process Stripe sandbox, workers on), with settings added to the defaults, until the test
// ends. It waits until /readyz answers.
func startServer(t *testing.T, settings ...string) *server {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "giveathon")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/giveathon/giveathon/cmd/giveathon").CombinedOutput(); err != nil {
		t.Fatalf("build giveathon: %v\n%s", err, out)
	}
	// The embedded database runs as an unprivileged user when the test runs as root: it must
	// be able to reach its folder.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	port, err := procs.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	s := &server{url: "http://127.0.0.1:" + port, log: filepath.Join(dir, "server.log")}
	env := append(procs.CleanEnv(), "HTTP_ADDR=127.0.0.1:"+port, "DATA_DIR="+filepath.Join(dir, "data"), "LOG_LEVEL=warn")
	p, err := procs.Start("serve", bin, []string{"serve"}, append(env, settings...), s.log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(20 * time.Second) })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := procs.WaitHTTP(ctx, p, s.url+"/readyz", time.Minute); err != nil {
		b, _ := os.ReadFile(s.log)
		t.Fatalf("%v\n%s", err, b)
	}
	return s
}

// lacking returns the metrics of the smoke run that /metrics does not show.
func lacking(metrics []byte) []string {
	var out []string
	for _, want := range []string{
		`giveathon_http_request_duration_seconds_count{route="/graphql"}`,
		`giveathon_graphql_operations_total{code="",operation="mutation submitDonation"} 40`,
		`giveathon_graphql_operation_duration_seconds_bucket{operation="mutation submitDonation"`,
		`giveathon_donations_total{status="SUCCEEDED"} 40`,
		`giveathon_jobs_total{kind="charge_donation",outcome="completed"} 40`,
		`giveathon_job_queue_wait_seconds_count{kind="charge_donation"} 40`,
		`giveathon_stripe_calls_total{op="create payment intent",outcome="ok"} 40`,
		`giveathon_stripe_rate_limit_wait_seconds_count`,
		`giveathon_db_pool_connections{pool="domain",state="idle"}`,
		`giveathon_job_queue_depth{queue="payments"`,
	} {
		if !bytes.Contains(metrics, []byte(want)) {
			out = append(out, want)
		}
	}
	return out
}

// TestLoadRunAnswersNoInternalError is the load run of issue 10: the real server as an
// operator runs it (`serve`, workers on, the default isolation), 200 donors and 32 clients
// giving as fast as they can for several seconds. A serialization failure, a deadlock or any
// other bug that reaches a donor shows as INTERNAL_SERVER_ERROR, and fails the run.
func TestLoadRunAnswersNoInternalError(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real server")
	}
	// An event this size runs with the provider's limit raised, and says so (design.md): at
	// the sandbox's test-key default (20 calls/s, a quarter for donors' own calls) 200 donors
	// saving their first card at once would wait a minute and a half for their turn.
	srv := startServer(t, "STRIPE_RATE_LIMIT=400")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out := filepath.Join(t.TempDir(), "loadgen.json")
	var stdout, stderr bytes.Buffer
	if code := run(ctx, []string{"-url", srv.url, "-donors", "200", "-clients", "32", "-duration", "8s",
		"-label", "issue 10", "-json", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("loadgen: exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	t.Logf("\n%s", stdout.String())
	var res Result
	b, err := os.ReadFile(out)
	if err != nil || json.Unmarshal(b, &res) != nil {
		t.Fatalf("loadgen's JSON: %v\n%s", err, b)
	}
	if res.Submitted == 0 {
		t.Fatalf("no donation was submitted: %+v", res)
	}
	// The generator's own failures (no answer at all) would hide internal errors.
	for _, code := range []string{"INTERNAL_SERVER_ERROR", "NO_CODE", "no_answer"} {
		if n := res.Errors[code]; n > 0 {
			t.Errorf("%d requests answered %s (of %d submitted and %d history reads), first: %s",
				n, code, res.Submitted, res.HistoryReads, res.ErrorSamples[code])
		}
	}
	if t.Failed() {
		logs, _ := os.ReadFile(srv.log)
		t.Logf("the server's internal errors:\n%s", firstLines(logs, "internal error", 5))
	}
}

// firstLines returns up to n lines of b that contain s.
func firstLines(b []byte, s string, n int) string {
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, s) && len(out) < n {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// TestErrorsAreCountedByCode: loadgen counts a failed answer under its extensions.code, so an
// INTERNAL_SERVER_ERROR is told from the UNAVAILABLE a client retries.
func TestErrorsAreCountedByCode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		body string
		want string
	}{
		{`{"errors":[{"message":"internal error","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}`, "INTERNAL_SERVER_ERROR"},
		{`{"errors":[{"message":"try again","extensions":{"code":"UNAVAILABLE","retryAfter":1}}]}`, "UNAVAILABLE"},
		{`{"errors":[{"message":"slow down","extensions":{"code":"RATE_LIMITED"}}]}`, "RATE_LIMITED"},
		{`{"errors":[{"message":"bad","extensions":{"code":"BAD_USER_INPUT"}}]}`, "BAD_USER_INPUT"},
		{`{"errors":[{"message":"what"}]}`, "NO_CODE"},
		{`not json`, "no_answer"},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, tc.body)
		}))
		api := &gqlclient.Client{Base: srv.URL, HTTP: srv.Client()}
		err := api.Do(context.Background(), "", `{ me { id } }`, nil, nil)
		srv.Close()
		if got := errorCode(err); got != tc.want {
			t.Errorf("%s: counted as %q, want %q (%v)", tc.body, got, tc.want, err)
		}
	}
	var r Result
	r.Errors = map[string]int{"INTERNAL_SERVER_ERROR": 2}
	r.ErrorSamples = map[string]string{"INTERNAL_SERVER_ERROR": "transient: INTERNAL_SERVER_ERROR: internal error"}
	var table bytes.Buffer
	r.print(&table)
	if !strings.Contains(table.String(), "INTERNAL_SERVER_ERROR=2") {
		t.Fatalf("the table does not report the internal errors:\n%s", table.String())
	}
}
