package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	url := "http://127.0.0.1:" + port
	srv, err := procs.Start("serve", bin, []string{"serve"}, append(procs.CleanEnv(), "HTTP_ADDR=127.0.0.1:"+port,
		"DATA_DIR="+filepath.Join(dir, "data"), "LOG_LEVEL=warn", "LIMIT_REGISTER_PER_IP=0", "JOBS_POLL_INTERVAL=100ms"),
		filepath.Join(dir, "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop(20 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := procs.WaitHTTP(ctx, srv, url+"/readyz", time.Minute); err != nil {
		t.Fatal(err)
	}

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
